#pragma once
// Launchers of the kernels behind `sxbench compute` (compute_kernels.cu). CUDA builds only.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sxb {

enum class FillType { f32, f16, bf16, fp8_e4m3 };

// Element i gets a value of magnitude in [1/8, 1] with a random sign, from a hash of
// (seed, i): never zero, exactly representable in every FillType's range.
void launch_fill_random(void* buf, size_t count, FillType type, uint64_t seed, cudaStream_t s);

// Launch shape of the memory kernels: a block handles tiles of threads x unroll 16-byte vectors
// (thread t touches vectors t, t + threads, ...: each load instruction is coalesced across the
// warp, and all `unroll` loads are issued before the first store); blocks loop over tiles.
struct MemKernelShape {
  int threads = 256;
  int unroll = 8;  // 4 or 8
  int blocks = 0;  // 0: one block per tile
  std::string describe(size_t vectors) const;
  unsigned grid(size_t vectors) const;
};
// Candidate shapes that time_hbm chooses from (by measurement), for a GPU with sm_count SMs.
std::vector<MemKernelShape> mem_kernel_shapes(int sm_count);

// Memory kernels over 16-byte vectors; `vectors` = bytes / 16.
void launch_copy16(const void* src, void* dst, size_t vectors, const MemKernelShape& shape,
                   cudaStream_t s);
// Reads every vector and folds it into a value that is stored to *sink only if it equals an
// impossible constant, so the loads cannot be removed.
void launch_read16(const void* src, size_t vectors, unsigned* sink, const MemKernelShape& shape,
                   cudaStream_t s);
void launch_write16(void* dst, size_t vectors, const MemKernelShape& shape, cudaStream_t s);

// One thread follows `loads` dependent offsets through `chain` (each element holds the index of
// the next), writing the final index to *sink.
void launch_pointer_chase(const uint64_t* chain, int loads, uint64_t* sink, cudaStream_t s);

}  // namespace sxb
