#pragma once
// CPU reference operators of the Llama decoder, one function per op, forward and backward.
// Scalar is float (the training reference) or double (gradient checks). Layouts are row-major;
// B = batch, T = sequence, C = channels, N = B*T rows. Backward functions ADD into their
// gradient outputs (parameter gradients accumulate over micro-batches; activation gradient
// buffers are zeroed by the caller), except where a comment says "writes".
#include <cstdint>
#include <vector>

#include "model/model_config.hpp"

namespace sxb::cpu {

// out[n, c] = wte[tokens[n], c].  out: (N, C), wte: (V, C).
template <typename Scalar>
void embedding_forward(Scalar* out, const int32_t* tokens, const Scalar* wte, int64_t N, int64_t C);
// dwte[tokens[n], c] += dout[n, c] (repeated tokens add up).  dwte: (V, C), dout: (N, C).
template <typename Scalar>
void embedding_backward(Scalar* dwte, const Scalar* dout, const int32_t* tokens, int64_t N,
                        int64_t C);

// RMSNorm per row: rstd[n] = 1 / sqrt(mean_c(x[n,c]^2) + eps); out[n,c] = x[n,c] * rstd[n] * w[c].
// out, x: (N, C); w: (C); rstd: (N), saved for backward.
template <typename Scalar>
void rmsnorm_forward(Scalar* out, Scalar* rstd, const Scalar* x, const Scalar* w, int64_t N,
                     int64_t C, double eps);
// With g = dout * w:  dx = rstd * g - x * rstd^3 * mean_c(g * x);  dw[c] += sum_n dout * x * rstd.
// dx, dout, x: (N, C); dw, w: (C); rstd: (N) from the forward.
template <typename Scalar>
void rmsnorm_backward(Scalar* dx, Scalar* dw, const Scalar* dout, const Scalar* x, const Scalar* w,
                      const Scalar* rstd, int64_t N, int64_t C);

// Linear layer without bias, PyTorch's weight layout: out = x W^T.
// out: (N, OC), x: (N, C), W: (OC, C).
template <typename Scalar>
void matmul_forward(Scalar* out, const Scalar* x, const Scalar* W, int64_t N, int64_t C,
                    int64_t OC);
// dx += dout W;  dW += dout^T x.  dx: (N, C), dW: (OC, C), dout: (N, OC).
template <typename Scalar>
void matmul_backward(Scalar* dx, Scalar* dW, const Scalar* dout, const Scalar* x, const Scalar* W,
                     int64_t N, int64_t C, int64_t OC);

// Rotary frequencies inv_freq[i] = theta^(-2i/head_dim), i < head_dim/2, with Llama 3 scaling
// when the config has it (long wavelengths divided by `factor`, a smooth blend in between).
std::vector<double> rope_inv_freq(const ModelConfig& cfg);
// cos/sin tables (T, head_dim/2) row-major: table[t, i] = cos/sin(t * inv_freq[i]).
template <typename Scalar>
void rope_tables(Scalar* cos_table, Scalar* sin_table, const std::vector<double>& inv_freq,
                 int64_t T);
// In place on x: (B, T, nh, hd), Hugging Face's rotate_half pairing (i, i + hd/2):
//   x'[i] = x[i] cos - x[i+hd/2] sin;  x'[i+hd/2] = x[i+hd/2] cos + x[i] sin,  angle of (t, i).
template <typename Scalar>
void rope_forward(Scalar* x, const Scalar* cos_table, const Scalar* sin_table, int64_t B, int64_t T,
                  int64_t nh, int64_t hd);
// The rotation is orthogonal, so its backward rotates the gradient by -angle (in place):
//   dx'[i] = dx[i] cos + dx[i+hd/2] sin;  dx'[i+hd/2] = dx[i+hd/2] cos - dx[i] sin.
template <typename Scalar>
void rope_backward(Scalar* dx, const Scalar* cos_table, const Scalar* sin_table, int64_t B,
                   int64_t T, int64_t nh, int64_t hd);

// Causal self-attention with grouped-query heads: query head h reads kv head h / (H / KV).
// q, out: (B, T, H, hd); k, v: (B, T, KV, hd); att: (B, H, T, T) softmax probabilities, saved.
//   s[t, u] = q_t . k_u / sqrt(hd) for u in [max(0, t - window + 1), t] (window 0: no limit);
//   att[t, :] = softmax(s[t, :]) (zero outside the window);  out_t = sum_u att[t, u] v_u.
template <typename Scalar>
void attention_forward(Scalar* out, Scalar* att, const Scalar* q, const Scalar* k, const Scalar* v,
                       int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd, int64_t window);
// Per query t of head h, with dp[u] = dout_t . v_u:
//   ds[u] = att[u] (dp[u] - sum_u' att[u'] dp[u']);
//   dq_t += sum_u ds[u] k_u / sqrt(hd);  dk_u += ds[u] q_t / sqrt(hd);  dv_u += att[u] dout_t
// (dk, dv of kv head h / (H / KV): the group's query heads add into them). dq, dout: (B, T, H,
// hd); dk, dv: (B, T, KV, hd); att from the forward.
template <typename Scalar>
void attention_backward(Scalar* dq, Scalar* dk, Scalar* dv, const Scalar* dout, const Scalar* q,
                        const Scalar* k, const Scalar* v, const Scalar* att, int64_t B, int64_t T,
                        int64_t H, int64_t KV, int64_t hd, int64_t window);

// SwiGLU: out = silu(gate) * up, silu(g) = g * sigmoid(g). All (N, F).
template <typename Scalar>
void swiglu_forward(Scalar* out, const Scalar* gate, const Scalar* up, int64_t N, int64_t F);
// dgate += dout * up * sigmoid(g) * (1 + g (1 - sigmoid(g)));  dup += dout * silu(g).
// All (N, F); g = gate.
template <typename Scalar>
void swiglu_backward(Scalar* dgate, Scalar* dup, const Scalar* dout, const Scalar* gate,
                     const Scalar* up, int64_t N, int64_t F);

// out[i] += x[i], i < n (residual connection; n = N * C for a (N, C) stream).
template <typename Scalar>
void residual_add(Scalar* out, const Scalar* x, int64_t n);

// Cross-entropy of logits (N, V) against targets (N); target -1 is ignored (prompt tokens,
// padding). Writes losses[n] = logsumexp(logits[n]) - logits[n, target] (0 when ignored).
// Returns the sum over non-ignored rows, accumulated in double.
template <typename Scalar>
double cross_entropy_forward(Scalar* losses, const Scalar* logits, const int32_t* targets,
                             int64_t N, int64_t V);
// Writes dlogits[n, :] = dloss * (softmax(logits[n]) - onehot(target)), 0 for ignored rows.
// dloss is d(objective)/d(loss of one token), the same for every counted token.
template <typename Scalar>
void cross_entropy_backward(Scalar* dlogits, const Scalar* logits, const int32_t* targets,
                            double dloss, int64_t N, int64_t V);

}  // namespace sxb::cpu
