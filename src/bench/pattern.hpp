#pragma once
// Data checks for collectives. Rank r fills element j of its input with pattern_value(r, j), a
// small integer in [-2, 2] from a hash of (r, j), so every rank's data differs and every sum over
// ranks is exact in float, half and bfloat16 for up to 128 ranks. The expected output of an
// operation is described as segments: "these `count` output elements equal rank src's input
// from src_offset on" or, with src_rank = kAllRanks, "the sum over all ranks of that".
#include <cstddef>
#include <cstdint>

#include "core/numeric.hpp"
#include "comm/communicator.hpp"

#if defined(__CUDACC__)
#define SXB_HOST_DEVICE __host__ __device__
#else
#define SXB_HOST_DEVICE
#endif

namespace sxb {

inline constexpr int kAllRanks = -1;

SXB_HOST_DEVICE inline int pattern_value(int rank, uint64_t index) {
  uint64_t x = index * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(rank + 1) * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return static_cast<int>(x % 5u) - 2;
}

SXB_HOST_DEVICE inline float pattern_expected(int src_rank, int nranks, uint64_t index) {
  if (src_rank != kAllRanks) return static_cast<float>(pattern_value(src_rank, index));
  int sum = 0;
  for (int r = 0; r < nranks; ++r) sum += pattern_value(r, index);
  return static_cast<float>(sum);
}

// Largest |error| accepted: sums of integers are exact while |sum| <= 2*nranks fits the type's
// mantissa; beyond that a relative error of one ulp-ish is allowed.
SXB_HOST_DEVICE inline float pattern_tolerance(DataType t, int nranks, float expected) {
  const float limit = t == DataType::bf16 ? 256.0f : (t == DataType::f16 ? 2048.0f : 16777216.0f);
  if (2.0f * static_cast<float>(nranks) <= limit) return 0.0f;
  const float rel = t == DataType::bf16 ? 1.0f / 64 : (t == DataType::f16 ? 1.0f / 512 : 1e-6f);
  return rel * (expected < 0 ? -expected : expected) + rel;
}

// Fills count elements of buf with pattern_value(rank, index_offset + i).
void fill_pattern(MemorySpace space, void* buf, size_t count, DataType t, int rank,
                  uint64_t index_offset);
// Sets every byte of buf to 0xFF (a NaN in float, half and bfloat16) so unwritten output shows.
void poison(MemorySpace space, void* buf, size_t bytes);
// Number of the count elements of buf that differ from pattern_expected(src_rank, nranks,
// src_offset + i) by more than the tolerance (NaN always counts).
uint64_t count_mismatches(MemorySpace space, const void* buf, size_t count, DataType t,
                          int src_rank, int nranks, uint64_t src_offset);

#ifdef SXB_HAVE_CUDA
void fill_pattern_cuda(void* buf, size_t count, DataType t, int rank, uint64_t index_offset);
void poison_cuda(void* buf, size_t bytes);
uint64_t count_mismatches_cuda(const void* buf, size_t count, DataType t, int src_rank,
                               int nranks, uint64_t src_offset);
#endif

}  // namespace sxb
