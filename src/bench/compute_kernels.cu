// Kernels of `sxbench compute`: random operand fill, HBM copy/read/write over 16-byte vectors,
// and a single-thread pointer chase for latency.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <string>

#include "bench/compute_kernels.hpp"
#include "core/error.hpp"
#include "platform/cuda_check.hpp"

namespace sxb {

namespace {

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

template <int U>
__global__ void copy16_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n) {
  const size_t tile = size_t(blockDim.x) * U;
  for (size_t base = blockIdx.x * tile + threadIdx.x; base < n; base += size_t(gridDim.x) * tile) {
    uint4 v[U];
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const size_t i = base + size_t(j) * blockDim.x;
      if (i < n) v[j] = src[i];
    }
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const size_t i = base + size_t(j) * blockDim.x;
      if (i < n) dst[i] = v[j];
    }
  }
}

template <int U>
__global__ void read16_kernel(const uint4* __restrict__ src, size_t n, unsigned* sink) {
  const size_t tile = size_t(blockDim.x) * U;
  unsigned acc = 0;
  for (size_t base = blockIdx.x * tile + threadIdx.x; base < n; base += size_t(gridDim.x) * tile) {
    uint4 v[U];
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const size_t i = base + size_t(j) * blockDim.x;
      v[j] = i < n ? src[i] : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int j = 0; j < U; ++j) acc ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;
}

template <int U>
__global__ void write16_kernel(uint4* __restrict__ dst, size_t n) {
  const size_t tile = size_t(blockDim.x) * U;
  const unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
  const uint4 v = make_uint4(t, t ^ 0x55555555u, t ^ 0xAAAAAAAAu, ~t);
  for (size_t base = blockIdx.x * tile + threadIdx.x; base < n; base += size_t(gridDim.x) * tile) {
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const size_t i = base + size_t(j) * blockDim.x;
      if (i < n) dst[i] = v;
    }
  }
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

std::string MemKernelShape::describe(size_t vectors) const {
  return std::to_string(threads) + " threads x " + std::to_string(unroll) + " 16-byte vectors, " +
         std::to_string(grid(vectors)) + " blocks";
}

unsigned MemKernelShape::grid(size_t vectors) const {
  const size_t tile = size_t(threads) * unroll;
  const size_t tiles = (vectors + tile - 1) / tile;
  const size_t g = blocks > 0 ? std::min<size_t>(size_t(blocks), tiles) : tiles;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(g, 0x7FFFFFFF)));
}

std::vector<MemKernelShape> mem_kernel_shapes(int sm_count) {
  return {{256, 4, 0}, {256, 8, 0}, {512, 4, 0}, {256, 8, 8 * sm_count}};
}

void launch_copy16(const void* src, void* dst, size_t vectors, const MemKernelShape& shape,
                   cudaStream_t s) {
  const auto* in = static_cast<const uint4*>(src);
  auto* out = static_cast<uint4*>(dst);
  if (shape.unroll == 4) {
    copy16_kernel<4><<<shape.grid(vectors), shape.threads, 0, s>>>(in, out, vectors);
  } else {
    copy16_kernel<8><<<shape.grid(vectors), shape.threads, 0, s>>>(in, out, vectors);
  }
  check_launch("copy kernel");
}

void launch_read16(const void* src, size_t vectors, unsigned* sink, const MemKernelShape& shape,
                   cudaStream_t s) {
  const auto* in = static_cast<const uint4*>(src);
  if (shape.unroll == 4) {
    read16_kernel<4><<<shape.grid(vectors), shape.threads, 0, s>>>(in, vectors, sink);
  } else {
    read16_kernel<8><<<shape.grid(vectors), shape.threads, 0, s>>>(in, vectors, sink);
  }
  check_launch("read kernel");
}

void launch_write16(void* dst, size_t vectors, const MemKernelShape& shape, cudaStream_t s) {
  auto* out = static_cast<uint4*>(dst);
  if (shape.unroll == 4) {
    write16_kernel<4><<<shape.grid(vectors), shape.threads, 0, s>>>(out, vectors);
  } else {
    write16_kernel<8><<<shape.grid(vectors), shape.threads, 0, s>>>(out, vectors);
  }
  check_launch("write kernel");
}

void launch_pointer_chase(const uint64_t* chain, int loads, uint64_t* sink, cudaStream_t s) {
  pointer_chase_kernel<<<1, 1, 0, s>>>(chain, loads, sink);
  check_launch("pointer chase kernel");
}

}  // namespace sxb
