#pragma once
// FLOPs per trained token, the one home of the formulas that every figure uses (training
// metrics, the performance model, the plan, sales, claims checks).
#include <cstdint>

#include "model/model_shape.hpp"
#include "model/recompute.hpp"

namespace sxb {

// Model FLOPs per trained token, forward + backward: PaLM (Chowdhery et al. 2022, appendix B)
//   6 N + 12 L d T
// N = all parameters (embedding table and output head included, as the PyTorch reference counts
// them), L layers, d hidden size, T sequence length. Recomputation is not counted (model FLOPs,
// not hardware FLOPs); the T x T attention term is not halved for the causal mask. Reads only
// m.params, m.layers and m.hidden.
double palm_flops_per_token(const ModelShape& m, int64_t seq_len);

// Forward FLOPs per token that recomputation r repeats, on top of palm_flops_per_token (see
// model/recompute.hpp for what each mode rebuilds):
//   none, selective: 0 (selective rebuilds two RMSNorms and one SwiGLU: elementwise work, not
//                    counted, as PaLM's formula counts none);
//   full:            L (2 (d (d + 2 kv) + d d + 2 d F) + 4 d T): each layer's forward without
//                    its down projection, attention counted as in PaLM.
// Executed (hardware) FLOPs per token = palm_flops_per_token + recompute_flops_per_token.
double recompute_flops_per_token(const ModelShape& m, Recompute r, int64_t seq_len);

}  // namespace sxb
