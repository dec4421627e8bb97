// Causal flash attention forward for Hopper (sm_90a): wgmma from shared memory, TMA tile loads
// completed on mbarriers, a producer warp feeding two consumer warpgroups through a two-stage
// K/V ring. Same function as the mma.sync forward in gpu_attention.cu (notation there): o and
// the log2-domain lse are written exactly as that kernel writes them, so the backward is shared.
//
// Block: 128 queries of one head (grid x = head, y = batch, z = query blocks, longest first: the
// blocks start in x-y-z order, so every head's longest blocks start before any shorter one and the
// last wave holds the short blocks rather than one head's longest).
//   warps 0-3  warpgroup 0: query rows q0 .. q0+63     (wgmma M = 64 rows per warpgroup)
//   warps 4-7  warpgroup 1: query rows q0+64 .. q0+127
//   warp 8     producer: one lane issues every TMA load; the other lanes exit at once.
// Per 128-key tile kt (tiles 0 .. the diagonal one): S = Q K^T (8 wgmma m64n128k16, A = Q and
// B = K both from shared memory), mask on the diagonal tile, online softmax in registers as in the
// mma.sync kernel, O += P V (8 wgmma m64n128k16, A = P from registers, B = V from shared memory).
//
// Shared memory (1024-byte aligned; every tile in TMA's 128-byte swizzle, which is wgmma's
// canonical SWIZZLE_128B layout): a 128-row x 128-column bf16 tile is two 16 KB halves
// [column half c][row r][64 columns]; row r of a half is 128 bytes at r * 128, and its 16-byte
// chunk j sits at chunk position j ^ (r % 8). Q: one tile; K and V: two stages each. 160 KB.
//
// wgmma shared-memory descriptors (64 bits): start address >> 4 in bits 0-13, leading byte
// offset (LBO) >> 4 in 16-29, stride byte offset (SBO) >> 4 in 32-45, layout 1 (128-byte
// swizzle) in 62-63.
//   Q (A) and K (B), K-major (head_dim contiguous): 8-row groups SBO = 1024 bytes apart; the
//     k-step ks (16 columns, 32 bytes) starts at half ks / 4, byte (ks % 4) * 32 of the row.
//   V (B), N-major (head_dim contiguous, keys along k; imm-trans-b = 1): 8-key groups
//     SBO = 1024 bytes apart, the two 64-column halves of N LBO = 16384 bytes apart; the k-step
//     kk (16 keys) starts at row 16 kk.
// wgmma m64nNk16 fragments per warp w of the warpgroup (g = lane / 4, c = 2 * (lane % 4)):
//   D: d[4j + 0..1] = (16w + g, 8j + c .. +1), d[4j + 2..3] = (16w + g + 8, 8j + c .. +1)
//   A: a0 (16w + g, c..), a1 (16w + g + 8, c..), a2 (16w + g, c + 8..), a3 (16w + g + 8, c + 8..)
// so S's accumulators for keys 16kk .. 16kk+15 are P's A fragment for k-step kk.
//
// Barriers: q_full (Q landed), full[s] (K and V of stage s landed: the producer's
// arrive.expect_tx plus the TMA bytes), empty[s] (8 consumer warps finished reading stage s).
// Use i of stage s = i & 1 is its (i >> 1)-th phase, so consumers wait on full[s] with parity
// (i >> 1) & 1 and the producer, before refilling for use i >= 2, on empty[s] with parity
// ((i >> 1) - 1) & 1.
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/env_config.hpp"
#include "core/error.hpp"
#include "platform/cuda_check.hpp"
#include "train/gpu_attention_sm90.hpp"

namespace sxb::gpu {

namespace {

constexpr int kRows = 128;               // queries per block
constexpr int kKeys = 128;               // keys per tile
constexpr int kConsumers = 256;          // two warpgroups
constexpr int kThreadsSm90 = kConsumers + 128;  // + the producer warpgroup
constexpr uint32_t kHalfBytes = kRows * 64 * 2;  // 16 KB: one 64-column half of a 128-row tile
// Forward, head_dim HD: one Q, K or V tile (HD / 64 halves; 32 KB at 128, 16 KB at 64), and the
// dynamic shared memory of the five tiles, the barriers and the alignment slack.
template <int HD>
constexpr uint32_t tile_bytes() {
  return kRows * HD * 2;
}
template <int HD>
constexpr size_t fwd_smem_bytes() {
  return 5 * size_t(tile_bytes<HD>()) + 128 + 1024;
}
constexpr float kLog2eSm90 = 1.4426950408889634f;

struct Sm90Args {
  bf16* out;
  float* lse;
  int64_t o_stride;
  int T, H, KV, window;  // window: keys t - window < u <= t are visible (0: every u <= t)
  float scale_log2;
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}
// Raises the barrier's expected transaction bytes without arriving.
__device__ __forceinline__ void mbar_expect_tx_only(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred P1;\nLAB_WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
      "@P1 bra DONE;\nbra LAB_WAIT;\nDONE:\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// One 64-column x 128-row box of a 3-D (column, row, batch) tensor map into shared memory,
// completing `bar`'s transaction count. Rows past the tensor's end arrive as zeros.
__device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap* map, uint32_t bar,
                                         int col, int row, int batch) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, "
      "{%3, %4, %5}], [%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(col), "r"(row), "r"(batch)
      : "memory");
}
// A 32-column x 64-row fp32 box of a 3-D (column, row, batch) tensor map += the box in shared
// memory (128-byte swizzle), through the bulk copy engine in this thread's current bulk group;
// rows past the tensor's end are left out.
__device__ __forceinline__ void tma_reduce_add(const CUtensorMap* map, uint32_t src, int col,
                                               int row, int batch) {
  asm volatile(
      "cp.reduce.async.bulk.tensor.3d.global.shared::cta.add.tile.bulk_group [%0, {%2, %3, %4}], "
      "[%1];\n" ::"l"(reinterpret_cast<uint64_t>(map)),
      "r"(src), "r"(col), "r"(row), "r"(batch)
      : "memory");
}
__device__ __forceinline__ uint64_t sw128_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return uint64_t((addr & 0x3ffff) >> 4) | (uint64_t(lbo >> 4) << 16) | (uint64_t(sbo >> 4) << 32) |
         (uint64_t(1) << 62);
}
__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most N committed wgmma groups of this warpgroup are still in flight.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses of an accumulator across the asynchronous products.
__device__ __forceinline__ void fence_acc(float (&d)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
__device__ __forceinline__ void fence_acc(float (&d)[32]) {
#pragma unroll
  for (int i = 0; i < 32; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
// The 32 fp32 accumulator operands of a m64n64k16 wgmma, read and written.
#define SXB_WGMMA_ACC32(d)                                                                       \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),           \
      "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),   \
      "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]),             \
      "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),             \
      "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
// D (64 x 64) += A B with both operands in shared memory; kTransA / kTransB: the operand is
// MN-major (rows of the other dimension contiguous) rather than K-major.
template <int kTransA, int kTransB>
__device__ __forceinline__ void wgmma_ss64(float (&d)[32], uint64_t da, uint64_t db,
                                           int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%"
      "25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, %35, %36;\n}\n"
      : SXB_WGMMA_ACC32(d)
      : "l"(da), "l"(db), "r"(accumulate), "n"(kTransA), "n"(kTransB));
}
__device__ __forceinline__ void wgmma_ss(float (&d)[64], uint64_t da, uint64_t db, int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%"
      "25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%"
      "48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, "
      "0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]),
        "+f"(d[63])
      : "l"(da), "l"(db), "r"(accumulate));
}

__device__ __forceinline__ void wgmma_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%"
      "25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%"
      "48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64,%65,%66,%67}, %68, p, "
      "1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]),
        "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

// D (64 x 64) += A B, A from registers (a P fragment), B = V from shared memory, N-major.
__device__ __forceinline__ void wgmma_rs64(float (&d)[32], const uint32_t (&a)[4], uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%"
      "25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 1;\n}\n"
      : SXB_WGMMA_ACC32(d)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
// Max or sum over this thread's 32 elements of row half r (d[4j + 2r], d[4j + 2r + 1]), as a
// tree of depth 5 rather than a chain of 32.
template <bool kMax>
__device__ __forceinline__ float row_reduce(const float (&s)[64], int r) {
  float v[16];
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    v[j] = kMax ? fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1])
                : s[4 * j + 2 * r] + s[4 * j + 2 * r + 1];
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) v[j] = kMax ? fmaxf(v[j], v[j + 8]) : v[j] + v[j + 8];
#pragma unroll
  for (int j = 0; j < 4; ++j) v[j] = kMax ? fmaxf(v[j], v[j + 4]) : v[j] + v[j + 4];
#pragma unroll
  for (int j = 0; j < 2; ++j) v[j] = kMax ? fmaxf(v[j], v[j + 2]) : v[j] + v[j + 2];
  return kMax ? fmaxf(v[0], v[1]) : v[0] + v[1];
}

// The first key tile a block of queries from q0 sees: 0, or with a window the tile of key
// q0 - window + 1 (earlier tiles are outside every row's window).
__device__ __forceinline__ int first_key_tile(int q0, int window) {
  return window > 0 ? max(0, q0 - window + 1) / kKeys : 0;
}

// One S tile (this thread's 32 scores of rows t0 and t1, keys u0 ..) through the online softmax:
// masked where the tile reaches past a row's last visible key or past T, the running maxima m
// (log2 domain, scaled) and sums l updated, S replaced by p = exp2(s * scale_log2 - m_new), and
// alpha = exp2(m_old - m_new), the factor O must be rescaled by.
__device__ __forceinline__ void softmax_tile(float (&sc)[64], float (&m_row)[2], float (&l_row)[2],
                                             float (&alpha)[2], int u0, int wq0, int t0, int c2,
                                             const Sm90Args& a) {
  const int t1 = t0 + 8;
  // Warpgroup-uniform: the diagonal tile, rows past T, or keys that leave some row's window.
  if (u0 + kKeys - 1 > wq0 || wq0 + 63 >= a.T || (a.window > 0 && wq0 + 63 - u0 >= a.window)) {
#pragma unroll
    for (int j = 0; j < 16; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int t = e < 2 ? t0 : t1, u = u0 + 8 * j + c2 + (e & 1);
        if (!(t < a.T && u <= t && (a.window <= 0 || t - u < a.window))) {
          sc[4 * j + e] = -INFINITY;
        }
      }
    }
  }
  float nbase[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = row_reduce<true>(sc, r);
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(m_row[r], mx * a.scale_log2);
    const float mb = m_new == -INFINITY ? 0.0f : m_new;  // nothing visible yet: stays 0
    alpha[r] = exp2_approx(m_row[r] - mb);
    nbase[r] = -mb;
    m_row[r] = m_new;
  }
#pragma unroll
  for (int j = 0; j < 64; ++j) sc[j] = exp2_approx(fmaf(sc[j], a.scale_log2, nbase[(j / 2) % 2]));
#pragma unroll
  for (int r = 0; r < 2; ++r) l_row[r] = l_row[r] * alpha[r] + row_reduce<false>(sc, r);
}
// P's A fragment for keys 16kk .. 16kk+15 is S's n-tiles 2kk and 2kk + 1, rounded to bf16.
__device__ __forceinline__ void pack_p(uint32_t (&p)[8][4], const float (&sc)[64]) {
#pragma unroll
  for (int kk = 0; kk < 8; ++kk) {
#pragma unroll
    for (int r = 0; r < 4; ++r) p[kk][r] = pack_bf16x2(sc[8 * kk + 2 * r], sc[8 * kk + 2 * r + 1]);
  }
}
template <int N>
__device__ __forceinline__ void rescale(float (&o)[N], const float (&alpha)[2]) {
#pragma unroll
  for (int j = 0; j < N; ++j) o[j] *= alpha[(j / 2) % 2];
}
// S = Q K^T for this warpgroup's 64 rows against the 128 keys of the K tile at cK (issued only).
template <int HD>
__device__ __forceinline__ void issue_qk(float (&sc)[64], uint32_t sQ_wg, uint32_t cK) {
#pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks) {
    const uint32_t off = (ks / 4) * kHalfBytes + (ks % 4) * 32;
    wgmma_ss(sc, sw128_desc(sQ_wg + off, 16, 1024), sw128_desc(cK + off, 16, 1024), ks > 0);
  }
}
// O += P V for the V tile at cV (issued only): N = head_dim, m64n128k16 over both 64-column
// halves (LBO apart) at 128, m64n64k16 over the one half at 64.
template <int HD>
__device__ __forceinline__ void issue_pv(float (&o)[HD / 2], const uint32_t (&p)[8][4],
                                         uint32_t cV) {
#pragma unroll
  for (int kk = 0; kk < 8; ++kk) {
    if constexpr (HD == 128) {
      wgmma_rs(o, p[kk], sw128_desc(cV + kk * 16 * 128, kHalfBytes, 1024));
    } else {
      wgmma_rs64(o, p[kk], sw128_desc(cV + kk * 16 * 128, kHalfBytes, 1024));
    }
  }
}
// The consumer warpgroups' loop and epilogue (see the kernel).
template <bool kOverlap, int HD>
__device__ __forceinline__ void consume(const Sm90Args& a, uint32_t sQ, uint32_t sK, uint32_t sV,
                                        uint32_t bars, int q0, int h, int b, int warp, int lane) {
  const uint32_t q_full = bars, k_full = bars + 8, v_full = bars + 24, k_empty = bars + 40,
                 v_empty = bars + 56;
  const int kt_lo = first_key_tile(q0, a.window);
  const int n_tiles = min(q0 + kRows - 1, a.T - 1) / kKeys + 1 - kt_lo;
  // Consumers: warpgroup wg holds query rows wq0 .. wq0 + 63; this thread rows t0 and t0 + 8.
  const int wg = warp / 4, wl = warp % 4;
  const int g = lane / 4, c2 = 2 * (lane % 4);
  const int wq0 = q0 + wg * 64;
  const int t0 = wq0 + wl * 16 + g, t1 = t0 + 8;
  const uint32_t sQ_wg = sQ + wg * 64 * 128;
  constexpr uint32_t kTileBytes = tile_bytes<HD>();
  float o[HD / 2];
#pragma unroll
  for (int i = 0; i < HD / 2; ++i) o[i] = 0.0f;
  float m_row[2] = {-INFINITY, -INFINITY}, l_row[2] = {0.0f, 0.0f};
  float sc[64], alpha[2];
  uint32_t p[8][4];

  mbar_wait(q_full, 0);
  if constexpr (kOverlap) {
    mbar_wait(k_full, 0);
    fence_acc(sc);
    wgmma_fence();
    issue_qk<HD>(sc, sQ_wg, sK);
    wgmma_commit();
    wgmma_wait<0>();
    fence_acc(sc);
    if (lane == 0) mbar_arrive(k_empty);
    softmax_tile(sc, m_row, l_row, alpha, kt_lo * kKeys, wq0, t0, c2, a);
    pack_p(p, sc);
    for (int i = 1; i < n_tiles; ++i) {
      const int s = i & 1, sp = (i - 1) & 1;
      mbar_wait(k_full + 8 * s, (i >> 1) & 1);
      fence_acc(sc);
      fence_acc(o);
      wgmma_fence();
      issue_qk<HD>(sc, sQ_wg, sK + s * kTileBytes);
      wgmma_commit();
      mbar_wait(v_full + 8 * sp, ((i - 1) >> 1) & 1);
      issue_pv<HD>(o, p, sV + sp * kTileBytes);
      wgmma_commit();
      wgmma_wait<1>();  // S_i landed
      fence_acc(sc);
      if (lane == 0) mbar_arrive(k_empty + 8 * s);
      softmax_tile(sc, m_row, l_row, alpha, (kt_lo + i) * kKeys, wq0, t0, c2, a);
      wgmma_wait<0>();  // P_{i-1} V_{i-1} landed
      fence_acc(o);
      if (lane == 0) mbar_arrive(v_empty + 8 * sp);
      rescale(o, alpha);
      pack_p(p, sc);
    }
    const int sl = (n_tiles - 1) & 1;
    mbar_wait(v_full + 8 * sl, ((n_tiles - 1) >> 1) & 1);
    fence_acc(o);
    wgmma_fence();
    issue_pv<HD>(o, p, sV + sl * kTileBytes);
    wgmma_commit();
    wgmma_wait<0>();
    fence_acc(o);
  } else {
    for (int i = 0; i < n_tiles; ++i) {
      const int s = i & 1;
      const uint32_t parity = (i >> 1) & 1;
      mbar_wait(k_full + 8 * s, parity);
      fence_acc(sc);
      wgmma_fence();
      issue_qk<HD>(sc, sQ_wg, sK + s * kTileBytes);
      wgmma_commit();
      wgmma_wait<0>();
      fence_acc(sc);
      if (lane == 0) mbar_arrive(k_empty + 8 * s);
      softmax_tile(sc, m_row, l_row, alpha, (kt_lo + i) * kKeys, wq0, t0, c2, a);
      rescale(o, alpha);
      pack_p(p, sc);
      mbar_wait(v_full + 8 * s, parity);
      fence_acc(o);
      wgmma_fence();
      issue_pv<HD>(o, p, sV + s * kTileBytes);
      wgmma_commit();
      wgmma_wait<0>();
      fence_acc(o);
      if (lane == 0) mbar_arrive(v_empty + 8 * s);
    }
  }

  bf16* obase = a.out + int64_t(b) * a.T * a.o_stride + int64_t(h) * HD;
  float l[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] = l_row[r];
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  const float inv0 = l[0] > 0 ? 1.0f / l[0] : 0.0f, inv1 = l[1] > 0 ? 1.0f / l[1] : 0.0f;
#pragma unroll
  for (int j = 0; j < HD / 8; ++j) {
    const int col = 8 * j + c2;
    if (t0 < a.T) {
      *reinterpret_cast<uint32_t*>(obase + int64_t(t0) * a.o_stride + col) =
          pack_bf16x2(o[4 * j] * inv0, o[4 * j + 1] * inv0);
    }
    if (t1 < a.T) {
      *reinterpret_cast<uint32_t*>(obase + int64_t(t1) * a.o_stride + col) =
          pack_bf16x2(o[4 * j + 2] * inv1, o[4 * j + 3] * inv1);
    }
  }
  if (lane % 4 == 0) {
    float* lrow = a.lse + (int64_t(b) * a.H + h) * a.T;
    if (t0 < a.T) lrow[t0] = m_row[0] + log2f(l[0]);
    if (t1 < a.T) lrow[t1] = m_row[1] + log2f(l[1]);
  }
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// kOverlap: FA3's intra-warpgroup pipelining. The products of tile i (S_i = Q K_i^T) and of
// tile i - 1 (O += P_{i-1} V_{i-1}) are issued together and the softmax of S_i runs while the
// second is in flight; O is rescaled by tile i's alpha only after that product has landed.
// Without it each tile is S, wait, softmax, P V, wait.
template <bool kOverlap, int HD>
__global__ void __launch_bounds__(kThreadsSm90, 1)
    flash_forward_sm90_kernel(const __grid_constant__ CUtensorMap map_q,
                              const __grid_constant__ CUtensorMap map_k,
                              const __grid_constant__ CUtensorMap map_v, Sm90Args a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  constexpr uint32_t kTileBytes = tile_bytes<HD>();
  const uint32_t base = (smem_u32(smem_raw) + 1023u) & ~1023u;
  const uint32_t sQ = base;
  const uint32_t sK = base + kTileBytes;      // two stages
  const uint32_t sV = base + 3 * kTileBytes;  // two stages
  const uint32_t bars =
      base + 5 * kTileBytes;  // q_full, k_full[2], v_full[2], k_empty[2], v_empty[2]
  const uint32_t q_full = bars, k_full = bars + 8, v_full = bars + 24, k_empty = bars + 40,
                 v_empty = bars + 56;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int qblock = gridDim.z - 1 - blockIdx.z;  // the longest rows first
  const int h = blockIdx.x, b = blockIdx.y;
  const int kvh = h / (a.H / a.KV);
  const int q0 = qblock * kRows;
  // Causal: key tiles up to the diagonal, from the first one inside the block's window.
  const int kt_lo = first_key_tile(q0, a.window);
  const int n_tiles = min(q0 + kRows - 1, a.T - 1) / kKeys + 1 - kt_lo;

  if (threadIdx.x == 0) {
    mbar_init(q_full, 1);
    for (int s = 0; s < 2; ++s) {
      mbar_init(k_full + 8 * s, 1);
      mbar_init(v_full + 8 * s, 1);
      mbar_init(k_empty + 8 * s, kConsumers / 32);
      mbar_init(v_empty + 8 * s, kConsumers / 32);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  // Register budget: 168 per thread at entry (384 threads, one block per SM); the producer
  // warpgroup gives its share to the consumers (128 x 40 + 256 x 232 <= 65536).
  if (warp >= kConsumers / 32) {  // producer warpgroup: one lane issues every load
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
    if (warp == kConsumers / 32 && lane == 0) {
      mbar_expect_tx(q_full, kTileBytes);
#pragma unroll
      for (int c = 0; c < HD / 64; ++c) tma_load(sQ + c * kHalfBytes, &map_q, q_full, h * HD + 64 * c, q0, b);
      for (int i = 0; i < n_tiles; ++i) {
        const int s = i & 1;
        const uint32_t parity = ((i >> 1) - 1) & 1;
        const int k0 = (kt_lo + i) * kKeys;
        if (i >= 2) mbar_wait(k_empty + 8 * s, parity);
        mbar_expect_tx(k_full + 8 * s, kTileBytes);
#pragma unroll
        for (int c = 0; c < HD / 64; ++c) {
          tma_load(sK + s * kTileBytes + c * kHalfBytes, &map_k, k_full + 8 * s, kvh * HD + 64 * c,
                   k0, b);
        }
        if (i >= 2) mbar_wait(v_empty + 8 * s, parity);
        mbar_expect_tx(v_full + 8 * s, kTileBytes);
#pragma unroll
        for (int c = 0; c < HD / 64; ++c) {
          tma_load(sV + s * kTileBytes + c * kHalfBytes, &map_v, v_full + 8 * s, kvh * HD + 64 * c,
                   k0, b);
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
    consume<kOverlap, HD>(a, sQ, sK, sV, bars, q0, h, b, warp, lane);
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

// ---- backward ------------------------------------------------------------------------------
//
// Block: 128 keys of one kv head (grid x = kv head x split, y = batch, z = key blocks, the first,
// which sees the most queries, first: all heads' longest blocks start before any shorter one),
// looping over the 64-query tiles of the query heads of
// its group that see those keys: all of them, or with grouped-query heads and too few blocks to
// fill the GPU, 1 / splits of them. Split blocks write their dK and dV as fp32 partial sums, and
// a second kernel adds the splits in order (the result is the same on every run).
//   warps 0-3  warpgroup 0: keys k0 .. k0+63      warps 4-7  warpgroup 1: keys k0+64 .. k0+127
//   warp 8     producer: TMA loads of K and V once, then of each tile's Q and dO into a
//              two-stage ring, and (while those fly) the tile's lse and D (rows past T: lse =
//              +inf, so P = 0).
// Per tile, in each consumer warpgroup (64 keys x 64 queries, rows of S^T are keys):
//   S^T = K Q^T, dP^T = V dO^T          (m64n64k16, A = K / V and B = Q / dO K-major in smem)
//   P^T = exp2(S^T * scale_log2 - lse), dS^T = P^T (dP^T - D)        (registers, masked)
//   dV += P^T dO, dK += dS^T Q          (m64n128k16, A = P^T / dS^T from the accumulators,
//                                        B = dO / Q MN-major in smem)
//   dS^T to shared memory (both warpgroups' halves), then
//   dQ[:, 64 wg ..] = dS K              (m64n64k16, A = dS^T read MN-major, B = K MN-major)
//   added into the fp32 dq accumulator (times the scale): written to one of two shared dQ tiles
//   that warp 9 adds into global memory with TMA reductions (cp.reduce.async.bulk.tensor, four
//   32-column boxes), so the consumers go on to the next tile; or, with kDqWriter false, with the
//   consumers' own vector atomics.
// Head_dim 64 (HD): the same with one 64-column half per row, dV and dK m64n64k16, and dQ split
// over keys rather than columns: each warpgroup multiplies its own 64 keys' dS^T rows (a
// warpgroup barrier, not a block one) by its K rows, and both partial sums are added into dq (the
// writer's four boxes are warpgroup 0's two, then warpgroup 1's).
// dK (times the scale) and dV leave registers once, at the end.
//
// Shared memory (1024-byte aligned, all in the 128-byte swizzle): K, V: 128 rows, two 16 KB
// column halves each; Q and dO: two stages of 64 rows (two 8 KB halves); dS^T: two buffers of
// 128 key rows x 64 queries (one 128-byte row per key); dQ: two buffers of 64 rows x 128 fp32,
// each four 32-column boxes of 64 128-byte rows in the 128-byte swizzle (the TMA reduction's
// layout); lse and D: two stages of 64 floats. 226 KB in all.
// Descriptors: K-major operands as in the forward (SBO 1024, k-step ks at half ks / 4, byte
// (ks % 4) * 32); MN-major ones (the forward's V): k-step kk at row 16 kk, SBO 1024 between
// 8-row groups, LBO the distance between 64-column halves.
// Barriers: kv_full; full[s] (lane 0 adds the tile's TMA bytes, then 32 producer lanes arrive);
// empty[s] (8 consumer warps, once their dV and dK products have read the stage). The two dS^T
// buffers need one named barrier per tile: a warpgroup writes buffer i % 2 again only after both
// passed tile i + 1's barrier, which each reaches after its tile-i dQ product completed.
// dq_full[d] (8 consumer warps wrote dQ buffer d), dq_empty[d] (the writer's reductions have read
// it): tile i uses buffer i % 2, so the consumers run up to two tiles ahead of the writer.
constexpr int kBwdKeys = 128;                                  // keys per block
constexpr int kBwdRows = 64;                                   // queries per tile
constexpr uint32_t kKvHalfBytes = kBwdKeys * 64 * 2;           // 16 KB: 64 columns of K or V
constexpr uint32_t kQHalfBytes = kBwdRows * 64 * 2;            // 8 KB: 64 columns of Q or dO
constexpr uint32_t kDsBytes = kBwdKeys * kBwdRows * 2;         // 16 KB
constexpr uint32_t kDqBoxBytes = kBwdRows * 128;               // 8 KB: 64 rows x 32 fp32
constexpr uint32_t kDqBytes = 4 * kDqBoxBytes;                 // 32 KB: one dQ buffer
// Head_dim HD: the K or V tile (32 KB at 128, 16 KB at 64), the Q or dO tile (16 or 8 KB), and
// the dynamic shared memory (226 KB at 128, 162 KB at 64).
template <int HD>
constexpr uint32_t kv_tile_bytes() {
  return kBwdKeys * HD * 2;
}
template <int HD>
constexpr uint32_t q_tile_bytes() {
  return kBwdRows * HD * 2;
}
template <int HD>
constexpr size_t bwd_smem_bytes() {
  return 2 * size_t(kv_tile_bytes<HD>()) + 4 * size_t(q_tile_bytes<HD>()) + 2 * size_t(kDsBytes) +
         2 * size_t(kDqBytes) + 4 * kBwdRows * sizeof(float) + 128 + 1024;
}

struct Sm90BwdArgs {
  const float* lse;
  const float* dsum;
  float* dq_accum;
  int* dq_order;  // deterministic: per (batch, head, query tile), key blocks that added to dq
  bf16* dk;
  bf16* dv;
  int64_t kv_stride;
  int T, H, KV, window;  // as the forward's
  float scale_log2, scale;
  // Query heads of a group split over `splits` blocks (1: none). Then dK (times the scale) and
  // dV go to dk_part / dv_part, fp32 [split][batch][T][KV * head_dim], for bwd_reduce_splits.
  int splits, B;
  float* dk_part;
  float* dv_part;
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// P^T of this thread's 32 elements (key rows u0 and u0 + 8, queries qc = 8j + c2 .. +1 of the
// tile at qs), in place: S^T becomes P^T, zero where masked.
__device__ __forceinline__ void bwd_probabilities(float (&st)[32], const float* cL, bool mask,
                                                  int u0, int qs, int c2, int window,
                                                  float scale_log2) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float2 l2 = *reinterpret_cast<const float2*>(cL + 8 * j + c2);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float p = exp2_approx(fmaf(st[4 * j + e], scale_log2, -((e & 1) ? l2.y : l2.x)));
      if (mask) {
        const int u = u0 + 8 * (e >> 1), t = qs + 8 * j + c2 + (e & 1);
        if (u > t || (window > 0 && t - u >= window)) p = 0.0f;
      }
      st[4 * j + e] = p;
    }
  }
}
// dS^T = P^T (dP^T - D), in place in dpt.
__device__ __forceinline__ void bwd_ds(float (&dpt)[32], const float (&pt)[32], const float* cD,
                                       int c2) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float2 d2 = *reinterpret_cast<const float2*>(cD + 8 * j + c2);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      dpt[4 * j + e] = pt[4 * j + e] * (dpt[4 * j + e] - ((e & 1) ? d2.y : d2.x));
    }
  }
}
// The A fragments (4 k-steps of 16 queries) of a 64 x 64 accumulator, rounded to bf16.
__device__ __forceinline__ void pack_a64(uint32_t (&a)[4][4], const float (&x)[32]) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
    for (int r = 0; r < 4; ++r) a[kk][r] = pack_bf16x2(x[8 * kk + 2 * r], x[8 * kk + 2 * r + 1]);
  }
}
// D (64 x head_dim) += A B for the k-step of 16 queries at `rows` (issued only): A from registers
// (P^T or dS^T), B = dO or Q MN-major in shared memory, its 64-column halves kQHalfBytes apart.
__device__ __forceinline__ void issue_rs(float (&d)[64], const uint32_t (&a)[4], uint32_t rows) {
  wgmma_rs(d, a, sw128_desc(rows, kQHalfBytes, 1024));
}
__device__ __forceinline__ void issue_rs(float (&d)[32], const uint32_t (&a)[4], uint32_t rows) {
  wgmma_rs64(d, a, sw128_desc(rows, kQHalfBytes, 1024));
}
// dS^T's rows (keys, local row kr0 and kr0 + 8 of the block) into the swizzled dS^T buffer.
__device__ __forceinline__ void store_ds(unsigned char* sds, const float (&ds)[32], int kr0,
                                         int c2) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = kr0 + 8 * h;
      const uint32_t off = r * 128 + ((j ^ (r % 8)) * 16) + c2 * 2;
      *reinterpret_cast<uint32_t*>(sds + off) = pack_bf16x2(ds[4 * j + 2 * h], ds[4 * j + 2 * h + 1]);
    }
  }
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// The deterministic dq order: spin until the tile's counter shows `turn` blocks before this one
// have added (acquire), and, once this block's adds are performed and fenced, count it (release).
__device__ __forceinline__ void dq_turn_wait(const int* order, int turn) {
  int seen = -1;
  do {
    asm volatile("ld.acquire.gpu.global.s32 %0, [%1];\n" : "=r"(seen) : "l"(order) : "memory");
  } while (seen != turn);
}
__device__ __forceinline__ void dq_turn_done(int* order) {
  asm volatile("red.release.gpu.global.add.s32 [%0], 1;\n" ::"l"(order) : "memory");
}

// kDeterministic: the key blocks add into a query tile's dq rows one after another, in the order
// of their keys (each waits until a_.dq_order[tile] counts the blocks before it, adds, fences and
// counts itself), so the fp32 sums are the same on every run. A block waits only on blocks of
// lower index, which the GPU starts first. With kDqWriter the waiting and counting is the dQ
// writer warp's, and the consumers run on meanwhile.
template <bool kDeterministic, bool kDqWriter, int HD>
__global__ void __launch_bounds__(kThreadsSm90, 1)
    flash_backward_sm90_kernel(const __grid_constant__ CUtensorMap map_q,
                               const __grid_constant__ CUtensorMap map_k,
                               const __grid_constant__ CUtensorMap map_v,
                               const __grid_constant__ CUtensorMap map_do,
                               const __grid_constant__ CUtensorMap map_dq, Sm90BwdArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  const uint32_t base = (smem_u32(smem_raw) + 1023u) & ~1023u;
  unsigned char* const gbase = smem_raw + (base - smem_u32(smem_raw));  // generic view of base
  constexpr uint32_t kKvTileBytes = kv_tile_bytes<HD>(), kQTileBytes = q_tile_bytes<HD>();
  constexpr int kHalves = HD / 64;                          // 64-column halves of a row
  const uint32_t sK = base, sV = base + kKvTileBytes;
  const uint32_t sQ = base + 2 * kKvTileBytes;              // two stages
  const uint32_t sdO = sQ + 2 * kQTileBytes;                // two stages
  const uint32_t sdS = sdO + 2 * kQTileBytes;               // two buffers
  const uint32_t sdQ = sdS + 2 * kDsBytes;                  // two buffers
  const uint32_t lse_off = sdQ + 2 * kDqBytes - base;       // lse[2][64], then D[2][64]
  float* const sL = reinterpret_cast<float*>(gbase + lse_off);
  float* const sD = sL + 2 * kBwdRows;
  const uint32_t bars = base + lse_off + 4 * kBwdRows * sizeof(float);
  const uint32_t kv_full = bars, full = bars + 8, empty = bars + 24;
  const uint32_t dq_full = bars + 40, dq_empty = bars + 56;  // two each

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kblock = blockIdx.z, kvh = blockIdx.x / a.splits, split = blockIdx.x % a.splits;
  const int b = blockIdx.y;
  const int group = a.H / a.KV / a.splits;        // query heads this block runs
  const int h0 = kvh * (a.H / a.KV) + split * group;  // the first of them
  const int k0 = kblock * kBwdKeys;
  const int qt_lo = k0 / kBwdRows;
  // The last query that sees one of the block's keys: T - 1, or with a window the last key's
  // window end.
  const int q_last = a.window > 0 ? min(a.T - 1, k0 + kBwdKeys - 1 + a.window - 1) : a.T - 1;
  const int n_qt = q_last / kBwdRows - qt_lo + 1;
  const int total = group * n_qt;
  // Iteration it's query head and first query: each head's tiles in turn, from the first. (The
  // last tile first with every head of the group per tile, so that blocks running together share
  // Q, dO and dq rows, measured 8 % slower at (1, 32, 8, 8192) and 33 % with a window:
  // bench/RESULTS.md.)
  const auto tile_of = [&](int it, int& h, int& qs) {
    h = h0 + it / n_qt;
    qs = (qt_lo + it % n_qt) * kBwdRows;
  };

  if (threadIdx.x == 0) {
    mbar_init(kv_full, 1);
    for (int s = 0; s < 2; ++s) {
      mbar_init(full + 8 * s, 32);
      mbar_init(empty + 8 * s, kConsumers / 32);
    }
    for (int d = 0; d < 2; ++d) {
      mbar_init(dq_full + 8 * d, kConsumers / 32);
      mbar_init(dq_empty + 8 * d, 1);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  // kDeterministic: the counter of (batch, head h, query tile at qs), and how many key blocks
  // before this one add to that tile (from the first inside its window).
  const auto dq_order_of = [&](int h, int qs) {
    const int tiles = (a.T + kBwdRows - 1) / kBwdRows;
    return a.dq_order + (int64_t(b) * a.H + h) * tiles + qs / kBwdRows;
  };
  const auto blocks_before = [&](int qs) {
    return kblock - (a.window > 0 ? max(0, qs - a.window + 1) / kBwdKeys : 0);
  };

  // Producer warpgroup: warp 8 loads, warp 9 adds dQ, the others leave.
  if (warp >= kConsumers / 32) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
    if (kDqWriter && warp == kConsumers / 32 + 1) {
      for (int it = 0; it < total; ++it) {
        int h, qs;
        tile_of(it, h, qs);
        const int d = it & 1;
        mbar_wait(dq_full + 8 * d, (it >> 1) & 1);
        if constexpr (kDeterministic) {
          if (lane == 0) dq_turn_wait(dq_order_of(h, qs), blocks_before(qs));
          __syncwarp();
        }
        if (lane == 0) {
          // Box i covers columns 32 (i % (HD / 32)) ..: at 128 the four boxes of dQ, at 64 the
          // two of warpgroup 0's partial sum, then the two of warpgroup 1's (deterministic: added
          // once the first two are, so the sums' order is fixed).
          for (int i = 0; i < 4; ++i) {
            if (HD == 64 && kDeterministic && i == 2) {
              asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
              asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
            }
            tma_reduce_add(&map_dq, sdQ + d * kDqBytes + i * kDqBoxBytes, h * HD + 32 * (i % (HD / 32)),
                           qs, b);
          }
          asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
        }
        if constexpr (kDeterministic) {
          // The adds performed before the next key block may start its own.
          if (lane == 0) asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
          asm volatile("fence.proxy.async.global;\n" ::: "memory");
          __threadfence();
          __syncwarp();
          if (lane == 0) dq_turn_done(dq_order_of(h, qs));
        } else {
          if (lane == 0) asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
          __syncwarp();  // buffer d read
        }
        if (lane == 0) mbar_arrive(dq_empty + 8 * d);
      }
      asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
      return;
    }
    if (warp != kConsumers / 32) return;
    if (lane == 0) {
      mbar_expect_tx(kv_full, 2 * kKvTileBytes);
      for (int c = 0; c < kHalves; ++c) {
        tma_load(sK + c * kKvHalfBytes, &map_k, kv_full, kvh * HD + 64 * c, k0, b);
        tma_load(sV + c * kKvHalfBytes, &map_v, kv_full, kvh * HD + 64 * c, k0, b);
      }
    }
    for (int it = 0; it < total; ++it) {
      const int s = it & 1;
      int h, qs;
      tile_of(it, h, qs);
      if (it >= 2) mbar_wait(empty + 8 * s, ((it >> 1) - 1) & 1);
      // The tile's TMA loads first, then lse and D (a global round trip) while they fly; every
      // lane arrives once its lse and D are in shared memory.
      if (lane == 0) {
        mbar_expect_tx_only(full + 8 * s, 2 * kQTileBytes);
        const uint32_t q = sQ + s * kQTileBytes, o = sdO + s * kQTileBytes;
        for (int c = 0; c < kHalves; ++c) {
          tma_load(q + c * kQHalfBytes, &map_q, full + 8 * s, h * HD + 64 * c, qs, b);
          tma_load(o + c * kQHalfBytes, &map_do, full + 8 * s, h * HD + 64 * c, qs, b);
        }
      }
      const int64_t row = (int64_t(b) * a.H + h) * a.T;
      for (int i = lane; i < kBwdRows; i += 32) {
        const int t = qs + i;
        sL[s * kBwdRows + i] = t < a.T ? a.lse[row + t] : INFINITY;
        sD[s * kBwdRows + i] = t < a.T ? a.dsum[row + t] : 0.0f;
      }
      mbar_arrive(full + 8 * s);
    }
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n" ::: "memory");
  const int wg = warp / 4, wl = warp % 4;
  const int g = lane / 4, c2 = 2 * (lane % 4);
  const int kr0 = wg * 64 + wl * 16 + g;  // this thread's key rows kr0 and kr0 + 8 of the block
  const int wk0 = k0 + wg * 64;           // the warpgroup's first key
  const uint32_t sK_wg = sK + wg * 64 * 128, sV_wg = sV + wg * 64 * 128;
  float dk[HD / 2], dv[HD / 2];
#pragma unroll
  for (int i = 0; i < HD / 2; ++i) dk[i] = dv[i] = 0.0f;

  mbar_wait(kv_full, 0);
  for (int it = 0; it < total; ++it) {
    const int s = it & 1;
    int h, qs;
    tile_of(it, h, qs);
    const uint32_t cQ = sQ + s * kQTileBytes, cdO = sdO + s * kQTileBytes;
    const uint32_t cdS = sdS + s * kDsBytes;
    mbar_wait(full + 8 * s, (it >> 1) & 1);

    // S^T and dP^T issued as two groups: P^T is computed, and dV += P^T dO issued, while dP^T is
    // still in the tensor cores.
    float st[32], dpt[32];
    fence_acc(st);
    fence_acc(dpt);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < HD / 16; ++ks) {
      const uint32_t ka = (ks / 4) * kKvHalfBytes + (ks % 4) * 32;
      const uint32_t kb = (ks / 4) * kQHalfBytes + (ks % 4) * 32;
      wgmma_ss64<0, 0>(st, sw128_desc(sK_wg + ka, 16, 1024), sw128_desc(cQ + kb, 16, 1024),
                       ks > 0);
    }
    wgmma_commit();
#pragma unroll
    for (int ks = 0; ks < HD / 16; ++ks) {
      const uint32_t ka = (ks / 4) * kKvHalfBytes + (ks % 4) * 32;
      const uint32_t kb = (ks / 4) * kQHalfBytes + (ks % 4) * 32;
      wgmma_ss64<0, 0>(dpt, sw128_desc(sV_wg + ka, 16, 1024), sw128_desc(cdO + kb, 16, 1024),
                       ks > 0);
    }
    wgmma_commit();
    wgmma_wait<1>();  // S^T landed
    fence_acc(st);

    // Warpgroup-uniform: some key lies past some query, or outside some query's window.
    const bool mask = wk0 + 63 > qs || (a.window > 0 && qs + kBwdRows - 1 - wk0 >= a.window);
    bwd_probabilities(st, sL + s * kBwdRows, mask, k0 + kr0, qs, c2, a.window, a.scale_log2);
    uint32_t pa[4][4];
    pack_a64(pa, st);
    fence_acc(dv);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBwdRows / 16; ++kk) issue_rs(dv, pa[kk], cdO + kk * 16 * 128);
    wgmma_commit();
    wgmma_wait<1>();  // dP^T landed
    fence_acc(dpt);

    bwd_ds(dpt, st, sD + s * kBwdRows, c2);
    uint32_t da[4][4];
    pack_a64(da, dpt);
    store_ds(gbase + (cdS - base), dpt, kr0, c2);
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    fence_acc(dk);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBwdRows / 16; ++kk) issue_rs(dk, da[kk], cQ + kk * 16 * 128);
    wgmma_commit();

    // dS^T complete: at 128 both warpgroups' rows (each takes 64 columns of dQ over all 128
    // keys), at 64 the warpgroup's own (each takes all 64 columns over its 64 keys: a partial sum).
    if constexpr (HD == 128) {
      asm volatile("bar.sync 1, %0;\n" ::"n"(kConsumers) : "memory");
    } else {
      if (wg == 0) {
        asm volatile("bar.sync 3, 128;\n" ::: "memory");
      } else {
        asm volatile("bar.sync 4, 128;\n" ::: "memory");
      }
    }
    constexpr int kDqSteps = HD == 128 ? kBwdKeys / 16 : 4;     // k-steps of 16 keys
    const int key0 = HD == 128 ? 0 : wg * 64;                   // the first of them
    const uint32_t kcol = HD == 128 ? wg * kKvHalfBytes : 0;    // dQ's columns in K
    float dq[32];
    fence_acc(dq);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kDqSteps; ++kk) {
      const uint32_t row = (key0 + kk * 16) * 128;
      wgmma_ss64<1, 1>(dq, sw128_desc(cdS + row, kQHalfBytes, 1024),
                       sw128_desc(sK + kcol + row, kKvHalfBytes, 1024), kk > 0);
    }
    wgmma_commit();
    wgmma_wait<1>();  // dV and dK landed
    fence_acc(dv);
    fence_acc(dk);
    if (lane == 0) mbar_arrive(empty + 8 * s);
    wgmma_wait<0>();
    fence_acc(dq);

    // dq rows: queries qs + 16 wl + g (+ 8), columns 64 wg + 8 j + c2 .. +1 (at 64: 8 j + c2 of the
    // warpgroup's partial sum).
    if constexpr (kDqWriter) {
      // Buffer it % 2, once the writer has read it (tile it - 2). Column 8 j + c2 of the
      // warpgroup's 64 is in box 2 wg + j / 4 at byte 4 (8 (j % 4) + c2) of the row, its 16-byte
      // chunk swizzled by row % 8.
      const int d = it & 1;
      if (it >= 2) mbar_wait(dq_empty + 8 * d, ((it >> 1) - 1) & 1);
      unsigned char* const sdq = gbase + (sdQ - base) + d * kDqBytes;
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int r = wl * 16 + g + 8 * hh;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int chunk = 2 * (j % 4) + c2 / 4;
          const uint32_t off = (2 * wg + j / 4) * kDqBoxBytes + r * 128 + ((chunk ^ (r % 8)) * 16) +
                               (c2 % 4) * 4;
          *reinterpret_cast<float2*>(sdq + off) =
              make_float2(dq[4 * j + 2 * hh] * a.scale, dq[4 * j + 2 * hh + 1] * a.scale);
        }
      }
      asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
      __syncwarp();
      if (lane == 0) mbar_arrive(dq_full + 8 * d);
      continue;
    }
    if constexpr (kDeterministic) {
      if (threadIdx.x == 0) dq_turn_wait(dq_order_of(h, qs), blocks_before(qs));
      asm volatile("bar.sync 2, %0;\n" ::"n"(kConsumers) : "memory");
    }
    float* dqbase = a.dq_accum + (int64_t(b) * a.T * a.H + h) * HD + (HD == 128 ? wg * 64 : 0) + c2;
    const int64_t row_stride = int64_t(a.H) * HD;
    // At 64 both warpgroups add to the same columns; deterministic: warpgroup 0 first.
    constexpr int kPasses = HD == 64 && kDeterministic ? 2 : 1;
#pragma unroll
    for (int pass = 0; pass < kPasses; ++pass) {
      if (kPasses == 1 || wg == pass) {
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int t = qs + wl * 16 + g + 8 * hh;
          if (t >= a.T) continue;
          float* rowp = dqbase + int64_t(t) * row_stride;
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            atomicAdd(reinterpret_cast<float2*>(rowp + 8 * j),
                      make_float2(dq[4 * j + 2 * hh] * a.scale, dq[4 * j + 2 * hh + 1] * a.scale));
          }
        }
      }
      if constexpr (kDeterministic) {
        __threadfence();  // this thread's adds are performed before the next may start
        asm volatile("bar.sync 2, %0;\n" ::"n"(kConsumers) : "memory");
      }
    }
    if constexpr (kDeterministic) {
      if (threadIdx.x == 0) dq_turn_done(dq_order_of(h, qs));
    }
  }

  // dK (times the scale) and dV of key rows k0 + kr0 (+ 8), columns 8 j + c2 .. +1: as bf16 into
  // dk and dv, or with a split group as this split's fp32 partial sums for bwd_reduce_splits.
  const bool partial = a.splits > 1;
  const int64_t width = int64_t(a.KV) * HD;
  const int64_t part = (int64_t(split) * a.B + b) * a.T * width + int64_t(kvh) * HD + c2;
  bf16* dkbase = a.dk + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * HD + c2;
  bf16* dvbase = a.dv + int64_t(b) * a.T * a.kv_stride + int64_t(kvh) * HD + c2;
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int u = k0 + kr0 + 8 * hh;
    if (u >= a.T) continue;
#pragma unroll
    for (int j = 0; j < HD / 8; ++j) {
      const float k_lo = dk[4 * j + 2 * hh] * a.scale, k_hi = dk[4 * j + 2 * hh + 1] * a.scale;
      const float v_lo = dv[4 * j + 2 * hh], v_hi = dv[4 * j + 2 * hh + 1];
      if (partial) {
        const int64_t off = part + int64_t(u) * width + 8 * j;
        *reinterpret_cast<float2*>(a.dk_part + off) = make_float2(k_lo, k_hi);
        *reinterpret_cast<float2*>(a.dv_part + off) = make_float2(v_lo, v_hi);
      } else {
        const int64_t off = int64_t(u) * a.kv_stride + 8 * j;
        *reinterpret_cast<uint32_t*>(dkbase + off) = pack_bf16x2(k_lo, k_hi);
        *reinterpret_cast<uint32_t*>(dvbase + off) = pack_bf16x2(v_lo, v_hi);
      }
    }
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

// dK and dV from the splits' fp32 partial sums, added in split order: element i of the
// (batch, T, KV * head_dim) partials, two columns per thread.
__global__ void bwd_reduce_splits(bf16* dk, bf16* dv, const float* dk_part, const float* dv_part,
                                  int splits, int64_t rows, int64_t width, int64_t kv_stride) {
  const int64_t pair = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pair >= rows * width / 2) return;
  const int64_t i = pair * 2, row = i / width, col = i % width;
  const int64_t plane = rows * width;
  float2 k = make_float2(0.0f, 0.0f), v = make_float2(0.0f, 0.0f);
  for (int sp = 0; sp < splits; ++sp) {
    const float2 pk = *reinterpret_cast<const float2*>(dk_part + sp * plane + i);
    const float2 pv = *reinterpret_cast<const float2*>(dv_part + sp * plane + i);
    k.x += pk.x;
    k.y += pk.y;
    v.x += pv.x;
    v.y += pv.y;
  }
  *reinterpret_cast<__nv_bfloat162*>(dk + row * kv_stride + col) = __floats2bfloat162_rn(k.x, k.y);
  *reinterpret_cast<__nv_bfloat162*>(dv + row * kv_stride + col) = __floats2bfloat162_rn(v.x, v.y);
}

// 1 when this kernel image was built with the sm_90a instructions (the kernel's body exists).
__global__ void sm90a_probe_kernel(int* flag) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  *flag = 1;
#else
  *flag = 0;
#endif
}

bool device_runs_sm90a() {
  static const bool ok = [] {
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess ||
        major != 9 || minor != 0) {
      cudaGetLastError();
      return false;
    }
    int* flag = nullptr;
    if (cudaMalloc(&flag, sizeof(int)) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    int host = 0;
    sm90a_probe_kernel<<<1, 1>>>(flag);
    const bool ran = cudaGetLastError() == cudaSuccess &&
                     cudaMemcpy(&host, flag, sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess;
    cudaFree(flag);
    cudaGetLastError();  // a missing kernel image is an answer here, not an error to keep
    return ran && host == 1;
  }();
  return ok;
}

// cuTensorMapEncodeTiled from the driver, found at run time so the product links no libcuda.
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                 const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                 const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
EncodeTiled encode_tiled() {
  static const EncodeTiled fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      p = nullptr;
      cudaGetLastError();
    }
    return reinterpret_cast<EncodeTiled>(p);
  }();
  return fn;
}

// (column, row, batch) view of `cols` columns of `elem_bytes`-byte elements in rows of `stride`
// elements, T rows per batch entry; boxes of 128 bytes of columns x box_rows rows in the 128-byte
// swizzle.
CUtensorMap tiled_map(const void* ptr, CUtensorMapDataType type, int64_t elem_bytes, int64_t cols,
                      int64_t stride, int64_t T, int64_t B, uint32_t box_rows) {
  CUtensorMap map{};
  const cuuint64_t dims[3] = {cuuint64_t(cols), cuuint64_t(T), cuuint64_t(B)};
  const cuuint64_t strides[2] = {cuuint64_t(stride * elem_bytes),
                                 cuuint64_t(T * stride * elem_bytes)};
  const cuuint32_t box[3] = {cuuint32_t(128 / elem_bytes), box_rows, 1};
  const cuuint32_t elem[3] = {1, 1, 1};
  const CUresult r =
      encode_tiled()(&map, type, 3, const_cast<void*>(ptr), dims, strides, box, elem,
                     CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                     CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    throw runtime_error("attention (sm90): cuTensorMapEncodeTiled failed (" +
                        std::to_string(int(r)) + ")");
  }
  return map;
}
// `heads` heads of hd bf16 columns: boxes of 64 columns.
CUtensorMap head_map(const bf16* ptr, int64_t heads, int64_t stride, int64_t T, int64_t B,
                     uint32_t box_rows, int64_t hd) {
  return tiled_map(ptr, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, heads * hd, stride, T, B, box_rows);
}

// The backward's dQ writer warp unless SXB_ATTENTION_SM90_DQ_WRITER=0 (A/B tuning knob, read
// once): then the consumers add dQ with their own atomics.
bool dq_writer_enabled() {
  static const bool on = environment_knob_bool("SXB_ATTENTION_SM90_DQ_WRITER").value_or(true);
  return on;
}

// The overlapped consumer loop unless SXB_ATTENTION_SM90_OVERLAP=0 (A/B tuning knob, read once).
bool overlap_enabled() {
  static const bool on = environment_knob_bool("SXB_ATTENTION_SM90_OVERLAP").value_or(true);
  return on;
}

}  // namespace

bool attention_forward_sm90_supports(const AttentionShape& s) {
  return (s.hd == 128 || s.hd == 64) && s.window >= 0 && s.KV > 0 && s.H % s.KV == 0 && device_runs_sm90a() &&
         encode_tiled() != nullptr;
}

bool attention_backward_sm90_supports(const AttentionShape& s) {
  return attention_forward_sm90_supports(s);  // the same head_dims: 64 and 128
}

bool attention_sm90_inputs_aligned(const void* q, const void* k, const void* v) {
  const auto aligned16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return aligned16(q) && aligned16(k) && aligned16(v);
}

void attention_forward_sm90(bf16* o, float* lse, const bf16* q, const bf16* k, const bf16* v,
                            const AttentionShape& s, cudaStream_t stream) {
  if (!attention_forward_sm90_supports(s)) {
    throw usage_error(
        "attention_forward_sm90: needs an sm_90a build on an sm_90 GPU and head_dim 64 or 128");
  }
  if (!attention_sm90_inputs_aligned(q, k, v)) {
    throw usage_error("attention_forward_sm90: q, k and v must be 16-byte aligned");
  }
  const CUtensorMap mq = head_map(q, s.H, s.q_stride, s.T, s.B, kRows, s.hd);
  const CUtensorMap mk = head_map(k, s.KV, s.kv_stride, s.T, s.B, kRows, s.hd);
  const CUtensorMap mv = head_map(v, s.KV, s.kv_stride, s.T, s.B, kRows, s.hd);
  Sm90Args a{};
  a.out = o;
  a.lse = lse;
  a.o_stride = s.o_stride;
  a.T = static_cast<int>(s.T);
  a.H = static_cast<int>(s.H);
  a.KV = static_cast<int>(s.KV);
  a.window = s.window < s.T ? static_cast<int>(s.window) : 0;  // a window of T or more: none
  a.scale_log2 = float(1.0 / std::sqrt(double(s.hd))) * kLog2eSm90;
  static const bool smem_set = [] {
    cudaFuncSetAttribute(flash_forward_sm90_kernel<true, 128>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(fwd_smem_bytes<128>()));
    cudaFuncSetAttribute(flash_forward_sm90_kernel<false, 128>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(fwd_smem_bytes<128>()));
    cudaFuncSetAttribute(flash_forward_sm90_kernel<true, 64>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(fwd_smem_bytes<64>()));
    cudaFuncSetAttribute(flash_forward_sm90_kernel<false, 64>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(fwd_smem_bytes<64>()));
    return true;
  }();
  (void)smem_set;
  const dim3 grid(static_cast<unsigned>(s.H), static_cast<unsigned>(s.B),
                  static_cast<unsigned>((s.T + kRows - 1) / kRows));
  const bool overlap = overlap_enabled();
  if (s.hd == 128) {
    if (overlap) {
      flash_forward_sm90_kernel<true, 128>
          <<<grid, kThreadsSm90, fwd_smem_bytes<128>(), stream>>>(mq, mk, mv, a);
    } else {
      flash_forward_sm90_kernel<false, 128>
          <<<grid, kThreadsSm90, fwd_smem_bytes<128>(), stream>>>(mq, mk, mv, a);
    }
  } else if (overlap) {
    flash_forward_sm90_kernel<true, 64><<<grid, kThreadsSm90, fwd_smem_bytes<64>(), stream>>>(mq, mk,
                                                                                             mv, a);
  } else {
    flash_forward_sm90_kernel<false, 64><<<grid, kThreadsSm90, fwd_smem_bytes<64>(), stream>>>(mq, mk,
                                                                                              mv, a);
  }
  check_launch("attention_forward_sm90");
}

// How many blocks the query heads of each group are split over: 1 (none) unless the grid would
// have fewer than 3.5 blocks per SM (one block fits an SM; the causal blocks' work is uneven),
// then the smallest divisor of the group size that reaches it, at most the group size.
// SXB_ATTENTION_GQA_SPLIT=0 (read once) turns it off: then one block runs every query head of its
// kv head.
int backward_splits(const AttentionShape& s, int key_blocks) {
  static const bool on = environment_knob_bool("SXB_ATTENTION_GQA_SPLIT").value_or(true);
  const int group = static_cast<int>(s.H / s.KV);
  if (!on || group == 1) return 1;
  static const int sms = [] {
    int dev = 0, n = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      cudaGetLastError();
      return 0;  // unknown: no split
    }
    return n;
  }();
  const int64_t blocks = int64_t(key_blocks) * s.KV * s.B;
  for (int d = 1; d <= group; ++d) {
    if (group % d == 0 && 2 * blocks * d >= 7 * int64_t(sms)) return d;
  }
  return group;
}

bool attention_backward_deterministic() {
  static const bool on = environment_knob_bool("SXB_ATTENTION_DETERMINISTIC").value_or(false);
  return on;
}

void attention_backward_sm90(float* dq_accum, bf16* dk, bf16* dv, const float* dsum,
                             const bf16* dout, const float* lse, const bf16* q, const bf16* k,
                             const bf16* v, const AttentionShape& s, cudaStream_t stream) {
  if (!attention_backward_sm90_supports(s)) {
    throw usage_error(
        "attention_backward_sm90: needs an sm_90a build on an sm_90 GPU and head_dim 64 or 128");
  }
  if (!attention_sm90_inputs_aligned(q, k, v) ||
      !attention_sm90_inputs_aligned(dout, dq_accum, dq_accum)) {
    throw usage_error(
        "attention_backward_sm90: q, k, v, dout and dq_accum must be 16-byte aligned");
  }
  const CUtensorMap mq = head_map(q, s.H, s.q_stride, s.T, s.B, kBwdRows, s.hd);
  const CUtensorMap mk = head_map(k, s.KV, s.kv_stride, s.T, s.B, kBwdKeys, s.hd);
  const CUtensorMap mv = head_map(v, s.KV, s.kv_stride, s.T, s.B, kBwdKeys, s.hd);
  const CUtensorMap mdo = head_map(dout, s.H, s.o_stride, s.T, s.B, kBwdRows, s.hd);
  // dq_accum (B * T rows of H * head_dim fp32): the dQ writer's 32-column boxes of 64 rows.
  const CUtensorMap mdq = tiled_map(dq_accum, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 4, s.H * s.hd,
                                    s.H * s.hd, s.T, s.B, kBwdRows);
  Sm90BwdArgs a{};
  a.lse = lse;
  a.dsum = dsum;
  a.dq_accum = dq_accum;
  a.dk = dk;
  a.dv = dv;
  a.kv_stride = s.kv_stride;
  a.T = static_cast<int>(s.T);
  a.H = static_cast<int>(s.H);
  a.KV = static_cast<int>(s.KV);
  a.window = s.window < s.T ? static_cast<int>(s.window) : 0;  // a window of T or more: none
  a.scale = float(1.0 / std::sqrt(double(s.hd)));
  a.scale_log2 = a.scale * kLog2eSm90;
  // The kernel's forms, [head_dim 64 or 128][deterministic][dQ writer], and their shared memory.
  static constexpr decltype(&flash_backward_sm90_kernel<false, false, 128>) kForms[2][2][2] = {
      {{flash_backward_sm90_kernel<false, false, 64>, flash_backward_sm90_kernel<false, true, 64>},
       {flash_backward_sm90_kernel<true, false, 64>, flash_backward_sm90_kernel<true, true, 64>}},
      {{flash_backward_sm90_kernel<false, false, 128>, flash_backward_sm90_kernel<false, true, 128>},
       {flash_backward_sm90_kernel<true, false, 128>, flash_backward_sm90_kernel<true, true, 128>}}};
  static constexpr size_t kSmem[2] = {bwd_smem_bytes<64>(), bwd_smem_bytes<128>()};
  static const bool smem_set = [] {
    for (int w = 0; w < 2; ++w) {
      for (const auto& by_writer : kForms[w]) {
        for (const auto kernel : by_writer) {
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               int(kSmem[w]));
        }
      }
    }
    return true;
  }();
  (void)smem_set;
  const int wide = s.hd == 128 ? 1 : 0;
  const int key_blocks = static_cast<int>((s.T + kBwdKeys - 1) / kBwdKeys);
  a.splits = backward_splits(s, key_blocks);
  a.B = static_cast<int>(s.B);
  const dim3 grid(static_cast<unsigned>(s.KV * a.splits), static_cast<unsigned>(s.B),
                  static_cast<unsigned>(key_blocks));
  // Split groups: fp32 partial dK and dV per split from the stream-ordered allocator.
  const int64_t rows = s.B * s.T, width = s.KV * s.hd;
  const size_t part_elems = size_t(a.splits) * size_t(rows * width);
  if (a.splits > 1) {
    cuda_check(cudaMallocAsync(reinterpret_cast<void**>(&a.dk_part), 2 * part_elems * sizeof(float),
                               stream),
               "attention_backward_sm90: cudaMallocAsync of the split partial sums");
    a.dv_part = a.dk_part + part_elems;
  }
  auto reduce_splits = [&] {
    if (a.splits == 1) return;
    const int64_t pairs = rows * width / 2;
    bwd_reduce_splits<<<static_cast<unsigned>((pairs + 255) / 256), 256, 0, stream>>>(
        dk, dv, a.dk_part, a.dv_part, a.splits, rows, width, s.kv_stride);
    check_launch("attention_backward_sm90 (split sums)");
    cuda_check(cudaFreeAsync(a.dk_part, stream), "attention_backward_sm90: cudaFreeAsync");
  };
  const bool writer = dq_writer_enabled();
  auto launch = [&](bool deterministic) {
    kForms[wide][deterministic][writer]<<<grid, kThreadsSm90, kSmem[wide], stream>>>(mq, mk, mv,
                                                                                     mdo, mdq, a);
  };
  if (!s.deterministic) {
    a.dq_order = nullptr;
    launch(false);
    check_launch("attention_backward_sm90");
    reduce_splits();
    return;
  }
  // One counter per (batch, head, 64-query tile), zeroed, from the stream-ordered allocator.
  const size_t counters = size_t(s.B * s.H * ((s.T + kBwdRows - 1) / kBwdRows));
  cuda_check(cudaMallocAsync(reinterpret_cast<void**>(&a.dq_order), counters * sizeof(int), stream),
             "attention_backward_sm90: cudaMallocAsync of the dq order counters");
  cuda_check(cudaMemsetAsync(a.dq_order, 0, counters * sizeof(int), stream),
             "attention_backward_sm90: clearing the dq order counters");
  launch(true);
  check_launch("attention_backward_sm90 (deterministic)");
  cuda_check(cudaFreeAsync(a.dq_order, stream), "attention_backward_sm90: cudaFreeAsync");
  reduce_splits();
}

}  // namespace sxb::gpu
