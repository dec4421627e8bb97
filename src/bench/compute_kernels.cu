// Kernels of `sxbench compute`: random operand fill, HBM copy/read/write over 16-byte vectors,
// and a single-thread pointer chase for latency.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <string>

#include "bench/compute_kernels.hpp"
#include "core/error.hpp"

namespace sxb {

namespace {

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    throw runtime_error(std::string(what) + " launch failed: " + cudaGetErrorString(e));
  }
}

__device__ inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

// |v| = 1/8 + 7/8 * u with u uniform in [0, 1); sign from another bit.
__device__ inline float random_nonzero(uint64_t seed, size_t i) {
  const uint64_t h = mix64(seed * 0x9E3779B97F4A7C15ull + i + 1);
  const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
  const float mag = 0.125f + 0.875f * u;
  return (h & 1) ? -mag : mag;
}

template <typename T>
__device__ inline T convert(float v);
template <>
__device__ inline float convert<float>(float v) {
  return v;
}
template <>
__device__ inline __half convert<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ inline __nv_bfloat16 convert<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ inline __nv_fp8_e4m3 convert<__nv_fp8_e4m3>(float v) {
  return __nv_fp8_e4m3(v);
}

template <typename T>
__global__ void fill_random_kernel(T* buf, size_t count, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    buf[i] = convert<T>(random_nonzero(seed, i));
  }
}

__global__ void copy16_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = src[i];
    const uint4 b = src[i + stride];
    const uint4 c = src[i + 2 * stride];
    const uint4 d = src[i + 3 * stride];
    dst[i] = a;
    dst[i + stride] = b;
    dst[i + 2 * stride] = c;
    dst[i + 3 * stride] = d;
  }
  for (; i < n; i += stride) dst[i] = src[i];
}

__global__ void read16_kernel(const uint4* __restrict__ src, size_t n, unsigned* sink) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  unsigned acc = 0;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = src[i];
    const uint4 b = src[i + stride];
    const uint4 c = src[i + 2 * stride];
    const uint4 d = src[i + 3 * stride];
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w;
    acc ^= c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
  }
  for (; i < n; i += stride) {
    const uint4 a = src[i];
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;
}

__global__ void write16_kernel(uint4* __restrict__ dst, size_t n) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  const unsigned t = static_cast<unsigned>(i);
  const uint4 v = make_uint4(t, t ^ 0x55555555u, t ^ 0xAAAAAAAAu, ~t);
  for (; i + 3 * stride < n; i += 4 * stride) {
    dst[i] = v;
    dst[i + stride] = v;
    dst[i + 2 * stride] = v;
    dst[i + 3 * stride] = v;
  }
  for (; i < n; i += stride) dst[i] = v;
}

__global__ void pointer_chase_kernel(const uint64_t* chain, int loads, uint64_t* sink) {
  uint64_t idx = 0;
  for (int i = 0; i < loads; ++i) {
    // ld.global.cg bypasses L1, so every load goes at least to L2 (the chain defeats L2).
    idx = __ldcg(chain + idx);
  }
  *sink = idx;
}

unsigned fill_grid(size_t count) {
  const size_t blocks = (count + 255) / 256;
  return static_cast<unsigned>(blocks < 8192 ? (blocks ? blocks : 1) : 8192);
}

}  // namespace

void launch_fill_random(void* buf, size_t count, FillType type, uint64_t seed, cudaStream_t s) {
  if (count == 0) return;
  switch (type) {
    case FillType::f32:
      fill_random_kernel<<<fill_grid(count), 256, 0, s>>>(static_cast<float*>(buf), count, seed);
      break;
    case FillType::f16:
      fill_random_kernel<<<fill_grid(count), 256, 0, s>>>(static_cast<__half*>(buf), count, seed);
      break;
    case FillType::bf16:
      fill_random_kernel<<<fill_grid(count), 256, 0, s>>>(static_cast<__nv_bfloat16*>(buf), count,
                                                          seed);
      break;
    case FillType::fp8_e4m3:
      fill_random_kernel<<<fill_grid(count), 256, 0, s>>>(static_cast<__nv_fp8_e4m3*>(buf), count,
                                                          seed);
      break;
  }
  check_launch("random fill kernel");
}

void launch_copy16(const void* src, void* dst, size_t vectors, int blocks, cudaStream_t s) {
  copy16_kernel<<<blocks, 256, 0, s>>>(static_cast<const uint4*>(src), static_cast<uint4*>(dst),
                                       vectors);
  check_launch("copy kernel");
}

void launch_read16(const void* src, size_t vectors, unsigned* sink, int blocks, cudaStream_t s) {
  read16_kernel<<<blocks, 256, 0, s>>>(static_cast<const uint4*>(src), vectors, sink);
  check_launch("read kernel");
}

void launch_write16(void* dst, size_t vectors, int blocks, cudaStream_t s) {
  write16_kernel<<<blocks, 256, 0, s>>>(static_cast<uint4*>(dst), vectors);
  check_launch("write kernel");
}

void launch_pointer_chase(const uint64_t* chain, int loads, uint64_t* sink, cudaStream_t s) {
  pointer_chase_kernel<<<1, 1, 0, s>>>(chain, loads, sink);
  check_launch("pointer chase kernel");
}

}  // namespace sxb
