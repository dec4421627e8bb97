#pragma once
// Launchers of the kernels behind `sxbench compute` (compute_kernels.cu). CUDA builds only.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sxb {

enum class FillType { f32, f16, bf16, fp8_e4m3 };

// Element i gets a value of magnitude in [1/8, 1] with a random sign, from a hash of
// (seed, i): never zero, exactly representable in every FillType's range.
void launch_fill_random(void* buf, size_t count, FillType type, uint64_t seed, cudaStream_t s);

// Memory kernels over 16-byte vectors; `vectors` = bytes / 16. `blocks` x 256 threads, each
// thread keeping four independent 16-byte accesses in flight.
void launch_copy16(const void* src, void* dst, size_t vectors, int blocks, cudaStream_t s);
// Reads every vector and folds it into a value that is stored to *sink only if it equals an
// impossible constant, so the loads cannot be removed.
void launch_read16(const void* src, size_t vectors, unsigned* sink, int blocks, cudaStream_t s);
void launch_write16(void* dst, size_t vectors, int blocks, cudaStream_t s);

// One thread follows `loads` dependent offsets through `chain` (each element holds the index of
// the next), writing the final index to *sink.
void launch_pointer_chase(const uint64_t* chain, int loads, uint64_t* sink, cudaStream_t s);

}  // namespace sxb
