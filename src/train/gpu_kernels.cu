// Elementwise, row and optimizer kernels of the CUDA training engine. The math and the tensor
// shapes of each operator are stated at its declaration in train/gpu_ops.hpp; the comments here
// state how a kernel maps the work onto threads. Layouts: row-major, N = B*T token rows, bf16
// activations (8 per 16-byte vector: rows whose width is a multiple of 8 are read as uint4),
// fp32 parameter gradients and optimizer state. Memory-bound code: 16-byte loads where rows
// allow it, fp32 arithmetic, one pass over each tensor.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "platform/cuda_check.hpp"
#include "train/gpu_ops.hpp"
#include "train/random.hpp"

namespace sxb::gpu {

int sm_count() {
  static int count = [] {
    int dev = 0, n = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
    return n > 0 ? n : 1;
  }();
  return count;
}

namespace {

constexpr int kWarp = 32;

unsigned blocks_for(int64_t work, int threads) {
  const int64_t b = (work + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

// 8 bf16 <-> 8 floats through one 16-byte word.
__device__ __forceinline__ void unpack8(const uint4& raw, float (&f)[8]) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 t = __bfloat1622float2(h[i]);
    f[2 * i] = t.x;
    f[2 * i + 1] = t.y;
  }
}
__device__ __forceinline__ uint4 pack8(const float (&f)[8]) {
  uint4 raw;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return raw;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of kThreads threads; every thread gets the result. `red` holds one slot per
// warp; the trailing barrier lets the caller reuse it at once.
template <int kThreads>
__device__ __forceinline__ float block_sum(float v, float* red) {
  v = warp_sum(v);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float total = 0;
#pragma unroll
  for (int w = 0; w < kThreads / kWarp; ++w) total += red[w];
  __syncthreads();
  return total;
}

// ---- embedding -----------------------------------------------------------------------------
// Thread i = one 16-byte vector (8 channels) of one token row: n = i / (C/8), vector v = i % (C/8).
// out (N, C), wte (V, C) bf16; dwte (V, C) fp32.

// out[n, 8v..8v+8) = wte[tokens[n], 8v..8v+8).
__global__ void embedding_forward_kernel(bf16* out, const int32_t* tokens, const bf16* wte,
                                         int64_t N, int64_t vec_per_row) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * vec_per_row) return;
  const int64_t n = i / vec_per_row, v = i % vec_per_row;
  const uint4* src = reinterpret_cast<const uint4*>(wte) + int64_t(tokens[n]) * vec_per_row + v;
  reinterpret_cast<uint4*>(out)[i] = *src;
}

// dwte[tokens[n], 8v..8v+8) += dout[n, 8v..8v+8), as two float4 atomics on sm_90 (rows of
// tokens that repeat in the batch add up in any order).
__global__ void embedding_backward_kernel(float* dwte, const bf16* dout, const int32_t* tokens,
                                          int64_t N, int64_t vec_per_row) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * vec_per_row) return;
  const int64_t n = i / vec_per_row, v = i % vec_per_row;
  float f[8];
  unpack8(reinterpret_cast<const uint4*>(dout)[i], f);
  float* dst = dwte + (int64_t(tokens[n]) * vec_per_row + v) * 8;
#if __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float4*>(dst), make_float4(f[0], f[1], f[2], f[3]));
  atomicAdd(reinterpret_cast<float4*>(dst + 4), make_float4(f[4], f[5], f[6], f[7]));
#else
  for (int j = 0; j < 8; ++j) atomicAdd(dst + j, f[j]);
#endif
}

// ---- RMSNorm -------------------------------------------------------------------------------
// Forward: one warp per row (rows in turn, grid-stride over warps); lane l owns the 8-element
// vectors l, l + 32, ... of the row, at most kSlots of them (C <= 32 * 8 * kSlots). No block
// barriers: the row's reduction is a warp shuffle. The backward (below) is column-major per block
// so that the weight gradient, a column sum over rows, comes out of the same pass.

constexpr int kNormThreads = 256;  // 8 rows in flight per block
constexpr int kRowsPerWarpStep = kNormThreads / kWarp;

// rstd[n] = 1/sqrt(mean(x[n,:]^2) + eps), out[n,:] = x[n,:] * rstd[n] * w. x, out (N, C) bf16,
// w (C) bf16, rstd (N) fp32.
template <int kSlots>
__global__ void __launch_bounds__(kNormThreads)
    rmsnorm_forward_kernel(bf16* __restrict__ out, float* __restrict__ rstd,
                           const bf16* __restrict__ x, const bf16* __restrict__ w, int64_t N, int C,
                           float eps) {
  const int nvec = C / 8, lane = threadIdx.x % kWarp;
  const int64_t warp0 = int64_t(blockIdx.x) * kRowsPerWarpStep + threadIdx.x / kWarp;
  const int64_t warps = int64_t(gridDim.x) * kRowsPerWarpStep;
  for (int64_t n = warp0; n < N; n += warps) {
    const uint4* xr = reinterpret_cast<const uint4*>(x + n * C);
    uint4 xraw[kSlots];
    float ss = 0;
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
      const int v = lane + k * kWarp;
      if (v < nvec) {
        xraw[k] = xr[v];
        float f[8];
        unpack8(xraw[k], f);
#pragma unroll
        for (int i = 0; i < 8; ++i) ss += f[i] * f[i];
      }
    }
    ss = warp_sum(ss);
    const float r = rsqrtf(ss / float(C) + eps);
    if (lane == 0) rstd[n] = r;
    uint4* orow = reinterpret_cast<uint4*>(out + n * C);
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
      const int v = lane + k * kWarp;
      if (v < nvec) {
        float f[8], g[8];
        unpack8(xraw[k], f);
        unpack8(reinterpret_cast<const uint4*>(w)[v], g);
#pragma unroll
        for (int i = 0; i < 8; ++i) f[i] = f[i] * r * g[i];
        orow[v] = pack8(f);
      }
    }
  }
}

// The backward in one pass over the activations: block b takes rows [b R, b R + R), kBatch =
// 8 / kVecs at a time; thread t owns the 8-column vectors t, t + 256, ... (kVecs of them,
// C <= 2048 kVecs). For each batch: x, dout and the residual of its rows are loaded at once (the residual into
// registers, so no load waits behind a store to dx, which may alias it); the row sums
// gx = sum_c g x (g = dout * w) go through one block reduction for the whole batch; then
// dx = residual + rstd * g - x * rstd^3 * gx / C (x and dout read again, from cache), while
// dw[c] += dout * x * rstd accumulates in the thread's registers; each block adds its dw sums
// into dw once (fp32 atomics). So x, dout and the residual cross the memory bus once.
constexpr int kNormBwdThreads = 256;
constexpr int kNormBwdRowVecs = 8;  // rows x column vectors per thread in one batch

template <int kVecs>
__global__ void __launch_bounds__(kNormBwdThreads, 2)
    rmsnorm_backward_kernel(bf16* dx, float* __restrict__ dw, const bf16* __restrict__ dout,
                            const bf16* __restrict__ x, const bf16* __restrict__ w,
                            const float* __restrict__ rstd, const bf16* residual, int64_t N, int C,
                            int64_t rows_per_block) {
  constexpr int kBatch = kNormBwdRowVecs / kVecs;
  constexpr int kWarps = kNormBwdThreads / kWarp;
  __shared__ float red[kBatch][kWarps];
  const int nvec = C / 8, warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  float wf[kVecs][8], acc[kVecs][8];
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    const int v = threadIdx.x + k * kNormBwdThreads;
    if (v < nvec) {
      unpack8(reinterpret_cast<const uint4*>(w)[v], wf[k]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) wf[k][i] = 0;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[k][i] = 0;
  }
  const int64_t n_begin = int64_t(blockIdx.x) * rows_per_block;
  const int64_t n_end = n_begin + rows_per_block < N ? n_begin + rows_per_block : N;
  for (int64_t n0 = n_begin; n0 < n_end; n0 += kBatch) {
    float part[kBatch];
    uint4 rraw[kBatch][kVecs];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      part[b] = 0;
      const int64_t n = n0 + b;
#pragma unroll
      for (int k = 0; k < kVecs; ++k) {
        const int v = threadIdx.x + k * kNormBwdThreads;
        rraw[b][k] = make_uint4(0, 0, 0, 0);
        if (n >= n_end || v >= nvec) continue;
        if (residual) rraw[b][k] = reinterpret_cast<const uint4*>(residual + n * C)[v];
        float xf[8], gf[8];
        unpack8(reinterpret_cast<const uint4*>(x + n * C)[v], xf);
        unpack8(reinterpret_cast<const uint4*>(dout + n * C)[v], gf);
#pragma unroll
        for (int i = 0; i < 8; ++i) part[b] += gf[i] * wf[k][i] * xf[i];
      }
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const float s = warp_sum(part[b]);
      if (lane == 0) red[b][warp] = s;
    }
    __syncthreads();
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int64_t n = n0 + b;
      if (n >= n_end) continue;
      float gx = 0;
#pragma unroll
      for (int j = 0; j < kWarps; ++j) gx += red[b][j];
      const float r = rstd[n];
      const float kcoef = r * r * r * gx / float(C);
#pragma unroll
      for (int k = 0; k < kVecs; ++k) {
        const int v = threadIdx.x + k * kNormBwdThreads;
        if (v >= nvec) continue;
        float xf[8], gf[8], res[8];
        unpack8(reinterpret_cast<const uint4*>(x + n * C)[v], xf);
        unpack8(reinterpret_cast<const uint4*>(dout + n * C)[v], gf);
        unpack8(rraw[b][k], res);  // zeros without a residual
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          res[i] += r * gf[i] * wf[k][i] - xf[i] * kcoef;
          acc[k][i] += gf[i] * xf[i] * r;
        }
        reinterpret_cast<uint4*>(dx + n * C)[v] = pack8(res);
      }
    }
    __syncthreads();  // red is written again by the next batch
  }
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    const int v = threadIdx.x + k * kNormBwdThreads;
    if (v >= nvec || n_begin >= n_end) continue;
#pragma unroll
    for (int i = 0; i < 8; ++i) atomicAdd(dw + v * 8 + i, acc[k][i]);
  }
}

int norm_slots(int64_t C) {
  if (C % 8 != 0) return 0;
  const int64_t nvec = C / 8;
  for (int s : {1, 2, 4, 8, 16, 32}) {
    if (nvec <= int64_t(kWarp) * s) return s;
  }
  return 0;
}

unsigned norm_grid(int64_t N) {
  const int64_t blocks = (N + kRowsPerWarpStep - 1) / kRowsPerWarpStep;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, sm_count() * 16)));
}

// ---- rotary embedding ----------------------------------------------------------------------
// One block per token row (grid-stride); one thread per 8 consecutive channels of a head's first
// half, which it rotates together with the 8 partners hd/2 further: 16-byte loads and stores,
// the position read once per row.

template <bool kInverse, typename Src>
__global__ void rope_kernel(bf16* dst, int64_t dst_stride, int64_t dst_col0, const Src* src,
                            int64_t src_stride, int64_t src_col0, const float* __restrict__ cos_t,
                            const float* __restrict__ sin_t, int64_t N, int64_t T, int heads,
                            int hd) {
  const int half = hd / 2, vec = half / 8, per_row = heads * vec;
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const int64_t t = n % T;
    for (int i = threadIdx.x; i < per_row; i += blockDim.x) {
      const int h = i / vec, c = (i % vec) * 8;
      const Src* s0 = src + n * src_stride + src_col0 + int64_t(h) * hd + c;
      bf16* d0 = dst + n * dst_stride + dst_col0 + int64_t(h) * hd + c;
      float a[8], b[8];
      if constexpr (sizeof(Src) == 4) {
        const float4* pa = reinterpret_cast<const float4*>(s0);
        const float4* pb = reinterpret_cast<const float4*>(s0 + half);
        const float4 a0 = pa[0], a1 = pa[1], b0 = pb[0], b1 = pb[1];
        a[0] = a0.x, a[1] = a0.y, a[2] = a0.z, a[3] = a0.w;
        a[4] = a1.x, a[5] = a1.y, a[6] = a1.z, a[7] = a1.w;
        b[0] = b0.x, b[1] = b0.y, b[2] = b0.z, b[3] = b0.w;
        b[4] = b1.x, b[5] = b1.y, b[6] = b1.z, b[7] = b1.w;
      } else {
        unpack8(*reinterpret_cast<const uint4*>(s0), a);
        unpack8(*reinterpret_cast<const uint4*>(s0 + half), b);
      }
      const float* cr = cos_t + t * half + c;
      const float* sr = sin_t + t * half + c;
      float ra[8], rb[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float cs = cr[j], sn = sr[j];
        if constexpr (kInverse) {
          ra[j] = a[j] * cs + b[j] * sn;
          rb[j] = b[j] * cs - a[j] * sn;
        } else {
          ra[j] = a[j] * cs - b[j] * sn;
          rb[j] = b[j] * cs + a[j] * sn;
        }
      }
      *reinterpret_cast<uint4*>(d0) = pack8(ra);
      *reinterpret_cast<uint4*>(d0 + half) = pack8(rb);
    }
  }
}

template <bool kInverse, typename Src>
void launch_rope(bf16* dst, int64_t dst_stride, int64_t dst_col0, const Src* src,
                 int64_t src_stride, int64_t src_col0, const float* cos_t, const float* sin_t,
                 int64_t N, int64_t T, int64_t heads, int64_t hd, cudaStream_t stream) {
  const int per_row = int(heads * (hd / 16));
  const int threads = std::min(256, ((per_row + 31) / 32) * 32);
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(N, int64_t(sm_count()) * 16));
  rope_kernel<kInverse, Src><<<grid, threads, 0, stream>>>(dst, dst_stride, dst_col0, src,
                                                           src_stride, src_col0, cos_t, sin_t, N, T,
                                                           int(heads), int(hd));
}

// ---- SwiGLU --------------------------------------------------------------------------------
// Thread i = one 8-channel vector v of row n of act (N, F); it reads the gate vector v and the up
// vector F/8 + v of gu's row (N, 2F, gate | up). F a multiple of 8.

__device__ __forceinline__ float sigmoidf_(float x) {
  return 1.0f / (1.0f + __expf(-x));
}

// act = g * sigmoid(g) * u.
__global__ void swiglu_forward_kernel(bf16* act, const bf16* gu, int64_t N, int64_t F) {
  const int64_t vec = F / 8;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * vec) return;
  const int64_t n = i / vec, v = i % vec;
  const uint4* row = reinterpret_cast<const uint4*>(gu + n * 2 * F);
  float g[8], u[8], o[8];
  unpack8(row[v], g);
  unpack8(row[vec + v], u);
#pragma unroll
  for (int j = 0; j < 8; ++j) o[j] = g[j] * sigmoidf_(g[j]) * u[j];
  reinterpret_cast<uint4*>(act)[i] = pack8(o);
}

// With s = sigmoid(g): dgate = dact * u * s * (1 + g (1 - s)) (d silu/dg = s (1 + g (1 - s))),
// dup = dact * g * s; written into dgu's row (N, 2F) in gu's layout.
__global__ void swiglu_backward_kernel(bf16* dgu, const bf16* dact, const bf16* gu, int64_t N,
                                       int64_t F) {
  const int64_t vec = F / 8;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * vec) return;
  const int64_t n = i / vec, v = i % vec;
  const uint4* row = reinterpret_cast<const uint4*>(gu + n * 2 * F);
  uint4* drow = reinterpret_cast<uint4*>(dgu + n * 2 * F);
  float g[8], u[8], d[8], dg[8], du[8];
  unpack8(row[v], g);
  unpack8(row[vec + v], u);
  unpack8(reinterpret_cast<const uint4*>(dact)[i], d);
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float s = sigmoidf_(g[j]);
    dg[j] = d[j] * u[j] * s * (1.0f + g[j] * (1.0f - s));
    du[j] = d[j] * g[j] * s;
  }
  drow[v] = pack8(dg);
  drow[vec + v] = pack8(du);
}

// ---- fused cross-entropy -------------------------------------------------------------------

// One block per row n of logits (N, V) bf16. Pass 1: m = max_j z_j and s = sum_j exp(z_j - m)
// (online: each thread keeps a running pair, rescaling s when m grows; pairs merge across the
// block), lse = m + log(s); loss_sum += lse - z[target]. Pass 2, in place:
// z_j <- dloss * (exp(z_j - lse) - [j == target]). Rows with target < 0 are zeroed.
constexpr int kCeThreads = 256;

__global__ void __launch_bounds__(kCeThreads)
    cross_entropy_kernel(bf16* logits, double* loss_sum, const int32_t* targets, int64_t V,
                         float dloss) {
  __shared__ float red_m[kCeThreads / kWarp], red_s[kCeThreads / kWarp];
  const int64_t n = blockIdx.x;
  bf16* row = logits + n * V;
  const int32_t target = targets[n];
  const bool vec8 = V % 8 == 0;
  if (target < 0) {
    for (int64_t i = threadIdx.x; i < V; i += kCeThreads) row[i] = __float2bfloat16(0.0f);
    return;
  }
  // Pass 1: per-thread running max and sum of exp, merged across the block.
  float m = -INFINITY, s = 0;
  auto absorb = [&](float x) {
    if (x > m) {
      s = s * __expf(m - x) + 1.0f;
      m = x;
    } else {
      s += __expf(x - m);
    }
  };
  if (vec8) {
    for (int64_t v = threadIdx.x; v < V / 8; v += kCeThreads) {
      float f[8];
      unpack8(reinterpret_cast<const uint4*>(row)[v], f);
#pragma unroll
      for (int j = 0; j < 8; ++j) absorb(f[j]);
    }
  } else {
    for (int64_t i = threadIdx.x; i < V; i += kCeThreads) absorb(__bfloat162float(row[i]));
  }
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  float wm = warp_max(m);
  float ws = s * (m == -INFINITY ? 0.0f : __expf(m - wm));
  ws = warp_sum(ws);
  if (lane == 0) {
    red_m[warp] = wm;
    red_s[warp] = ws;
  }
  __syncthreads();
  float bm = -INFINITY;
  for (int w = 0; w < kCeThreads / kWarp; ++w) bm = fmaxf(bm, red_m[w]);
  float bs = 0;
  for (int w = 0; w < kCeThreads / kWarp; ++w) bs += red_s[w] * __expf(red_m[w] - bm);
  const float lse = bm + logf(bs);
  const float target_logit = __bfloat162float(row[target]);
  __syncthreads();  // every thread has read row[target] before pass 2 overwrites it
  if (threadIdx.x == 0) atomicAdd(loss_sum, double(lse - target_logit));
  // Pass 2: gradient in place.
  if (vec8) {
    for (int64_t v = threadIdx.x; v < V / 8; v += kCeThreads) {
      float f[8];
      unpack8(reinterpret_cast<const uint4*>(row)[v], f);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float p = __expf(f[j] - lse);
        f[j] = dloss * (p - (v * 8 + j == target ? 1.0f : 0.0f));
      }
      reinterpret_cast<uint4*>(row)[v] = pack8(f);
    }
  } else {
    for (int64_t i = threadIdx.x; i < V; i += kCeThreads) {
      const float p = __expf(__bfloat162float(row[i]) - lse);
      row[i] = __float2bfloat16(dloss * (p - (i == target ? 1.0f : 0.0f)));
    }
  }
}

// ---- optimizer -----------------------------------------------------------------------------

constexpr int kReduceThreads = 256;

// Four consecutive gradient elements (index i of the array viewed in groups of four) as fp32.
__device__ __forceinline__ float4 load4(const float* g, int64_t i) {
  return reinterpret_cast<const float4*>(g)[i];
}
__device__ __forceinline__ float4 load4(const bf16* g, int64_t i) {
  const uint2 raw = reinterpret_cast<const uint2*>(g)[i];
  const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
  const float2 hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
  return make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ float load1(const float* g, int64_t i) {
  return g[i];
}
__device__ __forceinline__ float load1(const bf16* g, int64_t i) {
  return __bfloat162float(g[i]);
}

// *out += sum_i g[i]^2 over g[0..n): grid-stride over float4 groups, the n % 4 tail in block 0;
// each thread accumulates in double, the block's sum is one double atomicAdd.
template <typename G>
__global__ void __launch_bounds__(kReduceThreads)
    sum_squares_kernel(double* out, const G* g, int64_t n) {
  __shared__ double red[kReduceThreads / kWarp];
  double acc = 0;
  const int64_t n4 = n / 4;
  const int64_t stride = int64_t(gridDim.x) * kReduceThreads;
  for (int64_t i = int64_t(blockIdx.x) * kReduceThreads + threadIdx.x; i < n4; i += stride) {
    const float4 v = load4(g, i);
    acc += double(v.x) * v.x + double(v.y) * v.y + double(v.z) * v.z + double(v.w) * v.w;
  }
  if (blockIdx.x == 0) {
    for (int64_t i = n4 * 4 + threadIdx.x; i < n; i += kReduceThreads) {
      const double x = load1(g, i);
      acc += x * x;
    }
  }
  acc = warp_sum(acc);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  if (lane == 0) red[warp] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int w = 0; w < kReduceThreads / kWarp; ++w) total += red[w];
    atomicAdd(out, total);
  }
}

// One thread: norm = sqrt(*sumsq), coef = max_norm / (norm + 1e-6) when norm exceeds max_norm
// (> 0), else 1.
__global__ void clip_coefficient_kernel(float* coef, double* norm_out, const double* sumsq,
                                        double max_norm) {
  const double norm = sqrt(*sumsq);
  *norm_out = norm;
  *coef = (max_norm > 0 && norm > max_norm) ? float(max_norm / (norm + 1e-6)) : 1.0f;
}

constexpr int kAdamThreads = 256;

// The AdamW update of one element (train/optimizer.hpp's math, bias corrections folded into
// h.step_size = lr / (1 - b1^t) and h.inv_sqrt_bc2 = 1 / sqrt(1 - b2^t)); g is already clipped.
__device__ __forceinline__ float adam_one(float& p, float& m, float& v, float g, float wd,
                                          const AdamHyper& h) {
  if (h.decoupled) {
    p -= h.lr * wd * p;
  } else {
    g += wd * p;
  }
  m = h.beta1 * m + (1.0f - h.beta1) * g;
  v = h.beta2 * v + (1.0f - h.beta2) * g * g;
  p -= h.step_size * m / (sqrtf(v) * h.inv_sqrt_bc2 + h.eps);
  return p;
}

__device__ __forceinline__ float join_master(uint16_t w, uint16_t lo) {
  return __uint_as_float(join_master_bits(w, lo));
}
__device__ __forceinline__ void split_master(float x, uint16_t& w, uint16_t& lo) {
  split_master_bits(__float_as_uint(x), w, lo);
}
// Two halves packed in a 32-bit word (element 2i in the low half) <-> per-element values.
__device__ __forceinline__ uint16_t half_of(uint32_t word, int k) {
  return uint16_t(k ? word >> 16 : word & 0xffffu);
}
__device__ __forceinline__ uint32_t pack_halves(uint16_t a, uint16_t b) {
  return uint32_t(a) | (uint32_t(b) << 16);
}

// The update of one chunk by the kThreads threads of a block.
template <int kThreads, typename G>
__device__ __forceinline__ void adamw_chunk(uint16_t* w, uint16_t* lo, float* m, float* v,
                                            const G* g, float coef, const AdamChunk& c,
                                            int64_t state_shift, int64_t grad_shift,
                                            int64_t weight_shift, const AdamHyper& h) {
  const float wd = c.decay ? h.weight_decay : 0.0f;
  uint16_t* __restrict__ wc = w + (c.offset - weight_shift);
  uint16_t* __restrict__ lc = lo + (c.offset - state_shift);
  float* __restrict__ mc = m + (c.offset - state_shift);
  float* __restrict__ vc = v + (c.offset - state_shift);
  const G* __restrict__ gc = g + (c.offset - grad_shift);
  // Tensor offsets are multiples of 4 elements (tensor sizes are multiples of 8), so the
  // 4-element vectors are aligned, unless a shard starts inside a vector (its start, not a
  // multiple of 4, shifts the state's alignment against the weights'): such chunks run scalar.
  const bool vec = ((c.offset | (c.offset - state_shift) | (c.offset - grad_shift) |
                     (c.offset - weight_shift)) & 3) == 0;
  const int n4 = vec ? c.size / 4 : 0;
#pragma unroll 2
  for (int i = threadIdx.x; i < n4; i += kThreads) {
    const uint2 wv = reinterpret_cast<const uint2*>(wc)[i];
    const uint2 lv = reinterpret_cast<const uint2*>(lc)[i];
    float4 mv = reinterpret_cast<float4*>(mc)[i];
    float4 vv = reinterpret_cast<float4*>(vc)[i];
    const float4 gv = load4(gc, i);
    float p[4] = {join_master(half_of(wv.x, 0), half_of(lv.x, 0)),
                  join_master(half_of(wv.x, 1), half_of(lv.x, 1)),
                  join_master(half_of(wv.y, 0), half_of(lv.y, 0)),
                  join_master(half_of(wv.y, 1), half_of(lv.y, 1))};
    adam_one(p[0], mv.x, vv.x, gv.x * coef, wd, h);
    adam_one(p[1], mv.y, vv.y, gv.y * coef, wd, h);
    adam_one(p[2], mv.z, vv.z, gv.z * coef, wd, h);
    adam_one(p[3], mv.w, vv.w, gv.w * coef, wd, h);
    uint16_t ow[4], ol[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) split_master(p[k], ow[k], ol[k]);
    reinterpret_cast<float4*>(mc)[i] = mv;
    reinterpret_cast<float4*>(vc)[i] = vv;
    reinterpret_cast<uint2*>(wc)[i] = make_uint2(pack_halves(ow[0], ow[1]), pack_halves(ow[2], ow[3]));
    reinterpret_cast<uint2*>(lc)[i] = make_uint2(pack_halves(ol[0], ol[1]), pack_halves(ol[2], ol[3]));
  }
  for (int i = n4 * 4 + threadIdx.x; i < c.size; i += kThreads) {
    float pi = join_master(wc[i], lc[i]), mi = mc[i], vi = vc[i];
    adam_one(pi, mi, vi, load1(gc, i) * coef, wd, h);
    split_master(pi, wc[i], lc[i]);
    mc[i] = mi;
    vc[i] = vi;
  }
}

// A multi-tensor launch over the chunk table: block b takes chunks b, b + grid, ... (one each
// when the grid has a block per chunk); its kThreads threads stride over a chunk's elements in
// groups of 4. Per element: p = join(w, lo) (fp32 master), adam_one with g * clip, (w, lo) =
// split(p). Element `offset + i` of the flat layout is at w[offset + i - weight_shift],
// lo/m/v[... - state_shift], g[... - grad_shift] (shards start at their shift).
constexpr int kAdamWideThreads = 1024;  // the blocks of a launch confined to a few SMs

template <int kThreads, typename G>
__global__ void __launch_bounds__(kThreads)
    adamw_kernel(uint16_t* w, uint16_t* lo, float* m, float* v, const G* g, const float* clip,
                 const AdamChunk* chunks, int64_t n_chunks, int64_t state_shift,
                 int64_t grad_shift, int64_t weight_shift, AdamHyper h) {
  const float coef = *clip;
  for (int64_t ci = blockIdx.x; ci < n_chunks; ci += gridDim.x) {
    adamw_chunk<kThreads>(w, lo, m, v, g, coef, chunks[ci], state_shift, grad_shift,
                          weight_shift, h);
  }
}

// Sum (mod 2^64) of the 32-bit words: integer addition is associative, so the result does not
// depend on the order of the atomics, and equal buffers give equal sums on every rank.
__global__ void __launch_bounds__(kReduceThreads)
    word_sum_kernel(unsigned long long* out, const uint32_t* w, int64_t n) {
  unsigned long long acc = 0;
  const int64_t stride = int64_t(gridDim.x) * kReduceThreads;
  for (int64_t i = int64_t(blockIdx.x) * kReduceThreads + threadIdx.x; i < n; i += stride) {
    acc += w[i];
  }
#pragma unroll
  for (int off = kWarp / 2; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (threadIdx.x % kWarp == 0) atomicAdd(out, acc);
}

// ---- weights -------------------------------------------------------------------------------

// Call k (0-based) of SplitMix64 seeded with `state`: the state advances by the golden gamma per
// call, so any call's output is computable directly.
__device__ __forceinline__ uint64_t splitmix_at(uint64_t state, uint64_t k) {
  uint64_t z = state + (k + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Low halves: element i of the tensor keeps its low half at lo[i + lo_shift] when
// lo_begin <= i < lo_end (a sharded master holds only its shard's).
// With shard_weights the working copy is sharded the same way (w[i + shift] in range only).
struct LowHalves {
  uint16_t* lo;
  int64_t shift, begin, end;
  bool shard_weights;
  __device__ void store(int64_t i, float x, uint16_t* w) const {
    uint16_t hi = 0, low = 0;
    split_master_bits(__float_as_uint(x), hi, low);
    const bool mine = i >= begin && i < end;
    if (!shard_weights) {
      w[i] = hi;
    } else if (mine) {
      w[i + shift] = hi;
    }
    if (mine) lo[i + shift] = low;
  }
};

// Thread = one pair (2 pair, 2 pair + 1) of the tensor's n elements: x = std_dev * z with z
// from one Box-Muller draw, stored split into w (bf16 bits) and the low halves.
__global__ void init_normal_kernel(uint16_t* w, LowHalves lo, int64_t n, uint64_t state,
                                   double std_dev) {
  const int64_t pair = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (2 * pair >= n) return;
  // As NormalStream: uniforms 2*pair and 2*pair + 1 give r cos and r sin (Box-Muller). The host
  // stream redraws u1 == 0, which happens with probability 2^-53 per pair.
  const double u1 = double(splitmix_at(state, 2 * pair) >> 11) * 0x1.0p-53;
  const double u2 = double(splitmix_at(state, 2 * pair + 1) >> 11) * 0x1.0p-53;
  const double r = sqrt(-2.0 * log(u1 > 0 ? u1 : 0x1.0p-53));
  double s, c;
  sincos(2.0 * 3.14159265358979323846 * u2, &s, &c);  // the host's 2 * pi * u2, then sin/cos
  lo.store(2 * pair, float(std_dev * (r * c)), w);
  if (2 * pair + 1 < n) lo.store(2 * pair + 1, float(std_dev * (r * s)), w);
}

// Element i = value, stored split as init_normal_kernel's.
__global__ void fill_kernel(uint16_t* w, LowHalves lo, int64_t n, float value) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) lo.store(i, value, w);
}

// Elementwise over n: fp32 master <-> (w, lo), gpu_ops.hpp's split_master_bits/join_master_bits.
__global__ void split_master_kernel(uint16_t* w, uint16_t* lo, const float* src, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) split_master(src[i], w[i], lo[i]);
}

__global__ void join_master_kernel(float* dst, const uint16_t* w, const uint16_t* lo, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = join_master(w[i], lo[i]);
}

// dst[i] = bf16(src[i]), round to nearest even.
__global__ void cast_to_bf16_kernel(bf16* dst, const float* src, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = __float2bfloat16(src[i]);
}

// One thread that stays resident until the GPU's global timer has advanced `ns` nanoseconds.
__global__ void hold_stream_kernel(uint64_t ns) {
  uint64_t start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

void require(bool ok, const std::string& what) {
  if (!ok) throw usage_error(what);
}

}  // namespace

void embedding_forward(bf16* out, const int32_t* tokens, const bf16* wte, int64_t N, int64_t C,
                       cudaStream_t stream) {
  require(C % 8 == 0, "embedding: hidden size must be a multiple of 8");
  const int64_t work = N * (C / 8);
  embedding_forward_kernel<<<blocks_for(work, 256), 256, 0, stream>>>(out, tokens, wte, N, C / 8);
  check_launch("embedding_forward");
}

void embedding_backward(float* dwte, const bf16* dout, const int32_t* tokens, int64_t N, int64_t C,
                        cudaStream_t stream) {
  require(C % 8 == 0, "embedding: hidden size must be a multiple of 8");
  const int64_t work = N * (C / 8);
  embedding_backward_kernel<<<blocks_for(work, 256), 256, 0, stream>>>(dwte, dout, tokens, N,
                                                                       C / 8);
  check_launch("embedding_backward");
}

void rmsnorm_forward(bf16* out, float* rstd, const bf16* x, const bf16* w, int64_t N, int64_t C,
                     float eps, cudaStream_t stream) {
  using Kernel = void (*)(bf16*, float*, const bf16*, const bf16*, int64_t, int, float);
  static constexpr Kernel kBySlots[] = {rmsnorm_forward_kernel<1>,  rmsnorm_forward_kernel<2>,
                                        rmsnorm_forward_kernel<4>,  rmsnorm_forward_kernel<8>,
                                        rmsnorm_forward_kernel<16>, rmsnorm_forward_kernel<32>};
  const int slots = norm_slots(C);
  require(slots > 0, "rmsnorm: hidden size must be a multiple of 8 and at most 8192");
  int index = 0;
  while ((1 << index) < slots) ++index;
  kBySlots[index]<<<norm_grid(N), kNormThreads, 0, stream>>>(out, rstd, x, w, N, int(C), eps);
  check_launch("rmsnorm_forward");
}

void rmsnorm_backward(bf16* dx, float* dw, const bf16* dout, const bf16* x, const bf16* w,
                      const float* rstd, const bf16* residual, int64_t N, int64_t C,
                      cudaStream_t stream) {
  require(norm_slots(C) > 0, "rmsnorm: hidden size must be a multiple of 8 and at most 8192");
  if (N == 0) return;
  const int c = static_cast<int>(C);
  // Column vectors per thread (1, 2 or 4) and batches of 8 / that many rows (the residual's
  // registers: 32 per thread); two blocks per SM, each a whole number of batches.
  const int needed = static_cast<int>((C / 8 + kNormBwdThreads - 1) / kNormBwdThreads);
  const int vecs = needed <= 1 ? 1 : needed <= 2 ? 2 : 4;
  const int batch = kNormBwdRowVecs / vecs;
  const int64_t blocks =
      std::max<int64_t>(1, std::min<int64_t>(2 * int64_t(sm_count()), (N + batch - 1) / batch));
  int64_t rows = (N + blocks - 1) / blocks;
  rows = (rows + batch - 1) / batch * batch;
  const auto grid = static_cast<unsigned>((N + rows - 1) / rows);
  using Kernel = decltype(&rmsnorm_backward_kernel<1>);
  const Kernel kernel = vecs == 1   ? rmsnorm_backward_kernel<1>
                        : vecs == 2 ? rmsnorm_backward_kernel<2>
                                    : rmsnorm_backward_kernel<4>;
  kernel<<<grid, kNormBwdThreads, 0, stream>>>(dx, dw, dout, x, w, rstd, residual, N, c, rows);
  check_launch("rmsnorm_backward");
}

void rope_forward(bf16* x, int64_t row_stride, int64_t col0, const float* cos_table,
                  const float* sin_table, int64_t N, int64_t T, int64_t heads, int64_t hd,
                  cudaStream_t stream) {
  require(hd % 16 == 0, "rope: head_dim must be a multiple of 16");
  launch_rope<false, bf16>(x, row_stride, col0, x, row_stride, col0, cos_table, sin_table, N, T,
                           heads, hd, stream);
  check_launch("rope_forward");
}

void rope_backward(bf16* dx, int64_t row_stride, int64_t col0, const float* cos_table,
                   const float* sin_table, int64_t N, int64_t T, int64_t heads, int64_t hd,
                   cudaStream_t stream) {
  require(hd % 16 == 0, "rope: head_dim must be a multiple of 16");
  launch_rope<true, bf16>(dx, row_stride, col0, dx, row_stride, col0, cos_table, sin_table, N, T,
                          heads, hd, stream);
  check_launch("rope_backward");
}

void rope_backward_f32(bf16* dst, int64_t row_stride, int64_t col0, const float* src,
                       const float* cos_table, const float* sin_table, int64_t N, int64_t T,
                       int64_t heads, int64_t hd, cudaStream_t stream) {
  require(hd % 16 == 0, "rope: head_dim must be a multiple of 16");
  launch_rope<true, float>(dst, row_stride, col0, src, heads * hd, 0, cos_table, sin_table, N, T,
                           heads, hd, stream);
  check_launch("rope_backward_f32");
}

void swiglu_forward(bf16* act, const bf16* gu, int64_t N, int64_t F, cudaStream_t stream) {
  require(F % 8 == 0, "swiglu: intermediate size must be a multiple of 8");
  swiglu_forward_kernel<<<blocks_for(N * F / 8, 256), 256, 0, stream>>>(act, gu, N, F);
  check_launch("swiglu_forward");
}

void swiglu_backward(bf16* dgu, const bf16* dact, const bf16* gu, int64_t N, int64_t F,
                     cudaStream_t stream) {
  require(F % 8 == 0, "swiglu: intermediate size must be a multiple of 8");
  swiglu_backward_kernel<<<blocks_for(N * F / 8, 256), 256, 0, stream>>>(dgu, dact, gu, N, F);
  check_launch("swiglu_backward");
}

void cross_entropy_fused(bf16* logits, double* loss_sum, const int32_t* targets, int64_t N,
                         int64_t V, float dloss, cudaStream_t stream) {
  if (N == 0) return;
  cross_entropy_kernel<<<static_cast<unsigned>(N), kCeThreads, 0, stream>>>(logits, loss_sum,
                                                                            targets, V, dloss);
  check_launch("cross_entropy_fused");
}

template <typename G>
void launch_sum_squares(double* sumsq, const G* g, int64_t n, cudaStream_t stream) {
  const int64_t cap = int64_t(sm_count()) * 8;
  const unsigned grid = static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>(blocks_for(n / 4, kReduceThreads), cap)));
  sum_squares_kernel<<<grid, kReduceThreads, 0, stream>>>(sumsq, g, n);
  check_launch("sum_squares");
}
void sum_squares(double* sumsq, const float* g, int64_t n, cudaStream_t stream) {
  launch_sum_squares(sumsq, g, n, stream);
}
void sum_squares(double* sumsq, const bf16* g, int64_t n, cudaStream_t stream) {
  launch_sum_squares(sumsq, g, n, stream);
}

void clip_coefficient(float* clip_coef, double* norm_out, const double* sumsq, double max_norm,
                      cudaStream_t stream) {
  clip_coefficient_kernel<<<1, 1, 0, stream>>>(clip_coef, norm_out, sumsq, max_norm);
  check_launch("clip_coefficient");
}

template <typename G>
void launch_adamw(bf16* w, uint16_t* lo, float* m, float* v, const G* g, const float* clip_coef,
                  const AdamChunk* chunks, int64_t n_chunks, const AdamHyper& h,
                  cudaStream_t stream, int64_t state_shift, int64_t grad_shift,
                  int64_t weight_shift, int max_blocks) {
  if (n_chunks == 0) return;
  auto* wu = reinterpret_cast<uint16_t*>(w);
  if (max_blocks > 0) {
    const auto grid = static_cast<unsigned>(std::min<int64_t>(n_chunks, max_blocks));
    adamw_kernel<kAdamWideThreads><<<grid, kAdamWideThreads, 0, stream>>>(
        wu, lo, m, v, g, clip_coef, chunks, n_chunks, state_shift, grad_shift, weight_shift, h);
  } else {
    adamw_kernel<kAdamThreads><<<static_cast<unsigned>(n_chunks), kAdamThreads, 0, stream>>>(
        wu, lo, m, v, g, clip_coef, chunks, n_chunks, state_shift, grad_shift, weight_shift, h);
  }
  check_launch("adamw_step");
}
void adamw_step(bf16* w, uint16_t* lo, float* m, float* v, const float* g, const float* clip_coef,
                const AdamChunk* chunks, int64_t n_chunks, const AdamHyper& h,
                cudaStream_t stream, int64_t state_shift, int64_t grad_shift,
                int64_t weight_shift, int max_blocks) {
  launch_adamw(w, lo, m, v, g, clip_coef, chunks, n_chunks, h, stream, state_shift, grad_shift,
               weight_shift, max_blocks);
}
void adamw_step(bf16* w, uint16_t* lo, float* m, float* v, const bf16* g, const float* clip_coef,
                const AdamChunk* chunks, int64_t n_chunks, const AdamHyper& h,
                cudaStream_t stream, int64_t state_shift, int64_t grad_shift,
                int64_t weight_shift, int max_blocks) {
  launch_adamw(w, lo, m, v, g, clip_coef, chunks, n_chunks, h, stream, state_shift, grad_shift,
               weight_shift, max_blocks);
}

namespace {
__global__ void add_into_kernel(float* y, const float* x, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] += x[i];
}
}  // namespace

void add_into(float* y, const float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  add_into_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(y, x, n);
  check_launch("add_into");
}

void word_sum(uint64_t* sum, const void* data, int64_t words, cudaStream_t stream) {
  const int64_t cap = int64_t(sm_count()) * 8;
  const unsigned grid = static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>(blocks_for(words, kReduceThreads), cap)));
  word_sum_kernel<<<grid, kReduceThreads, 0, stream>>>(
      reinterpret_cast<unsigned long long*>(sum), static_cast<const uint32_t*>(data), words);
  check_launch("word_sum");
}

void init_normal(bf16* w, const MasterLows& lo, int64_t n, uint64_t seed, uint64_t stream_id,
                 double std_dev, cudaStream_t stream) {
  const uint64_t state = stream_seed(seed, stream_id);
  init_normal_kernel<<<blocks_for((n + 1) / 2, 256), 256, 0, stream>>>(
      reinterpret_cast<uint16_t*>(w),
      LowHalves{lo.lo, lo.shift, lo.begin, lo.end, lo.shard_weights}, n, state, std_dev);
  check_launch("init_normal");
}

void fill(bf16* w, const MasterLows& lo, int64_t n, float value, cudaStream_t stream) {
  fill_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(
      reinterpret_cast<uint16_t*>(w),
      LowHalves{lo.lo, lo.shift, lo.begin, lo.end, lo.shard_weights}, n, value);
  check_launch("fill");
}
void split_master(bf16* w, uint16_t* lo, const float* src, int64_t n, cudaStream_t stream) {
  split_master_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(reinterpret_cast<uint16_t*>(w), lo,
                                                              src, n);
  check_launch("split_master");
}
void join_master(float* dst, const bf16* w, const uint16_t* lo, int64_t n, cudaStream_t stream) {
  join_master_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(
      dst, reinterpret_cast<const uint16_t*>(w), lo, n);
  check_launch("join_master");
}
void cast(bf16* dst, const float* src, int64_t n, cudaStream_t stream) {
  cast_to_bf16_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dst, src, n);
  check_launch("cast");
}

void hold_stream(double seconds, cudaStream_t stream) {
  if (!(seconds > 0)) return;
  hold_stream_kernel<<<1, 1, 0, stream>>>(uint64_t(seconds * 1e9));
  check_launch("hold_stream");
}

}  // namespace sxb::gpu
