#pragma once
// Model FLOPs per trained token, the one formula every figure uses (training metrics, the
// performance model, claims checks): PaLM (Chowdhery et al. 2022, appendix B)
//   6 N + 12 L d T
// N = all parameters (embedding table and output head included, as the PyTorch reference
// counts them), L layers, d hidden size, T sequence length; forward + backward; recomputation is
// not counted; the T x T attention term is not halved for the causal mask.
#include <cstdint>

namespace sxb {

inline double palm_flops_per_token(int64_t params, int64_t layers, int64_t hidden, int64_t seq_len) {
  return 6.0 * static_cast<double>(params) +
         12.0 * static_cast<double>(layers) * static_cast<double>(hidden) * static_cast<double>(seq_len);
}

}  // namespace sxb
