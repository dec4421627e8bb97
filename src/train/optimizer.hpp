#pragma once
// AdamW over the flat fp32 parameter buffer, and global-norm gradient clipping.
#include <cstdint>
#include <vector>

#include "train/cpu_model.hpp"

namespace sxb {

struct AdamWParams {
  double lr = 1e-5;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // true: decoupled weight decay (AdamW, Loshchilov & Hutter); false: L2 penalty added to the
  // gradient (DeepSpeed's Adam with adam_w_mode false).
  bool decoupled_weight_decay = true;
};

// Per element, with step count t starting at 1 and g the (clipped) gradient:
//   decoupled:  p -= lr * wd * p          (only tensors with weight_decay set)
//   L2 mode:    g += wd * p
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// This is torch.optim.AdamW's update. Moments are fp32, one pair per parameter.
class AdamW {
 public:
  AdamW(const std::vector<cpu::ParamTensor>& layout, int64_t n_params, AdamWParams p);
  void step(float* params, const float* grads);
  int64_t steps_taken() const { return t_; }
  const AdamWParams& params() const { return p_; }

 private:
  std::vector<cpu::ParamTensor> layout_;
  AdamWParams p_;
  int64_t t_ = 0;
  std::vector<float> m_, v_;
};

// sqrt(sum g^2) over the whole buffer, accumulated in double.
double global_grad_norm(const float* grads, int64_t n);
// Scales grads by max_norm / (norm + 1e-6) when the global norm exceeds max_norm (as
// torch.nn.utils.clip_grad_norm_); max_norm <= 0 disables clipping. Returns the norm before.
double clip_grad_norm(float* grads, int64_t n, double max_norm);

}  // namespace sxb
