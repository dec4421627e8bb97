#include "train/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sxb {

AdamW::AdamW(const std::vector<cpu::ParamTensor>& layout, int64_t n_params, AdamWParams p)
    : AdamW(layout, 0, n_params, p) {}

AdamW::AdamW(const std::vector<cpu::ParamTensor>& layout, int64_t begin, int64_t end, AdamWParams p)
    : layout_(layout), p_(p), begin_(begin), end_(end) {
  if (begin < 0 || end < begin) {
    throw std::invalid_argument("AdamW: bad parameter range");
  }
  m_.assign(end - begin, 0.0f);
  v_.assign(end - begin, 0.0f);
}

void AdamW::step(float* params, const float* grads) {
  ++t_;
  const double bc1 = 1.0 - std::pow(p_.beta1, double(t_));
  const double bc2 = 1.0 - std::pow(p_.beta2, double(t_));
  const float b1 = float(p_.beta1), b2 = float(p_.beta2), eps = float(p_.eps);
  const float lr = float(p_.lr);
  const float step_size = float(p_.lr / bc1);
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  for (const auto& t : layout_) {
    // The part of tensor t inside [begin_, end_), relative to begin_.
    const int64_t lo = std::max(t.offset, begin_), hi = std::min(t.offset + t.size, end_);
    if (hi <= lo) continue;
    const float wd = t.weight_decay ? float(p_.weight_decay) : 0.0f;
    float* p = params + (lo - begin_);
    const float* g = grads + (lo - begin_);
    float* m = m_.data() + (lo - begin_);
    float* v = v_.data() + (lo - begin_);
    for (int64_t i = 0; i < hi - lo; ++i) {
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

double grad_square_sum(const float* grads, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(grads[i]) * double(grads[i]);
  return sum;
}

double global_grad_norm(const float* grads, int64_t n) {
  return std::sqrt(grad_square_sum(grads, n));
}

float clip_coefficient(double norm, double max_norm) {
  return max_norm > 0 && norm > max_norm ? float(max_norm / (norm + 1e-6)) : 1.0f;
}

double clip_grad_norm(float* grads, int64_t n, double max_norm) {
  const double norm = global_grad_norm(grads, n);
  const float scale = clip_coefficient(norm, max_norm);
  if (scale != 1.0f) {
    for (int64_t i = 0; i < n; ++i) grads[i] *= scale;
  }
  return norm;
}

}  // namespace sxb
