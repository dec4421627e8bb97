#include "model/recompute.hpp"

namespace sxb {

std::string recompute_name(Recompute r) {
  switch (r) {
    case Recompute::none:
      return "none";
    case Recompute::selective:
      return "selective";
    case Recompute::full:
      return "full";
  }
  return "?";
}

std::optional<Recompute> parse_recompute_name(std::string_view name) {
  for (Recompute r : {Recompute::none, Recompute::selective, Recompute::full}) {
    if (name == recompute_name(r)) return r;
  }
  return std::nullopt;
}

std::vector<LayerActivationBuffer> layer_activation_buffers(const ModelShape& m, Recompute r) {
  const int64_t d = m.hidden, kv = m.kv_dim(), F = m.ffn, H = m.heads;
  constexpr int64_t bf16 = 2, f32 = 4;
  // Kept by every layer in none and selective; one set in full.
  const bool per_layer = r != Recompute::full;
  std::vector<LayerActivationBuffer> out = {
      {"layer.rstd1", 1, f32, per_layer},   {"layer.qkv", d + 2 * kv, bf16, per_layer},
      {"layer.o", d, bf16, per_layer},      {"layer.lse", H, f32, per_layer},
      {"layer.xm", d, bf16, per_layer},     {"layer.rstd2", 1, f32, per_layer},
      {"layer.gu", 2 * F, bf16, per_layer},
  };
  if (r == Recompute::none) {
    out.push_back({"layer.ln1", d, bf16, true});
    out.push_back({"layer.ln2", d, bf16, true});
    out.push_back({"layer.act", F, bf16, true});
  } else {
    // Rebuilt where the backward needs them: ln1 and ln2 are never live together.
    out.push_back({"shared.ln", d, bf16, false});
    out.push_back({"shared.act", F, bf16, false});
  }
  return out;
}

double layer_activation_bytes_per_token(const ModelShape& m, Recompute r) {
  const double L = static_cast<double>(m.layers);
  double bytes = L * 2.0 * static_cast<double>(m.hidden);  // each layer's input x
  for (const auto& b : layer_activation_buffers(m, r)) {
    bytes += (b.per_layer ? L : 1.0) * static_cast<double>(b.bytes_per_token());
  }
  return bytes;
}

}  // namespace sxb
