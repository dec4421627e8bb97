#pragma once
// CUDA operators of the Llama decoder for sxbench's training engine (CUDA builds only). Each
// function launches on `stream` and returns at once; pointers are device pointers. Activations
// are bf16 with fp32 arithmetic inside every kernel; parameter gradients and optimizer state are
// fp32. Layouts are row-major and match the CPU reference (train/cpu_ops.hpp): B = batch,
// T = sequence, N = B*T rows (row n = token t = n % T of sequence b = n / T), C = channels,
// V = vocabulary, F = MLP width. Shapes below are in elements, bf16 unless fp32 is said; a
// parameter's gradient has its parameter's shape. Backward functions that say "adds" accumulate
// into their gradient outputs; the others write them.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace sxb::gpu {

using bf16 = __nv_bfloat16;

// SMs of the current device (read once; 1 where it cannot be read).
int sm_count();

// --- elementwise and row operators -------------------------------------------------------

// out[n, :] = wte[tokens[n], :].  out: (N, C); tokens: (N) int32 in [0, V); wte: (V, C).
void embedding_forward(bf16* out, const int32_t* tokens, const bf16* wte, int64_t N, int64_t C,
                       cudaStream_t stream);
// dwte[tokens[n], :] += dout[n, :] for every n (fp32 atomics: repeated tokens add up).
// dwte: (V, C) fp32; dout: (N, C).
void embedding_backward(float* dwte, const bf16* dout, const int32_t* tokens, int64_t N, int64_t C,
                        cudaStream_t stream);

// RMSNorm: rstd[n] = 1 / sqrt(mean_c(x[n, c]^2) + eps), out[n, c] = x[n, c] * rstd[n] * w[c].
// x, out: (N, C); w: (C); rstd: (N) fp32, kept for the backward. C a multiple of 8, <= 8192.
void rmsnorm_forward(bf16* out, float* rstd, const bf16* x, const bf16* w, int64_t N, int64_t C,
                     float eps, cudaStream_t stream);
// Writes dx = (residual ? residual : 0) + rmsnorm input gradient (dx may alias residual) and
// adds the weight gradient into dw (fp32). With g = dout * w, per row n:
//   dx = rstd * g - x * rstd^3 * mean_c(g * x);   dw[c] += sum_n dout * x * rstd.
// dx, dout, x, residual: (N, C); w: (C); dw: (C) fp32; rstd: (N) fp32 from the forward.
void rmsnorm_backward(bf16* dx, float* dw, const bf16* dout, const bf16* x, const bf16* w,
                      const float* rstd, const bf16* residual, int64_t N, int64_t C,
                      cudaStream_t stream);

// Rotary embedding in place on `heads` heads of hd channels, starting at channel `col0` of rows
// of `row_stride` elements (so q and k can be rotated inside the fused qkv buffer, where the kv
// heads follow the query heads: one call with H + KV heads rotates both). Position of row n is
// n % T; cos/sin tables are (T, hd/2) fp32, cos[t, i] = cos(t * inv_freq[i]) (cpu::rope_inv_freq,
// cpu::rope_tables). Hugging Face pairing (i, i + hd/2) within each head, i < hd/2, with
// a = x[i], b = x[i + hd/2]:
//   x[i] = a cos - b sin;   x[i + hd/2] = b cos + a sin.
// x: (N, row_stride), head h at channels col0 + h*hd. hd, row_stride and col0 multiples of 16,
// 8 and 8.
void rope_forward(bf16* x, int64_t row_stride, int64_t col0, const float* cos_table,
                  const float* sin_table, int64_t N, int64_t T, int64_t heads, int64_t hd,
                  cudaStream_t stream);
// The inverse rotation (the backward: the rotation is orthogonal, so its gradient is its
// transpose), in place: dx[i] = a cos + b sin; dx[i + hd/2] = b cos - a sin.
void rope_backward(bf16* dx, int64_t row_stride, int64_t col0, const float* cos_table,
                   const float* sin_table, int64_t N, int64_t T, int64_t heads, int64_t hd,
                   cudaStream_t stream);
// Inverse rotation of an fp32 gradient (N, heads*hd contiguous), written as bf16 into dst rows
// of `row_stride` elements from channel col0.
void rope_backward_f32(bf16* dst, int64_t row_stride, int64_t col0, const float* src,
                       const float* cos_table, const float* sin_table, int64_t N, int64_t T,
                       int64_t heads, int64_t hd, cudaStream_t stream);

// SwiGLU on the fused gate|up rows gu (N, 2F), gate g = gu[n, f], up u = gu[n, F + f]:
// act[n, f] = silu(g) * u, silu(g) = g * sigmoid(g).  act: (N, F). F a multiple of 8.
void swiglu_forward(bf16* act, const bf16* gu, int64_t N, int64_t F, cudaStream_t stream);
// Writes dgu (N, 2F) from dact (N, F), s = sigmoid(g):
//   dgate = dact * u * s * (1 + g (1 - s)),   dup = dact * silu(g).
void swiglu_backward(bf16* dgu, const bf16* dact, const bf16* gu, int64_t N, int64_t F,
                     cudaStream_t stream);

// Fused softmax cross-entropy over logits (N, V), in place: each row with a target >= 0 adds
// logsumexp - logit[target] into *loss_sum (double) and its logits are replaced by
// dloss * (softmax - onehot(target)); ignored rows (target < 0) become 0. targets: (N) int32;
// loss_sum: one device double. The logits buffer holds their gradient afterwards, so no (N, V)
// gradient buffer exists.
void cross_entropy_fused(bf16* logits, double* loss_sum, const int32_t* targets, int64_t N,
                         int64_t V, float dloss, cudaStream_t stream);

// --- master weights ------------------------------------------------------------------------

// fp32 master weights are held as two 16-bit halves: the bf16 working copy w, which is the
// master rounded to nearest (ties away from zero), and lo, the master's low 16 bits. The pair
// encodes the fp32 value exactly: the rounding went up iff lo >= 0x8000, so the master's high
// half is w - (lo >> 15). The matrix products read w directly and AdamW reads and writes 4 bytes
// per weight instead of 4 + a separate 2-byte working copy.
#if defined(__CUDACC__)
#define SXB_HOST_DEVICE __host__ __device__
#else
#define SXB_HOST_DEVICE
#endif
SXB_HOST_DEVICE inline void split_master_bits(uint32_t master, uint16_t& w, uint16_t& lo) {
  lo = uint16_t(master & 0xffffu);
  w = uint16_t((master >> 16) + (lo >> 15));
}
SXB_HOST_DEVICE inline uint32_t join_master_bits(uint16_t w, uint16_t lo) {
  return (uint32_t(uint16_t(w - (lo >> 15))) << 16) | lo;
}
#undef SXB_HOST_DEVICE

// --- optimizer -----------------------------------------------------------------------------

// A contiguous piece of the flat parameter buffer with one weight-decay setting. AdamW runs
// over a table of such chunks (multi-tensor launch: one block per chunk).
struct AdamChunk {
  int64_t offset;
  int32_t size;
  int32_t decay;  // 1: weight decay applies (matrices), 0: not (norm weights)
};
struct AdamHyper {
  float lr, beta1, beta2, eps, weight_decay;
  float step_size;     // lr / (1 - beta1^t)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^t)
  int decoupled;       // 1: AdamW (p -= lr*wd*p), 0: L2 (g += wd*p)
};
// Splits tensors into chunks of at most max_chunk elements.
constexpr int32_t kAdamChunkElements = 1 << 16;

// *sumsq += sum_i g[i]^2, i < n (one device double, atomic adds of per-block sums); g fp32 or
// bf16. The global gradient norm is sqrt of the sum over all parameter units.
void sum_squares(double* sumsq, const float* g, int64_t n, cudaStream_t stream);
void sum_squares(double* sumsq, const bf16* g, int64_t n, cudaStream_t stream);
// clip = (max_norm > 0 && norm > max_norm) ? max_norm / (norm + 1e-6) : 1, norm = sqrt(*sumsq);
// written to *clip_coef and *norm_out (device scalars).
void clip_coefficient(float* clip_coef, double* norm_out, const double* sumsq, double max_norm,
                      cudaStream_t stream);
// One AdamW step (torch.optim.AdamW's update, the math in train/optimizer.hpp) on every chunk,
// with g (fp32 or bf16) scaled by *clip_coef; updates the split master (w, lo) and the moments
// m, v (fp32). Per element, with p = join(w, lo) in fp32 and wd = h.weight_decay where the
// chunk decays, else 0:
//   g *= clip;  decoupled: p -= lr wd p, else g += wd p;
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= step_size m / (sqrt(v) inv_sqrt_bc2 + eps)
// (optimizer.hpp's update with its bias corrections folded into step_size and inv_sqrt_bc2),
// then (w, lo) = split(p).
// Chunk offsets are flat elements; lo, m and v hold the state from element state_shift on, g the
// gradients from grad_shift on and w the weights from weight_shift on (a shard's start when that
// array is sharded; 0 for the whole model). max_blocks 0: a block per chunk over the whole GPU;
// above 0: at most that many blocks of 1024 threads, each taking chunk after chunk, so the
// update occupies about that many SMs beside a concurrent stream.
void adamw_step(bf16* w, uint16_t* lo, float* m, float* v, const float* g, const float* clip_coef,
                const AdamChunk* chunks, int64_t n_chunks, const AdamHyper& h, cudaStream_t stream,
                int64_t state_shift = 0, int64_t grad_shift = 0, int64_t weight_shift = 0,
                int max_blocks = 0);
void adamw_step(bf16* w, uint16_t* lo, float* m, float* v, const bf16* g, const float* clip_coef,
                const AdamChunk* chunks, int64_t n_chunks, const AdamHyper& h, cudaStream_t stream,
                int64_t state_shift = 0, int64_t grad_shift = 0, int64_t weight_shift = 0,
                int max_blocks = 0);
// y[i] += x[i], i < n (fp32).
void add_into(float* y, const float* x, int64_t n, cudaStream_t stream);

// --- weights -------------------------------------------------------------------------------

// Adds the sum (mod 2^64) of words[0..n) of `data` (32-bit words) to *sum: an order-independent
// checksum, equal for equal buffers.
void word_sum(uint64_t* sum, const void* data, int64_t words, cudaStream_t stream);

// Where a tensor's low halves go: element i (begin <= i < end) at lo[i + shift]. A sharded
// master keeps only its shard's; the whole tensor: {lo, 0, 0, n}. shard_weights: the working
// copy w is sharded the same way (ZeRO-3: w[i + shift] for the same elements only).
struct MasterLows {
  uint16_t* lo;
  int64_t shift, begin, end;
  bool shard_weights = false;
};
// Master weight i < n = std_dev * z(seed, stream, i), z the standard normal sequence of
// sxb::NormalStream (SplitMix64 + Box-Muller, train/random.hpp) evaluated per element, so
// weights equal the CPU reference's for the same seed; stored split into the working copy w (all
// n) and the low halves `lo` says.
void init_normal(bf16* w, const MasterLows& lo, int64_t n, uint64_t seed, uint64_t stream_id,
                 double std_dev, cudaStream_t stream);
void fill(bf16* w, const MasterLows& lo, int64_t n, float value, cudaStream_t stream);
// Between fp32 (n elements) and the split master form (w: n bf16, lo: n uint16).
void split_master(bf16* w, uint16_t* lo, const float* src, int64_t n, cudaStream_t stream);
void join_master(float* dst, const bf16* w, const uint16_t* lo, int64_t n, cudaStream_t stream);
// dst[i] = bf16(src[i]), round to nearest even.
void cast(bf16* dst, const float* src, int64_t n, cudaStream_t stream);

// --- attention -----------------------------------------------------------------------------

// Causal self-attention with grouped-query heads (query head h reads kv head h / (H / KV)),
// computed flash style: tiles of queries against tiles of keys with an online softmax, so no
// T x T matrix exists in memory. Query rows of head h start at q + (b*T + t)*q_stride + h*hd,
// key/value rows at k/v + (b*T + t)*kv_stride + kvh*hd. head_dim: 16, 32, 64 or 128; strides and
// pointers 16-byte aligned. window > 0: a query sees only the last `window` keys (Mistral).
struct AttentionShape {
  int64_t B = 0, T = 0, H = 0, KV = 0, hd = 0;
  int64_t window = 0;
  int64_t q_stride = 0, kv_stride = 0, o_stride = 0;
  // Backward only: dq's fp32 sums added in a fixed order, so gradients are the same on every run
  // (the Hopper kernel; attention_backward refuses it where that kernel does not apply).
  bool deterministic = false;
};
// SXB_ATTENTION_DETERMINISTIC=1: the engine asks every attention backward for `deterministic`.
bool attention_backward_deterministic();
bool attention_supports_head_dim(int64_t hd);
// Which kernel attention_forward and attention_backward run. automatic: the Hopper kernels
// (wgmma, TMA; sm_90a builds on sm_90 devices, head_dim 64 or 128, with or without a window,
// 16-byte aligned inputs) where they apply unless the environment says SXB_ATTENTION_FORWARD=mma
// or SXB_ATTENTION_BACKWARD=mma (read once); the mma.sync kernel elsewhere. mma: always the mma.sync kernel (any GPU, every
// supported shape). sm90: the Hopper kernel, or an error where it does not apply.
enum class AttentionKernel { automatic, mma, sm90 };
// The kernel (mma or sm90) the automatic choice runs at this shape, for 16-byte aligned inputs;
// a deterministic backward always asks for the Hopper kernel.
AttentionKernel attention_kernel_choice(const AttentionShape& s, bool backward);
// o (rows of o_stride, head h at h*hd); lse (B, H, T) fp32: log2-domain log-sum-exp of the
// scaled scores, kept for the backward.
void attention_forward(bf16* o, float* lse, const bf16* q, const bf16* k, const bf16* v,
                       const AttentionShape& s, cudaStream_t stream,
                       AttentionKernel kernel = AttentionKernel::automatic);
// Writes dk, dv (bf16, rows of kv_stride like k and v) and dq_accum (fp32, (B*T, H*hd)
// contiguous, zeroed here) from dout (rows of o_stride). dsum: scratch (B, H, T) fp32.
void attention_backward(float* dq_accum, bf16* dk, bf16* dv, float* dsum, const bf16* dout,
                        const bf16* o, const float* lse, const bf16* q, const bf16* k,
                        const bf16* v, const AttentionShape& s, cudaStream_t stream,
                        AttentionKernel kernel = AttentionKernel::automatic);

// --- test-only --------------------------------------------------------------------------

// Keeps `stream` busy for `seconds` (one resident thread reading the GPU's timer; the SMs stay
// free for other streams): the test-only straggler's stretch (SXB_FAULT_INJECT=slow:R[:F]).
void hold_stream(double seconds, cudaStream_t stream);

}  // namespace sxb::gpu
