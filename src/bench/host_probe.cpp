#include "bench/host_probe.hpp"

#include <time.h>

#include <cstring>
#include <random>

#include "core/error.hpp"

namespace sxb {

namespace {

// This thread's CPU time: time the rank spends preempted by other processes on a shared host
// does not count, while a slow or throttled core (more CPU time for the same work) still does.
double now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) * 1e-3;
}

void check_counts(int warmup, int iters, int repeat) {
  if (warmup < 0 || iters < 1 || repeat < 1) {
    throw usage_error("host probe: warm-up >= 0, iterations >= 1 and repeat >= 1 are needed");
  }
}

}  // namespace

std::vector<double> time_host_gemm_us(int n, int warmup, int iters, int repeat) {
  check_counts(warmup, iters, repeat);
  if (n < 1 || n > 4096) throw usage_error("host probe: matrix size must lie in 1..4096");
  const size_t nn = size_t(n) * size_t(n);
  std::vector<float> a(nn), b(nn), c(nn);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& x : a) x = dist(rng);
  for (auto& x : b) x = dist(rng);
  // i-k-j order: the inner loop streams rows of B and C, which the compiler vectorises.
  auto product = [&] {
    std::fill(c.begin(), c.end(), 0.0f);
    for (int i = 0; i < n; ++i) {
      float* ci = c.data() + size_t(i) * n;
      for (int k = 0; k < n; ++k) {
        const float aik = a[size_t(i) * n + k];
        const float* bk = b.data() + size_t(k) * n;
        for (int j = 0; j < n; ++j) ci[j] += aik * bk[j];
      }
    }
  };
  std::vector<double> times;
  volatile float sink = 0;
  for (int it = 0; it < warmup + iters; ++it) {
    const double t0 = now_us();
    for (int r = 0; r < repeat; ++r) product();
    const double t1 = now_us();
    sink = sink + c[nn / 2];
    if (it >= warmup) times.push_back(t1 - t0);
  }
  return times;
}

std::vector<double> time_host_memcpy_us(uint64_t bytes, int warmup, int iters, int repeat) {
  check_counts(warmup, iters, repeat);
  if (bytes < 4096 || bytes > (uint64_t(16) << 30)) {
    throw usage_error("host probe: copy size must lie in 4 KiB..16 GiB");
  }
  std::vector<unsigned char> src(bytes), dst(bytes);
  for (size_t i = 0; i < src.size(); i += 4096) src[i] = static_cast<unsigned char>(i / 4096);
  std::memset(dst.data(), 1, dst.size());  // touch every page before timing
  std::vector<double> times;
  volatile unsigned char sink = 0;
  for (int it = 0; it < warmup + iters; ++it) {
    const double t0 = now_us();
    for (int r = 0; r < repeat; ++r) {
      std::memcpy(dst.data(), src.data(), src.size());
      sink = sink + dst[size_t(r) % dst.size()];
    }
    const double t1 = now_us();
    if (it >= warmup) times.push_back(t1 - t0);
  }
  return times;
}

}  // namespace sxb
