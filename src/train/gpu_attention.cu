// Causal flash attention, forward and backward, on bf16 tensor cores (mma.sync m16n8k16 with
// fp32 accumulation; ldmatrix from padded shared memory; cp.async double buffering). On sm_90
// attention_forward and attention_backward (head_dim 64 and 128) run the Hopper
// kernels of gpu_attention_sm90.cu instead (same outputs; SXB_ATTENTION_FORWARD=mma and
// SXB_ATTENTION_BACKWARD=mma keep this file's); this file's kernels are the reference they are
// tested against and the path on every other GPU and shape.
//
// Notation: s = (q . k) * scale, scale = 1/sqrt(hd), computed in the log2 domain
// (s2 = s * log2(e)), p = exp2(s2 - lse2), lse2 = log2 sum exp2(s2) over the visible keys.
//
// Forward (one block = 128 queries of one head, 4 warps x 32 query rows; 64 queries and 16 rows
// per warp for head_dim below 64): for each 64-key tile,
// S = Q K^T in registers, masked, online softmax (running max m and sum l per row, O rescaled by
// exp2(m_old - m_new)), O += P V with P taken straight from the S accumulators; finally O / l and
// lse2 = m + log2(l). No T x T matrix exists anywhere.
//
// Backward (one block = 64 keys of one kv head, 4 warps x 16 key rows; FA2's key-major order):
// for every query head of the group and every 32-query tile that sees these keys:
//   S^T = K Q^T, P^T = exp2(S^T * scale*log2e - lse2), dV += P^T dO, dP^T = V dO^T,
//   dS^T = P^T (dP^T - D), D = rowsum(dO * O) (a small pre-pass), dK += dS^T Q,
//   dQ += dS K: dS^T goes through shared memory and the block's partial dQ is added into an
//   fp32 buffer with vector atomics. dK and dV stay in registers until the end, so the group's
//   query heads sum into them without atomics.
//
// mma.m16n8k16 fragments (PTX ISA; g = lane / 4, c = 2 * (lane % 4)):
//   A 16x16 row-major: a0 (g, c..c+1), a1 (g+8, c..), a2 (g, c+8..), a3 (g+8, c+8..)
//   B 16x8 (k x n):    b0 (k = c..c+1, n = g), b1 (k = c+8.., n = g)
//   C 16x8:            c0,c1 (g, c..c+1), c2,c3 (g+8, c..c+1)
// ldmatrix.x4 gives register j from the 8x8 matrix whose rows lanes 8j..8j+7 address; without
// .trans lane l gets row l/4, columns 2(l%4)..+1, with .trans rows 2(l%4)..+1 of column l/4.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "core/env_config.hpp"
#include "core/error.hpp"
#include "platform/cuda_check.hpp"
#include "train/gpu_attention_sm90.hpp"
#include "train/gpu_ops.hpp"

namespace sxb::gpu {

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kThreads = 128;  // 4 warps
constexpr int kFwdCols = 64;   // keys per forward tile
constexpr int kBwdKeys = 64;   // keys per backward block
constexpr int kBwdRows = 32;   // queries per backward tile

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte asynchronous copy global -> shared; `valid` false fills the 16 bytes with zeros.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_group 0;\n" ::);
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x2_t(uint32_t& r0, uint32_t& r1, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r0), "=r"(r1)
               : "r"(smem_addr(p)));
}

__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 2^x on the special-function unit (ex2.approx.ftz: relative error about 2^-22, subnormal results
// flushed to 0), without exp2f's range fix-ups; probabilities are rounded to bf16 anyway.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Two floats as one bf16x2 register: the lower column in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// The A fragment (16 x 16, k = the accumulators' columns) made of two adjacent 16 x 8
// accumulator tiles: columns 0-7 from `lo`, 8-15 from `hi`, rounded to bf16. This is how P and
// dS feed the next product without leaving registers.
__device__ __forceinline__ void a_fragment(uint32_t (&a)[4], const float (&lo)[4],
                                           const float (&hi)[4]) {
  a[0] = pack_bf16(lo[0], lo[1]);
  a[1] = pack_bf16(lo[2], lo[3]);
  a[2] = pack_bf16(hi[0], hi[1]);
  a[3] = pack_bf16(hi[2], hi[3]);
}

// Query t may see key u.
__device__ __forceinline__ bool visible(int t, int u, int T, int window) {
  return t < T && u <= t && (window <= 0 || t - u < window);
}

struct Args {
  const bf16 *q, *k, *v, *o, *dout;
  bf16 *out, *dk, *dv;
  float *lse, *dsum, *dq_accum;
  const float* lse_in;
  int64_t q_stride, kv_stride, o_stride;
  int T, H, KV, window;
  float scale_log2, scale;
};

// Backward tile outputs. An accumulator tile (16 x 8: rows r0 and r0 + 8, columns col, col + 1
// of this lane) added, times the softmax scale, into the fp32 dQ rows (row stride H * hd) with
// vector atomics; rows past T are skipped.
__device__ __forceinline__ void add_dq_tile(float* dqbase, int r0, int col, int64_t row_stride,
                                            const float (&acc)[4], const Args& a) {
  if (r0 < a.T) {
    atomicAdd(reinterpret_cast<float2*>(dqbase + int64_t(r0) * row_stride + col),
              make_float2(acc[0] * a.scale, acc[1] * a.scale));
  }
  if (r0 + 8 < a.T) {
    atomicAdd(reinterpret_cast<float2*>(dqbase + int64_t(r0 + 8) * row_stride + col),
              make_float2(acc[2] * a.scale, acc[3] * a.scale));
  }
}
// The dK (times the scale) and dV tiles of key rows u0 and u0 + 8, columns col, col + 1, as bf16.
__device__ __forceinline__ void store_dkdv_tile(bf16* dkbase, bf16* dvbase, int u0, int col,
                                                const float (&dk)[4], const float (&dv)[4],
                                                const Args& a) {
  for (int h = 0; h < 2; ++h) {
    const int u = u0 + 8 * h;
    if (u >= a.T) continue;
    *reinterpret_cast<uint32_t*>(dkbase + int64_t(u) * a.kv_stride + col) =
        pack_bf16(dk[2 * h] * a.scale, dk[2 * h + 1] * a.scale);
    *reinterpret_cast<uint32_t*>(dvbase + int64_t(u) * a.kv_stride + col) =
        pack_bf16(dv[2 * h], dv[2 * h + 1]);
  }
}

// Copies rows [row0, row0 + kRows) (rows >= T as zeros) of hd bf16 each, `stride` elements
// apart, into shared memory rows of kHd + 8 elements (the padding keeps ldmatrix conflict-free).
template <int kHd, int kRows, int kBlockThreads = kThreads>
__device__ __forceinline__ void load_rows(bf16* smem, const bf16* base, int row0, int T,
                                          int64_t stride) {
  constexpr int kChunks = kHd / 8, kRow = kHd + 8;
  for (int i = threadIdx.x; i < kRows * kChunks; i += kBlockThreads) {
    const int r = i / kChunks, c = i % kChunks;
    const bool valid = row0 + r < T;
    const bf16* src = base + (valid ? int64_t(row0 + r) * stride : 0) + c * 8;
    cp_async16(smem + r * kRow + c * 8, src, valid);
  }
}

// ---- forward -------------------------------------------------------------------------------

struct Max {
  __device__ static float op(float x, float y) { return fmaxf(x, y); }
};
struct Sum {
  __device__ static float op(float x, float y) { return x + y; }
};
// Op over this thread's 16 elements of row half r (accumulator elements 2r and 2r + 1 of the
// 8 n-tiles of one m-tile), pairwise, so the dependency depth is 4 instead of 16.
template <typename Op>
__device__ __forceinline__ float tile_row_reduce(const float (&s)[8][4], int r) {
  float v[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) v[j] = Op::op(s[j][2 * r], s[j][2 * r + 1]);
#pragma unroll
  for (int w = 4; w >= 1; w /= 2) {
#pragma unroll
    for (int j = 0; j < w; ++j) v[j] = Op::op(v[j], v[j + w]);
  }
  return v[0];
}

// kMt: 16-row m-tiles per warp, so a block holds 64 * kMt queries. With two, every K and V
// fragment read from shared memory feeds two products (half the shared-memory traffic per
// product); Q fragments are then read from shared memory per key tile instead of held in
// registers, which keeps the accumulators (O: 32 rows x hd, S: 32 x 64) within the register file.
template <int kHd, int kMt>
__global__ void __launch_bounds__(kThreads, 2) flash_forward_kernel(Args a) {
  constexpr int kRows = 4 * 16 * kMt;  // queries per block
  constexpr int kRow = kHd + 8, kKb = kHd / 16;
  constexpr bool kQInRegs = kMt == 1;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
  bf16* sK = sQ + kRows * kRow;         // two buffers
  bf16* sV = sK + 2 * kFwdCols * kRow;  // two buffers
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, c2 = 2 * (lane % 4);
  const int qblock = gridDim.x - 1 - blockIdx.x;  // the longest rows first
  const int h = blockIdx.y, b = blockIdx.z;
  const int kvh = h / (a.H / a.KV);
  const int q0 = qblock * kRows;
  const int wq0 = q0 + warp * 16 * kMt;  // this warp's first query
  const bf16* qbase = a.q + int64_t(b) * a.T * a.q_stride + int64_t(h) * kHd;
  const bf16* kbase = a.k + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;
  const bf16* vbase = a.v + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;

  // Key tiles the block loads, and the ones this warp's rows see (the warp skips the others).
  const int kt_lo = a.window > 0 ? max(0, q0 - a.window + 1) / kFwdCols : 0;
  const int kt_hi = min(q0 + kRows - 1, a.T - 1) / kFwdCols;
  const int wkt_lo = a.window > 0 ? max(0, wq0 - a.window + 1) / kFwdCols : 0;
  const int wkt_hi = min(wq0 + 16 * kMt - 1, a.T - 1) / kFwdCols;
  load_rows<kHd, kRows>(sQ, qbase, q0, a.T, a.q_stride);
  load_rows<kHd, kFwdCols>(sK, kbase, kt_lo * kFwdCols, a.T, a.kv_stride);
  load_rows<kHd, kFwdCols>(sV, vbase, kt_lo * kFwdCols, a.T, a.kv_stride);
  cp_async_commit();

  float o[kMt][kHd / 8][4];
  float m_row[kMt][2], l_row[kMt][2];
#pragma unroll
  for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
    for (int n = 0; n < kHd / 8; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.0f;
    m_row[mt][0] = m_row[mt][1] = -INFINITY;
    l_row[mt][0] = l_row[mt][1] = 0.0f;
  }
  // A fragment of Q for m-tile mt and k-block kb.
  auto q_fragment = [&](uint32_t (&f)[4], int mt, int kb) {
    ldsm_x4(f, sQ + (warp * 16 * kMt + mt * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kRow +
                   kb * 16 + (lane / 16) * 8);
  };
  uint32_t qreg[kQInRegs ? kKb : 1][4];

  cp_async_wait_all();
  __syncthreads();
  if constexpr (kQInRegs) {
#pragma unroll
    for (int kb = 0; kb < kKb; ++kb) q_fragment(qreg[kb], 0, kb);
  }

  for (int kt = kt_lo; kt <= kt_hi; ++kt) {
    const int buf = (kt - kt_lo) & 1;
    cp_async_wait_all();
    __syncthreads();  // tile kt landed; every warp is done with the other buffer
    if (kt < kt_hi) {
      load_rows<kHd, kFwdCols>(sK + (buf ^ 1) * kFwdCols * kRow, kbase, (kt + 1) * kFwdCols, a.T,
                               a.kv_stride);
      load_rows<kHd, kFwdCols>(sV + (buf ^ 1) * kFwdCols * kRow, vbase, (kt + 1) * kFwdCols, a.T,
                               a.kv_stride);
      cp_async_commit();
    }
    if (kt < wkt_lo || kt > wkt_hi) continue;  // warp-uniform: none of these keys is visible
    const bf16* cK = sK + buf * kFwdCols * kRow;
    const bf16* cV = sV + buf * kFwdCols * kRow;

    // S = Q K^T: 16 * kMt rows x 64 keys per warp (8 n-tiles of 8 keys per m-tile).
    float s[kMt][8][4];
#pragma unroll
    for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
      for (int j = 0; j < 8; ++j) s[mt][j][0] = s[mt][j][1] = s[mt][j][2] = s[mt][j][3] = 0.0f;
    }
#pragma unroll
    for (int kb = 0; kb < kKb; ++kb) {
      uint32_t qf[kMt][4];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
        if constexpr (kQInRegs) {
#pragma unroll
          for (int r = 0; r < 4; ++r) qf[mt][r] = qreg[kb][r];
        } else {
          q_fragment(qf[mt], mt, kb);
        }
      }
#pragma unroll
      for (int np = 0; np < 4; ++np) {
        uint32_t bk[4];
        ldsm_x4(bk, cK + (np * 16 + (lane / 16) * 8 + (lane % 8)) * kRow + kb * 16 +
                        ((lane / 8) % 2) * 8);
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
          mma16816(s[mt][2 * np], qf[mt], bk[0], bk[1]);
          mma16816(s[mt][2 * np + 1], qf[mt], bk[2], bk[3]);
        }
      }
    }
    const int u0 = kt * kFwdCols;
    const bool need_mask = u0 + kFwdCols - 1 > wq0 ||
                           (a.window > 0 && wq0 + 16 * kMt - 1 - u0 >= a.window) ||
                           wq0 + 16 * kMt > a.T;
#pragma unroll
    for (int mt = 0; mt < kMt; ++mt) {
      const int t0 = wq0 + mt * 16 + g, t1 = t0 + 8;
      if (need_mask) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int t = e < 2 ? t0 : t1, u = u0 + j * 8 + c2 + (e & 1);
            if (!visible(t, u, a.T, a.window)) s[mt][j][e] = -INFINITY;
          }
        }
      }
      // Row maxima of the unscaled scores (the scale is positive) and row sums as trees, not
      // 16-long chains of dependent instructions; the scale is applied inside p's FMA.
      float mx[2] = {tile_row_reduce<Max>(s[mt], 0), tile_row_reduce<Max>(s[mt], 1)};
      float alpha[2], nbase[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float m_new = fmaxf(m_row[mt][r], mx[r] * a.scale_log2);
        const float base = m_new == -INFINITY ? 0.0f : m_new;  // nothing visible yet: stays 0
        alpha[r] = fast_exp2(m_row[mt][r] - base);
        nbase[r] = -base;
        m_row[mt][r] = m_new;
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[mt][j][e] = fast_exp2(fmaf(s[mt][j][e], a.scale_log2, nbase[e / 2]));
        }
      }
      const float rowsum[2] = {tile_row_reduce<Sum>(s[mt], 0), tile_row_reduce<Sum>(s[mt], 1)};
#pragma unroll
      for (int r = 0; r < 2; ++r) l_row[mt][r] = l_row[mt][r] * alpha[r] + rowsum[r];
#pragma unroll
      for (int n = 0; n < kHd / 8; ++n) {
        o[mt][n][0] *= alpha[0];
        o[mt][n][1] *= alpha[0];
        o[mt][n][2] *= alpha[1];
        o[mt][n][3] *= alpha[1];
      }
    }
    // O += P V: P's A fragments are the S accumulators of n-tiles 2kk and 2kk + 1.
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      uint32_t pa[kMt][4];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) a_fragment(pa[mt], s[mt][2 * kk], s[mt][2 * kk + 1]);
#pragma unroll
      for (int nd = 0; nd < kHd / 16; ++nd) {
        uint32_t bv[4];
        ldsm_x4_t(bv, cV + (kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kRow + nd * 16 +
                          (lane / 16) * 8);
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
          mma16816(o[mt][2 * nd], pa[mt], bv[0], bv[1]);
          mma16816(o[mt][2 * nd + 1], pa[mt], bv[2], bv[3]);
        }
      }
    }
  }

  bf16* obase = a.out + int64_t(b) * a.T * a.o_stride + int64_t(h) * kHd;
  float* lrow = a.lse + (int64_t(b) * a.H + h) * a.T;
#pragma unroll
  for (int mt = 0; mt < kMt; ++mt) {
    const int t0 = wq0 + mt * 16 + g, t1 = t0 + 8;
    float l[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] = l_row[mt][r];
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    const float inv0 = l[0] > 0 ? 1.0f / l[0] : 0.0f, inv1 = l[1] > 0 ? 1.0f / l[1] : 0.0f;
#pragma unroll
    for (int n = 0; n < kHd / 8; ++n) {
      const int col = n * 8 + c2;
      if (t0 < a.T) {
        *reinterpret_cast<uint32_t*>(obase + int64_t(t0) * a.o_stride + col) =
            pack_bf16(o[mt][n][0] * inv0, o[mt][n][1] * inv0);
      }
      if (t1 < a.T) {
        *reinterpret_cast<uint32_t*>(obase + int64_t(t1) * a.o_stride + col) =
            pack_bf16(o[mt][n][2] * inv1, o[mt][n][3] * inv1);
      }
    }
    if (lane % 4 == 0) {
      if (t0 < a.T) lrow[t0] = m_row[mt][0] + log2f(l[0]);
      if (t1 < a.T) lrow[t1] = m_row[mt][1] + log2f(l[1]);
    }
  }
}

// ---- backward ------------------------------------------------------------------------------

// D[b, h, t] = sum_c dO[t, h, c] * O[t, h, c]: one warp per (token, head).
template <int kHd>
__global__ void attention_dsum_kernel(Args a, int64_t rows) {
  const int64_t w = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (w >= rows) return;
  const int64_t n = w / a.H;  // token row b*T + t
  const int h = static_cast<int>(w % a.H);
  const bf16* orow = a.o + n * a.o_stride + int64_t(h) * kHd;
  const bf16* drow = a.dout + n * a.o_stride + int64_t(h) * kHd;
  float acc = 0;
  for (int c = lane; c < kHd; c += 32) acc += __bfloat162float(orow[c]) * __bfloat162float(drow[c]);
#pragma unroll
  for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) {
    const int64_t b = n / a.T, t = n % a.T;
    a.dsum[(b * a.H + h) * a.T + t] = acc;
  }
}

template <int kHd>
__global__ void __launch_bounds__(kThreads, 2) flash_backward_kernel(Args a) {
  constexpr int kRow = kHd + 8, kKb = kHd / 16, kDsRow = kBwdRows + 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sK = reinterpret_cast<bf16*>(smem_raw);
  bf16* sV = sK + kBwdKeys * kRow;
  bf16* sQ = sV + kBwdKeys * kRow;       // two buffers
  bf16* sdO = sQ + 2 * kBwdRows * kRow;  // two buffers
  bf16* sdS = sdO + 2 * kBwdRows * kRow;
  float* sL = reinterpret_cast<float*>(sdS + kBwdKeys * kDsRow);  // two buffers of 32
  float* sD = sL + 2 * kBwdRows;                                  // two buffers of 32
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, c2 = 2 * (lane % 4);
  const int kblock = blockIdx.x;  // key block 0 sees the most queries: scheduled first
  const int kvh = blockIdx.y, b = blockIdx.z;
  const int group = a.H / a.KV;
  const int k0 = kblock * kBwdKeys;
  const bf16* kbase = a.k + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;
  const bf16* vbase = a.v + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;

  load_rows<kHd, kBwdKeys>(sK, kbase, k0, a.T, a.kv_stride);
  load_rows<kHd, kBwdKeys>(sV, vbase, k0, a.T, a.kv_stride);

  const int qt_lo = k0 / kBwdRows;
  const int q_last = a.window > 0 ? min(a.T - 1, k0 + kBwdKeys - 1 + a.window - 1) : a.T - 1;
  const int qt_hi = q_last / kBwdRows;
  const int n_qt = qt_hi - qt_lo + 1;
  const int total = group * n_qt;

  // Queues the Q, dO, lse and D tiles of iteration `it` into buffer `buf`.
  auto load_iteration = [&](int it, int buf) {
    const int h = kvh * group + it / n_qt;
    const int qs = (qt_lo + it % n_qt) * kBwdRows;
    const bf16* qbase = a.q + int64_t(b) * a.T * a.q_stride + int64_t(h) * kHd;
    const bf16* dobase = a.dout + int64_t(b) * a.T * a.o_stride + int64_t(h) * kHd;
    load_rows<kHd, kBwdRows>(sQ + buf * kBwdRows * kRow, qbase, qs, a.T, a.q_stride);
    load_rows<kHd, kBwdRows>(sdO + buf * kBwdRows * kRow, dobase, qs, a.T, a.o_stride);
    if (threadIdx.x < kBwdRows) {
      const int t = qs + threadIdx.x;
      const bool valid = t < a.T;
      const int64_t idx = (int64_t(b) * a.H + h) * a.T + (valid ? t : 0);
      cp_async4(sL + buf * kBwdRows + threadIdx.x, a.lse_in + idx, valid);
      cp_async4(sD + buf * kBwdRows + threadIdx.x, a.dsum + idx, valid);
    }
  };
  load_iteration(0, 0);
  cp_async_commit();

  float dk[kHd / 8][4], dv[kHd / 8][4];
#pragma unroll
  for (int n = 0; n < kHd / 8; ++n) {
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[n][e] = dv[n][e] = 0.0f;
  }
  const int u0 = k0 + warp * 16 + g, u1 = u0 + 8;

  for (int it = 0; it < total; ++it) {
    const int buf = it & 1;
    const int h = kvh * group + it / n_qt;
    const int qs = (qt_lo + it % n_qt) * kBwdRows;
    cp_async_wait_all();
    __syncthreads();  // tiles of `it` landed; the other buffer and sdS are free
    if (it + 1 < total) {
      load_iteration(it + 1, buf ^ 1);
      cp_async_commit();
    }
    const bf16* cQ = sQ + buf * kBwdRows * kRow;
    const bf16* cdO = sdO + buf * kBwdRows * kRow;
    const float* cL = sL + buf * kBwdRows;
    const float* cD = sD + buf * kBwdRows;

    // S^T = K Q^T and dP^T = V dO^T: this warp's 16 keys x 32 queries (4 n-tiles).
    float st[4][4], dpt[4][4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) st[j][e] = dpt[j][e] = 0.0f;
    }
#pragma unroll
    for (int kb = 0; kb < kKb; ++kb) {
      uint32_t ka[4], va[4];
      const int arow =
          (warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kRow + kb * 16 + (lane / 16) * 8;
      ldsm_x4(ka, sK + arow);
      ldsm_x4(va, sV + arow);
#pragma unroll
      for (int np = 0; np < 2; ++np) {
        const int brow =
            (np * 16 + (lane / 16) * 8 + (lane % 8)) * kRow + kb * 16 + ((lane / 8) % 2) * 8;
        uint32_t bq[4], bo[4];
        ldsm_x4(bq, cQ + brow);
        ldsm_x4(bo, cdO + brow);
        mma16816(st[2 * np], ka, bq[0], bq[1]);
        mma16816(st[2 * np + 1], ka, bq[2], bq[3]);
        mma16816(dpt[2 * np], va, bo[0], bo[1]);
        mma16816(dpt[2 * np + 1], va, bo[2], bo[3]);
      }
    }
    const bool need_mask = k0 + kBwdKeys - 1 > qs ||
                           (a.window > 0 && qs + kBwdRows - 1 - k0 >= a.window) ||
                           qs + kBwdRows > a.T;
    // P^T and dS^T = P^T (dP^T - D).
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int tl = j * 8 + c2 + (e & 1);
        float p = fast_exp2(fmaf(st[j][e], a.scale_log2, -cL[tl]));
        if (need_mask && !visible(qs + tl, e < 2 ? u0 : u1, a.T, a.window)) p = 0.0f;
        st[j][e] = p;
        dpt[j][e] = p * (dpt[j][e] - cD[tl]);
      }
    }
    // dV += P^T dO and dK += dS^T Q (k = queries, 2 k-blocks of 16).
#pragma unroll
    for (int kk = 0; kk < 2; ++kk) {
      uint32_t pa[4];
      a_fragment(pa, st[2 * kk], st[2 * kk + 1]);
      uint32_t da[4];
      a_fragment(da, dpt[2 * kk], dpt[2 * kk + 1]);
#pragma unroll
      for (int nd = 0; nd < kHd / 16; ++nd) {
        const int trow =
            (kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kRow + nd * 16 + (lane / 16) * 8;
        uint32_t bo[4], bq[4];
        ldsm_x4_t(bo, cdO + trow);
        ldsm_x4_t(bq, cQ + trow);
        mma16816(dv[2 * nd], pa, bo[0], bo[1]);
        mma16816(dv[2 * nd + 1], pa, bo[2], bo[3]);
        mma16816(dk[2 * nd], da, bq[0], bq[1]);
        mma16816(dk[2 * nd + 1], da, bq[2], bq[3]);
      }
    }
    // dS^T to shared memory as [key][query], for dQ = dS K across the block's 64 keys.
    const int lrow = warp * 16 + g;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      *reinterpret_cast<uint32_t*>(sdS + lrow * kDsRow + j * 8 + c2) =
          pack_bf16(dpt[j][0], dpt[j][1]);
      *reinterpret_cast<uint32_t*>(sdS + (lrow + 8) * kDsRow + j * 8 + c2) =
          pack_bf16(dpt[j][2], dpt[j][3]);
    }
    __syncthreads();
    // dQ tile (32 queries x hd). head_dim >= 32: warp w takes both m-tiles and hd/32 of the
    // hd/8 n-tiles, so each K fragment feeds two products; below: m-tile w % 2 and hd/16.
    {
      constexpr int kDqMt = kHd >= 32 ? 2 : 1;        // m-tiles per warp
      constexpr int kNt = kHd / 8 / (2 * kDqMt);       // n-tiles per warp
      const int mt0 = kDqMt == 2 ? 0 : warp % 2;
      const int nt0 = (kDqMt == 2 ? warp : warp / 2) * kNt;
      float dq[kDqMt][kNt][4];
#pragma unroll
      for (int m = 0; m < kDqMt; ++m) {
#pragma unroll
        for (int n = 0; n < kNt; ++n) dq[m][n][0] = dq[m][n][1] = dq[m][n][2] = dq[m][n][3] = 0.0f;
      }
      const int mi = lane / 8;
#pragma unroll
      for (int kb = 0; kb < kBwdKeys / 16; ++kb) {
        uint32_t af[kDqMt][4];
#pragma unroll
        for (int m = 0; m < kDqMt; ++m) {
          ldsm_x4_t(af[m], sdS + (kb * 16 + (mi / 2) * 8 + (lane % 8)) * kDsRow + (mt0 + m) * 16 +
                               (mi % 2) * 8);
        }
        const int krow = (kb * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kRow;
        if constexpr (kNt % 2 == 0) {
#pragma unroll
          for (int np = 0; np < kNt / 2; ++np) {
            uint32_t bk[4];
            ldsm_x4_t(bk, sK + krow + (nt0 + 2 * np) * 8 + (lane / 16) * 8);
#pragma unroll
            for (int m = 0; m < kDqMt; ++m) {
              mma16816(dq[m][2 * np], af[m], bk[0], bk[1]);
              mma16816(dq[m][2 * np + 1], af[m], bk[2], bk[3]);
            }
          }
        } else {
#pragma unroll
          for (int n = 0; n < kNt; ++n) {
            uint32_t b0, b1;
            ldsm_x2_t(b0, b1, sK + krow + (nt0 + n) * 8);
#pragma unroll
            for (int m = 0; m < kDqMt; ++m) mma16816(dq[m][n], af[m], b0, b1);
          }
        }
      }
      float* dqbase = a.dq_accum + (int64_t(b) * a.T) * a.H * kHd + int64_t(h) * kHd;
#pragma unroll
      for (int m = 0; m < kDqMt; ++m) {
#pragma unroll
        for (int n = 0; n < kNt; ++n) {
          add_dq_tile(dqbase, qs + (mt0 + m) * 16 + g, (nt0 + n) * 8 + c2, int64_t(a.H) * kHd,
                      dq[m][n], a);
        }
      }
    }
  }

  bf16* dkbase = a.dk + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;
  bf16* dvbase = a.dv + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;
#pragma unroll
  for (int n = 0; n < kHd / 8; ++n) store_dkdv_tile(dkbase, dvbase, u0, n * 8 + c2, dk[n], dv[n], a);
}

// ---- backward, head_dim 128: FA2's 8-warp layout ------------------------------------------
// One block = 128 keys of one kv head, 8 warps; per 64-query tile:
//   S^T and dP^T: warp w computes keys 32 (w / 2) .. +31 against queries 32 (w % 2) .. +31, so
//   every K/V fragment feeds four products and every Q/dO fragment two; P^T and dS^T go to
//   shared memory as [key][query];
//   dV += P^T dO, dK += dS^T Q: warp w accumulates the same 32 keys for head_dim half w % 2
//   (2 m-tiles x 8 n-tiles each, 128 accumulator registers), reading P^T and dS^T for all 64
//   queries back from shared memory;
//   dQ = dS K: warp w computes queries 32 (w / 4) .. +31 x head_dim 32 (w % 4) .. +31 and adds
//   it into the fp32 accumulator.
// Compared with the 4-warp kernel (16 keys per warp), each fragment read from shared memory
// feeds about a third more products, which is what bounds that kernel.
constexpr int kWideThreads = 256;  // 8 warps
constexpr int kWideKeys = 128;     // keys per block
constexpr int kWideRows = 64;      // queries per tile

template <int kHd>
__global__ void __launch_bounds__(kWideThreads, 1) flash_backward_wide_kernel(Args a) {
  static_assert(kHd == 128, "the 8-warp layout splits head_dim 128 in halves and quarters");
  constexpr int kRow = kHd + 8, kKb = kHd / 16, kPRow = kWideRows + 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sK = reinterpret_cast<bf16*>(smem_raw);
  bf16* sV = sK + kWideKeys * kRow;
  bf16* sQ = sV + kWideKeys * kRow;        // two buffers
  bf16* sdO = sQ + 2 * kWideRows * kRow;   // two buffers
  bf16* sP = sdO + 2 * kWideRows * kRow;   // P^T, [key][query]
  bf16* sdS = sP + kWideKeys * kPRow;      // dS^T, [key][query]
  float* sL = reinterpret_cast<float*>(sdS + kWideKeys * kPRow);  // two buffers of 64
  float* sD = sL + 2 * kWideRows;                                 // two buffers of 64
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, c2 = 2 * (lane % 4), mi = lane / 8;
  const int kg = warp / 2;    // 32-key group: S^T, dP^T, dV, dK
  const int half = warp % 2;  // query half of S^T and dP^T; head_dim half of dV and dK
  const int mq = warp / 4, nq = warp % 4;  // dQ: query half, head_dim quarter
  const int kblock = blockIdx.x;           // key block 0 sees the most queries: scheduled first
  const int kvh = blockIdx.y, b = blockIdx.z;
  const int group = a.H / a.KV;
  const int k0 = kblock * kWideKeys;
  const int key_base = k0 + kg * 32;  // this warp's first key
  const bf16* kbase = a.k + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;
  const bf16* vbase = a.v + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;

  load_rows<kHd, kWideKeys, kWideThreads>(sK, kbase, k0, a.T, a.kv_stride);
  load_rows<kHd, kWideKeys, kWideThreads>(sV, vbase, k0, a.T, a.kv_stride);

  const int qt_lo = k0 / kWideRows;
  const int q_last = a.window > 0 ? min(a.T - 1, k0 + kWideKeys - 1 + a.window - 1) : a.T - 1;
  const int qt_hi = q_last / kWideRows;
  const int n_qt = qt_hi - qt_lo + 1;
  const int total = group * n_qt;

  auto load_iteration = [&](int it, int buf) {
    const int h = kvh * group + it / n_qt;
    const int qs = (qt_lo + it % n_qt) * kWideRows;
    const bf16* qbase = a.q + int64_t(b) * a.T * a.q_stride + int64_t(h) * kHd;
    const bf16* dobase = a.dout + int64_t(b) * a.T * a.o_stride + int64_t(h) * kHd;
    load_rows<kHd, kWideRows, kWideThreads>(sQ + buf * kWideRows * kRow, qbase, qs, a.T,
                                            a.q_stride);
    load_rows<kHd, kWideRows, kWideThreads>(sdO + buf * kWideRows * kRow, dobase, qs, a.T,
                                            a.o_stride);
    if (threadIdx.x < kWideRows) {
      const int t = qs + threadIdx.x;
      const bool valid = t < a.T;
      const int64_t idx = (int64_t(b) * a.H + h) * a.T + (valid ? t : 0);
      cp_async4(sL + buf * kWideRows + threadIdx.x, a.lse_in + idx, valid);
      cp_async4(sD + buf * kWideRows + threadIdx.x, a.dsum + idx, valid);
    }
  };
  load_iteration(0, 0);
  cp_async_commit();

  float dk[2][8][4], dv[2][8][4];
#pragma unroll
  for (int m = 0; m < 2; ++m) {
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) dk[m][n][e] = dv[m][n][e] = 0.0f;
    }
  }

  for (int it = 0; it < total; ++it) {
    const int buf = it & 1;
    const int h = kvh * group + it / n_qt;
    const int qs = (qt_lo + it % n_qt) * kWideRows;
    cp_async_wait_all();
    __syncthreads();  // tiles of `it` landed; the other buffers, sP and sdS are free
    if (it + 1 < total) {
      load_iteration(it + 1, buf ^ 1);
      cp_async_commit();
    }
    const bf16* cQ = sQ + buf * kWideRows * kRow;
    const bf16* cdO = sdO + buf * kWideRows * kRow;
    const float* cL = sL + buf * kWideRows;
    const float* cD = sD + buf * kWideRows;

    // S^T = K Q^T and dP^T = V dO^T for this warp's 32 keys x 32 queries, unless no key of it
    // is visible to any of its queries.
    const int q_lo = qs + half * 32;
    const bool hidden = q_lo >= a.T || q_lo + 31 < key_base ||
                        (a.window > 0 && q_lo - (key_base + 31) >= a.window);
    float st[2][4][4], dpt[2][4][4];
#pragma unroll
    for (int m = 0; m < 2; ++m) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) st[m][j][e] = dpt[m][j][e] = 0.0f;
      }
    }
    if (!hidden) {
#pragma unroll
      for (int kb = 0; kb < kKb; ++kb) {
        uint32_t ka[2][4], va[2][4];
#pragma unroll
        for (int m = 0; m < 2; ++m) {
          const int arow = (kg * 32 + m * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kRow +
                           kb * 16 + (lane / 16) * 8;
          ldsm_x4(ka[m], sK + arow);
          ldsm_x4(va[m], sV + arow);
        }
#pragma unroll
        for (int np = 0; np < 2; ++np) {
          const int brow = (half * 32 + np * 16 + (lane / 16) * 8 + (lane % 8)) * kRow +
                           kb * 16 + ((lane / 8) % 2) * 8;
          uint32_t bq[4], bo[4];
          ldsm_x4(bq, cQ + brow);
          ldsm_x4(bo, cdO + brow);
#pragma unroll
          for (int m = 0; m < 2; ++m) {
            mma16816(st[m][2 * np], ka[m], bq[0], bq[1]);
            mma16816(st[m][2 * np + 1], ka[m], bq[2], bq[3]);
            mma16816(dpt[m][2 * np], va[m], bo[0], bo[1]);
            mma16816(dpt[m][2 * np + 1], va[m], bo[2], bo[3]);
          }
        }
      }
    }
    const bool need_mask = k0 + kWideKeys - 1 > qs ||
                           (a.window > 0 && qs + kWideRows - 1 - k0 >= a.window) ||
                           qs + kWideRows > a.T;
    // P^T and dS^T = P^T (dP^T - D), to shared memory.
#pragma unroll
    for (int m = 0; m < 2; ++m) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int ql = half * 32 + j * 8 + c2 + (e & 1);
          const int key = key_base + m * 16 + g + (e < 2 ? 0 : 8);
          float p = hidden ? 0.0f : fast_exp2(fmaf(st[m][j][e], a.scale_log2, -cL[ql]));
          if (need_mask && !visible(qs + ql, key, a.T, a.window)) p = 0.0f;
          st[m][j][e] = p;
          dpt[m][j][e] = p * (dpt[m][j][e] - cD[ql]);
        }
        const int r0 = kg * 32 + m * 16 + g, col = half * 32 + j * 8 + c2;
        *reinterpret_cast<uint32_t*>(sP + r0 * kPRow + col) = pack_bf16(st[m][j][0], st[m][j][1]);
        *reinterpret_cast<uint32_t*>(sP + (r0 + 8) * kPRow + col) =
            pack_bf16(st[m][j][2], st[m][j][3]);
        *reinterpret_cast<uint32_t*>(sdS + r0 * kPRow + col) =
            pack_bf16(dpt[m][j][0], dpt[m][j][1]);
        *reinterpret_cast<uint32_t*>(sdS + (r0 + 8) * kPRow + col) =
            pack_bf16(dpt[m][j][2], dpt[m][j][3]);
      }
    }
    __syncthreads();  // the block's P^T and dS^T are complete

    // dV += P^T dO and dK += dS^T Q over the tile's 64 queries (4 k-blocks of 16).
#pragma unroll
    for (int kb = 0; kb < kWideRows / 16; ++kb) {
      uint32_t pa[2][4], da[2][4];
#pragma unroll
      for (int m = 0; m < 2; ++m) {
        const int arow = (kg * 32 + m * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kPRow +
                         kb * 16 + (lane / 16) * 8;
        ldsm_x4(pa[m], sP + arow);
        ldsm_x4(da[m], sdS + arow);
      }
#pragma unroll
      for (int nd = 0; nd < 4; ++nd) {
        const int trow = (kb * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kRow + half * 64 +
                         nd * 16 + (lane / 16) * 8;
        uint32_t bo[4], bq[4];
        ldsm_x4_t(bo, cdO + trow);
        ldsm_x4_t(bq, cQ + trow);
#pragma unroll
        for (int m = 0; m < 2; ++m) {
          mma16816(dv[m][2 * nd], pa[m], bo[0], bo[1]);
          mma16816(dv[m][2 * nd + 1], pa[m], bo[2], bo[3]);
          mma16816(dk[m][2 * nd], da[m], bq[0], bq[1]);
          mma16816(dk[m][2 * nd + 1], da[m], bq[2], bq[3]);
        }
      }
    }

    // dQ tile: queries 32 mq .. +31 x head_dim 32 nq .. +31, over the block's 128 keys.
    {
      float dq[2][4][4];
#pragma unroll
      for (int m = 0; m < 2; ++m) {
#pragma unroll
        for (int n = 0; n < 4; ++n) dq[m][n][0] = dq[m][n][1] = dq[m][n][2] = dq[m][n][3] = 0.0f;
      }
#pragma unroll
      for (int kb = 0; kb < kWideKeys / 16; ++kb) {
        uint32_t af[2][4];
#pragma unroll
        for (int m = 0; m < 2; ++m) {
          ldsm_x4_t(af[m], sdS + (kb * 16 + (mi / 2) * 8 + (lane % 8)) * kPRow + mq * 32 +
                               m * 16 + (mi % 2) * 8);
        }
        const int krow = (kb * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kRow;
#pragma unroll
        for (int np = 0; np < 2; ++np) {
          uint32_t bk[4];
          ldsm_x4_t(bk, sK + krow + nq * 32 + np * 16 + (lane / 16) * 8);
#pragma unroll
          for (int m = 0; m < 2; ++m) {
            mma16816(dq[m][2 * np], af[m], bk[0], bk[1]);
            mma16816(dq[m][2 * np + 1], af[m], bk[2], bk[3]);
          }
        }
      }
      float* dqbase = a.dq_accum + (int64_t(b) * a.T) * a.H * kHd + int64_t(h) * kHd;
#pragma unroll
      for (int m = 0; m < 2; ++m) {
#pragma unroll
        for (int n = 0; n < 4; ++n) {
          add_dq_tile(dqbase, qs + mq * 32 + m * 16 + g, nq * 32 + n * 8 + c2,
                      int64_t(a.H) * kHd, dq[m][n], a);
        }
      }
    }
  }

  bf16* dkbase = a.dk + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;
  bf16* dvbase = a.dv + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * kHd;
#pragma unroll
  for (int m = 0; m < 2; ++m) {
#pragma unroll
    for (int n = 0; n < 8; ++n) {
      store_dkdv_tile(dkbase, dvbase, key_base + m * 16 + g, half * 64 + n * 8 + c2, dk[m][n],
                      dv[m][n], a);
    }
  }
}

template <int kHd, int kMt>
constexpr size_t forward_smem() {
  return size_t(64 * kMt + 4 * kFwdCols) * (kHd + 8) * 2;
}
constexpr size_t backward_smem(int hd) {
  return size_t(2 * kBwdKeys + 4 * kBwdRows) * (hd + 8) * 2 +
         size_t(kBwdKeys) * (kBwdRows + 8) * 2 + 4 * kBwdRows * sizeof(float);
}
constexpr size_t wide_backward_smem(int hd) {
  return size_t(2 * kWideKeys + 4 * kWideRows) * (hd + 8) * 2 +
         size_t(2 * kWideKeys) * (kWideRows + 8) * 2 + 4 * kWideRows * sizeof(float);
}

Args make_args(const AttentionShape& s) {
  Args a{};
  a.q_stride = s.q_stride;
  a.kv_stride = s.kv_stride;
  a.o_stride = s.o_stride;
  a.T = static_cast<int>(s.T);
  a.H = static_cast<int>(s.H);
  a.KV = static_cast<int>(s.KV);
  a.window = static_cast<int>(s.window);
  a.scale = 1.0f / std::sqrt(float(s.hd));
  a.scale_log2 = a.scale * kLog2e;
  return a;
}

void check_shape(const AttentionShape& s) {
  if (!attention_supports_head_dim(s.hd)) {
    throw usage_error("attention: head_dim " + std::to_string(s.hd) +
                      " is not supported by the CUDA kernels (16, 32, 64 or 128)");
  }
  if (s.KV <= 0 || s.H % s.KV != 0) {
    throw usage_error("attention: query heads must be a multiple of kv heads");
  }
  if (s.T <= 0 || s.T > (int64_t(1) << 30) || s.B <= 0 || s.B > 65535 || s.H > 65535) {
    throw usage_error("attention: batch, sequence or head count out of range");
  }
  if (s.q_stride % 8 || s.kv_stride % 8 || s.o_stride % 8) {
    throw usage_error("attention: row strides must be multiples of 8 elements (16 bytes)");
  }
}

// Calls f(std::integral_constant<int, hd>{}) for the supported head dimensions.
template <typename F>
void with_head_dim(int64_t hd, F&& f) {
  switch (hd) {
    case 16:
      f(std::integral_constant<int, 16>{});
      break;
    case 32:
      f(std::integral_constant<int, 32>{});
      break;
    case 64:
      f(std::integral_constant<int, 64>{});
      break;
    default:
      f(std::integral_constant<int, 128>{});
      break;
  }
}

// Raises kKernel's dynamic shared-memory limit, once per process (one instantiation, and so one
// flag, per kernel).
template <auto kKernel>
void allow_smem(size_t bytes) {
  static const bool done = [&] {
    cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
    return true;
  }();
  (void)done;
}

// Two m-tiles per warp where head_dim makes the products long enough to pay for reading Q from
// shared memory (64 and 128); one below.
template <int kHd>
constexpr int forward_m_tiles() {
  return kHd >= 64 ? 2 : 1;
}

template <int kHd, int kMt>
void launch_forward_mt(const Args& a, const AttentionShape& s, cudaStream_t stream) {
  constexpr auto kernel = flash_forward_kernel<kHd, kMt>;
  constexpr size_t smem = forward_smem<kHd, kMt>();
  allow_smem<kernel>(smem);
  const int rows = 64 * kMt;
  const dim3 grid(static_cast<unsigned>((s.T + rows - 1) / rows), static_cast<unsigned>(s.H),
                  static_cast<unsigned>(s.B));
  kernel<<<grid, kThreads, smem, stream>>>(a);
  check_launch("attention_forward");
}

template <int kHd>
void launch_forward(const Args& a, const AttentionShape& s, cudaStream_t stream) {
  launch_forward_mt<kHd, forward_m_tiles<kHd>()>(a, s, stream);
}

// The 8-warp backward for head_dim 128 unless SXB_ATTENTION_WIDE_BACKWARD=0 (A/B tuning knob).
bool wide_backward_enabled() {
  static const bool on = environment_knob_bool("SXB_ATTENTION_WIDE_BACKWARD").value_or(true);
  return on;
}

template <int kHd>
void launch_dsum(const Args& a, const AttentionShape& s, cudaStream_t stream) {
  const int64_t rows = s.B * s.T * s.H;
  attention_dsum_kernel<kHd>
      <<<static_cast<unsigned>((rows * 32 + 255) / 256), 256, 0, stream>>>(a, rows);
  check_launch("attention_dsum");
}

template <int kHd>
void launch_backward(const Args& a, const AttentionShape& s, cudaStream_t stream) {
  allow_smem<flash_backward_kernel<kHd>>(backward_smem(kHd));
  launch_dsum<kHd>(a, s, stream);
  if constexpr (kHd == 128) {
    if (wide_backward_enabled()) {
      allow_smem<flash_backward_wide_kernel<kHd>>(wide_backward_smem(kHd));
      const dim3 grid(static_cast<unsigned>((s.T + kWideKeys - 1) / kWideKeys),
                      static_cast<unsigned>(s.KV), static_cast<unsigned>(s.B));
      flash_backward_wide_kernel<kHd><<<grid, kWideThreads, wide_backward_smem(kHd), stream>>>(a);
      check_launch("attention_backward");
      return;
    }
  }
  const dim3 grid(static_cast<unsigned>((s.T + kBwdKeys - 1) / kBwdKeys),
                  static_cast<unsigned>(s.KV), static_cast<unsigned>(s.B));
  flash_backward_kernel<kHd><<<grid, kThreads, backward_smem(kHd), stream>>>(a);
  check_launch("attention_backward");
}

// Automatic choices run the Hopper kernels wherever they apply (an sm_90a build on an sm_90 GPU,
// 16-byte aligned inputs, causal with or without a window, head_dim 64 and 128). Measured on sm_90 (bench/RESULTS.md): the forward 2.2x the mma.sync
// kernel at head_dim 128 on one H200 and 1.4x at 64 on one H100, the backward 1.7x on one H100,
// all passing the tests against mma.sync and float64 with and without a window (the backward's
// gradients equal the mma.sync kernel's bit for bit at the tested shapes) and the whole model's
// loss and gradient tests. SXB_ATTENTION_FORWARD=mma / SXB_ATTENTION_BACKWARD=mma
// keep the mma.sync kernels, for A/B runs.
bool forward_prefers_sm90() {
  static const bool sm90 = environment_knob("SXB_ATTENTION_FORWARD").value_or("sm90") == "sm90";
  return sm90;
}
bool backward_prefers_sm90() {
  static const bool sm90 = environment_knob("SXB_ATTENTION_BACKWARD").value_or("sm90") == "sm90";
  return sm90;
}

}  // namespace

bool attention_supports_head_dim(int64_t hd) {
  return hd == 16 || hd == 32 || hd == 64 || hd == 128;
}

AttentionKernel attention_kernel_choice(const AttentionShape& s, bool backward) {
  if (backward && s.deterministic) return AttentionKernel::sm90;
  const bool prefers = backward ? backward_prefers_sm90() : forward_prefers_sm90();
  const bool applies =
      backward ? attention_backward_sm90_supports(s) : attention_forward_sm90_supports(s);
  return prefers && applies ? AttentionKernel::sm90 : AttentionKernel::mma;
}

void attention_forward(bf16* o, float* lse, const bf16* q, const bf16* k, const bf16* v,
                       const AttentionShape& s, cudaStream_t stream,
                       AttentionKernel kernel) {
  check_shape(s);
  if (kernel == AttentionKernel::sm90 ||
      (kernel == AttentionKernel::automatic &&
       attention_kernel_choice(s, false) == AttentionKernel::sm90 &&
       attention_sm90_inputs_aligned(q, k, v))) {
    attention_forward_sm90(o, lse, q, k, v, s, stream);
    return;
  }
  Args a = make_args(s);
  a.q = q;
  a.k = k;
  a.v = v;
  a.out = o;
  a.lse = lse;
  with_head_dim(s.hd, [&](auto hd) { launch_forward<decltype(hd)::value>(a, s, stream); });
}

void attention_backward(float* dq_accum, bf16* dk, bf16* dv, float* dsum, const bf16* dout,
                        const bf16* o, const float* lse, const bf16* q, const bf16* k,
                        const bf16* v, const AttentionShape& s, cudaStream_t stream,
                        AttentionKernel kernel) {
  check_shape(s);
  const bool hopper =
      kernel == AttentionKernel::sm90 ||
      (kernel == AttentionKernel::automatic &&
       attention_kernel_choice(s, true) == AttentionKernel::sm90 &&
       attention_sm90_inputs_aligned(q, k, v) && attention_sm90_inputs_aligned(dout, o, dout));
  Args a = make_args(s);
  a.q = q;
  a.k = k;
  a.v = v;
  a.o = o;
  a.dout = dout;
  a.lse_in = lse;
  a.dsum = dsum;
  a.dq_accum = dq_accum;
  a.dk = dk;
  a.dv = dv;
  const size_t dq_bytes = size_t(s.B * s.T * s.H * s.hd) * sizeof(float);
  if (cudaMemsetAsync(dq_accum, 0, dq_bytes, stream) != cudaSuccess) {
    throw runtime_error("attention_backward: clearing the dq accumulator failed");
  }
  if (s.deterministic && (!hopper || !attention_backward_sm90_supports(s))) {
    throw usage_error(
        "attention_backward: the deterministic backward (SXB_ATTENTION_DETERMINISTIC) runs the "
        "Hopper kernel, which needs an sm_90a build on an sm_90 GPU, head_dim 64 or 128 and "
        "16-byte aligned inputs");
  }
  if (hopper) {
    if (s.hd != 128 && s.hd != 64) {
      throw usage_error("attention_backward: the Hopper kernel needs head_dim 64 or 128");
    }
    with_head_dim(s.hd, [&](auto hd) { launch_dsum<decltype(hd)::value>(a, s, stream); });
    attention_backward_sm90(dq_accum, dk, dv, dsum, dout, lse, q, k, v, s, stream);
    return;
  }
  with_head_dim(s.hd, [&](auto hd) { launch_backward<decltype(hd)::value>(a, s, stream); });
}

}  // namespace sxb::gpu
