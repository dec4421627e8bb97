#pragma once
// Deterministic, platform-independent random streams (SplitMix64), so that weights and synthetic
// data depend only on the seed: every rank, build and machine sees the same values.
#include <cmath>
#include <cstdint>
#include <numbers>

namespace sxb {

// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit counter through a bijective mixer.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n); the modulo bias is below 2^-40 for n < 2^24.
  uint64_t below(uint64_t n) { return next() % n; }

 private:
  uint64_t state_;
};

// Independent stream `stream` of seed `seed`.
inline uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  SplitMix64 mix(seed ^ (stream * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull));
  return mix.next();
}

// Standard normal values by Box-Muller, two per pair of uniforms.
class NormalStream {
 public:
  NormalStream(uint64_t seed, uint64_t stream) : rng_(stream_seed(seed, stream)) {}
  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = rng_.uniform();
    while (u1 <= 0.0) u1 = rng_.uniform();
    const double u2 = rng_.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  SplitMix64 rng_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace sxb
