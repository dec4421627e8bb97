#pragma once
// Activation recomputation: what a decoder layer's forward keeps for its backward and what the
// backward rebuilds, in each mode. This is the one definition: the CUDA engine's buffers
// (perfmodel/gpu_memory.hpp, allocated by train/gpu_model_cuda.cpp, which the performance model's
// memory term also is), the extra forward work of recomputation (model/flops.hpp, and the
// performance model's repeated products and passes, perfmodel/perf_model.cpp) all read it, and
// the CPU reference's full mode does the same work.
//
// Decoder layer l, on N tokens, maps its input x (the residual stream) to the next layer's input:
//   ln1 = RMSNorm(x)   (rstd1 = 1 / rms(x) per token, fp32)
//   qkv = ln1 Wqkvᵀ    (RoPE applied to q and k in place)
//   o   = attention(q, k, v)   (lse = log-sum-exp per head and token, fp32)
//   xm  = x + o Woᵀ    (the mid residual)
//   ln2 = RMSNorm(xm)  (rstd2, fp32)
//   gu  = ln2 [W_gate; W_up]ᵀ
//   act = silu(gate) ⊙ up
//   out = xm + act W_downᵀ
// Its backward reads, per token, in bf16 unless marked (d hidden, kv = kv heads x head dim,
// F SwiGLU width, H query heads):
//   rstd1 1 fp32, qkv d + 2 kv, o d, lse H fp32, xm d, rstd2 1 fp32, gu 2 F, ln1 d, ln2 d, act F.
// Every layer's input x is kept in every mode (the residual stream, L + 1 buffers of N x d).
//
//   none       each layer keeps all ten tensors: 2 (6 d + 2 kv + 3 F) + 4 H + 8 bytes per token
//              per layer, with x.
//   selective  each layer keeps all but ln1, ln2 and act (the two RMSNorm outputs and the SwiGLU
//              output); the backward rebuilds them from what is kept: ln2 = RMSNorm(xm) and
//              act = silu(gate) ⊙ up before the MLP backward, ln1 = RMSNorm(x) before the
//              attention backward. One N x d buffer holds whichever normed input is live, one
//              N x F buffer the SwiGLU output. Saves 2 (2 d + F) bytes per token per layer for
//              2 (d + F) once. Elementwise work only: no matrix product is repeated, so the
//              extra model FLOPs are 0 (PaLM's count, like this one, leaves elementwise work out).
//   full       each layer keeps only its input x. Before a layer's backward its forward runs
//              again up to act, into one set of the selective tensors and the two shared
//              buffers, reused by every layer; the down projection is not repeated (its output,
//              the next layer's input, is kept). Extra forward FLOPs per token per layer:
//                2 (d (d + 2 kv) + d d + 2 d F)   qkv, output projection, gate and up
//              + 4 d T                            attention scores and values (PaLM's
//                                                 convention: the full T x T product)
//              times L.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_shape.hpp"

namespace sxb {

enum class Recompute { none, selective, full };
std::string recompute_name(Recompute r);  // none, selective, full
// The mode recompute_name() spells; nullopt for anything else.
std::optional<Recompute> parse_recompute_name(std::string_view name);

// One buffer that holds layer tensors for the backward under a recomputation mode.
struct LayerActivationBuffer {
  std::string name;           // the CUDA engine's buffer: "layer.qkv", "shared.ln", ...
  int64_t per_token = 0;      // elements per token
  int64_t element_bytes = 2;  // bf16 2, fp32 4
  bool per_layer = true;      // one instance per layer; else one instance reused by every layer

  int64_t bytes_per_token() const { return per_token * element_bytes; }
};

// The buffers of mode r, in the engine's allocation order (the x of each layer not included):
//   none:      layer.rstd1, .qkv, .o, .lse, .xm, .rstd2, .gu, .ln1, .ln2, .act, all per layer;
//   selective: the first seven per layer, then shared.ln and shared.act once;
//   full:      the same nine, each once.
std::vector<LayerActivationBuffer> layer_activation_buffers(const ModelShape& m, Recompute r);

// Bytes per token that the L decoder layers hold for their backward under r: the L layer
// inputs (2 d each) plus layer_activation_buffers (the per-layer ones L times, the rest once).
double layer_activation_bytes_per_token(const ModelShape& m, Recompute r);

}  // namespace sxb
