#include "train/optimizer.hpp"

#include <cmath>
#include <stdexcept>

namespace sxb {

AdamW::AdamW(const std::vector<cpu::ParamTensor>& layout, int64_t n_params, AdamWParams p)
    : layout_(layout), p_(p), m_(n_params, 0.0f), v_(n_params, 0.0f) {}

void AdamW::step(float* params, const float* grads) {
  ++t_;
  const double bc1 = 1.0 - std::pow(p_.beta1, double(t_));
  const double bc2 = 1.0 - std::pow(p_.beta2, double(t_));
  const float b1 = float(p_.beta1), b2 = float(p_.beta2), eps = float(p_.eps);
  const float lr = float(p_.lr);
  const float step_size = float(p_.lr / bc1);
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  for (const auto& t : layout_) {
    const float wd = t.weight_decay ? float(p_.weight_decay) : 0.0f;
    float* p = params + t.offset;
    const float* g = grads + t.offset;
    float* m = m_.data() + t.offset;
    float* v = v_.data() + t.offset;
    for (int64_t i = 0; i < t.size; ++i) {
      float gi = g[i];
      if (p_.decoupled_weight_decay) {
        p[i] -= lr * wd * p[i];
      } else {
        gi += wd * p[i];
      }
      m[i] = b1 * m[i] + (1.0f - b1) * gi;
      v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
  }
}

double global_grad_norm(const float* grads, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(grads[i]) * double(grads[i]);
  return std::sqrt(sum);
}

double clip_grad_norm(float* grads, int64_t n, double max_norm) {
  const double norm = global_grad_norm(grads, n);
  if (max_norm > 0 && norm > max_norm) {
    const float scale = float(max_norm / (norm + 1e-6));
    for (int64_t i = 0; i < n; ++i) grads[i] *= scale;
  }
  return norm;
}

}  // namespace sxb
