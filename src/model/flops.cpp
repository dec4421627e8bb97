#include "model/flops.hpp"

namespace sxb {

double palm_flops_per_token(const ModelShape& m, int64_t seq_len) {
  return 6.0 * static_cast<double>(m.params) + 12.0 * static_cast<double>(m.layers) *
                                                   static_cast<double>(m.hidden) *
                                                   static_cast<double>(seq_len);
}

double recompute_flops_per_token(const ModelShape& m, Recompute r, int64_t seq_len) {
  if (r != Recompute::full) return 0.0;
  const double d = static_cast<double>(m.hidden), kv = static_cast<double>(m.kv_dim());
  const double F = static_cast<double>(m.ffn), T = static_cast<double>(seq_len);
  // Multiply-adds of qkv (d x (d + 2 kv)), the output projection (d x d) and gate|up (d x 2F),
  // two FLOPs each; QKᵀ and PV: 2 x 2 d T.
  const double per_layer = 2.0 * (d * (d + 2.0 * kv) + d * d + 2.0 * d * F) + 4.0 * d * T;
  return static_cast<double>(m.layers) * per_layer;
}

}  // namespace sxb
