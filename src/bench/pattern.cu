// Device-side fill and check for collective data validation (see pattern.hpp). Both run over
// grid-stride loops; the check reduces per block before one atomic add per block.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "bench/pattern.hpp"
#include "core/error.hpp"
#include "platform/cuda_check.hpp"

namespace sxb {

namespace {

__device__ float load(const void* p, size_t i, DataType t) {
  switch (t) {
    case DataType::f32: return static_cast<const float*>(p)[i];
    case DataType::f16: return __half2float(static_cast<const __half*>(p)[i]);
    case DataType::bf16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  }
  return 0.0f;
}

__device__ void store(void* p, size_t i, DataType t, float v) {
  switch (t) {
    case DataType::f32: static_cast<float*>(p)[i] = v; break;
    case DataType::f16: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    case DataType::bf16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
  }
}

__global__ void fill_kernel(void* buf, size_t count, DataType t, int rank, uint64_t offset) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    store(buf, i, t, static_cast<float>(pattern_value(rank, offset + i)));
  }
}

__global__ void check_kernel(const void* buf, size_t count, DataType t, int src_rank, int nranks,
                             uint64_t offset, unsigned long long* wrong) {
  unsigned long long local = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    const float got = load(buf, i, t);
    const float want = pattern_expected(src_rank, nranks, offset + i);
    if (!(fabsf(got - want) <= pattern_tolerance(t, nranks, want))) ++local;
  }
  __shared__ unsigned long long block_sum;
  if (threadIdx.x == 0) block_sum = 0;
  __syncthreads();
  if (local) atomicAdd(&block_sum, local);
  __syncthreads();
  if (threadIdx.x == 0 && block_sum) atomicAdd(wrong, block_sum);
}

unsigned grid_for(size_t count) {
  const size_t blocks = (count + 255) / 256;
  return static_cast<unsigned>(blocks < 4096 ? (blocks ? blocks : 1) : 4096);
}

}  // namespace

void fill_pattern_cuda(void* buf, size_t count, DataType t, int rank, uint64_t index_offset) {
  if (count == 0) return;
  fill_kernel<<<grid_for(count), 256>>>(buf, count, t, rank, index_offset);
  check_launch("fill kernel");
  cuda_check(cudaDeviceSynchronize(), "fill kernel");
}

void poison_cuda(void* buf, size_t bytes) {
  cuda_check(cudaMemset(buf, 0xFF, bytes), "cudaMemset");
  cuda_check(cudaDeviceSynchronize(), "cudaMemset");
}

uint64_t count_mismatches_cuda(const void* buf, size_t count, DataType t, int src_rank, int nranks,
                               uint64_t src_offset) {
  if (count == 0) return 0;
  unsigned long long* d_wrong = nullptr;
  cuda_check(cudaMalloc(&d_wrong, sizeof *d_wrong), "cudaMalloc");
  cuda_check(cudaMemset(d_wrong, 0, sizeof *d_wrong), "cudaMemset");
  check_kernel<<<grid_for(count), 256>>>(buf, count, t, src_rank, nranks, src_offset, d_wrong);
  cudaError_t launch = cudaGetLastError();
  unsigned long long wrong = 0;
  cudaError_t copy = cudaMemcpy(&wrong, d_wrong, sizeof wrong, cudaMemcpyDeviceToHost);
  cudaFree(d_wrong);
  cuda_check(launch, "check kernel launch");
  cuda_check(copy, "check kernel");
  return wrong;
}

}  // namespace sxb
