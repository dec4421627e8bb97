#include "bench/pattern.hpp"

#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace sxb {

#ifndef SXB_HAVE_CUDA
namespace {
[[noreturn]] void no_cuda() {
  throw environment_error("GPU buffers need a CUDA build of sxbench");
}
}  // namespace
#endif

void fill_pattern(MemorySpace space, void* buf, size_t count, DataType t, int rank,
                  uint64_t index_offset) {
  if (space == MemorySpace::cuda) {
#ifdef SXB_HAVE_CUDA
    return fill_pattern_cuda(buf, count, t, rank, index_offset);
#else
    no_cuda();
#endif
  }
  for (size_t i = 0; i < count; ++i) {
    store_from_float(buf, i, t, static_cast<float>(pattern_value(rank, index_offset + i)));
  }
}

void poison(MemorySpace space, void* buf, size_t bytes) {
  if (space == MemorySpace::cuda) {
#ifdef SXB_HAVE_CUDA
    return poison_cuda(buf, bytes);
#else
    no_cuda();
#endif
  }
  std::memset(buf, 0xFF, bytes);
}

uint64_t count_mismatches(MemorySpace space, const void* buf, size_t count, DataType t,
                          int src_rank, int nranks, uint64_t src_offset) {
  if (space == MemorySpace::cuda) {
#ifdef SXB_HAVE_CUDA
    return count_mismatches_cuda(buf, count, t, src_rank, nranks, src_offset);
#else
    no_cuda();
#endif
  }
  uint64_t wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    const float got = load_as_float(buf, i, t);
    const float want = pattern_expected(src_rank, nranks, src_offset + i);
    if (!(std::fabs(got - want) <= pattern_tolerance(t, nranks, want))) ++wrong;
  }
  return wrong;
}

}  // namespace sxb
