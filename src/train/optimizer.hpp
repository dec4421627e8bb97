#pragma once
// AdamW over the flat fp32 parameter buffer, and global-norm gradient clipping.
#include <cstdint>
#include <vector>

#include "model/optimizer_config.hpp"
#include "train/cpu_model.hpp"

namespace sxb {

// Per element, with step count t starting at 1 and g the (clipped) gradient:
//   decoupled:  p -= lr * wd * p          (only tensors with weight_decay set)
//   L2 mode:    g += wd * p
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// This is torch.optim.AdamW's update. Moments are fp32, one pair per parameter it updates.
// An optimizer may own only a contiguous range of the flat buffer (a ZeRO shard): it then keeps
// moments for that range alone and updates only it, with the same per-element arithmetic as an
// optimizer over the whole buffer (so shards of one step together equal the whole step).
class AdamW {
 public:
  // The whole buffer: elements [0, n_params).
  AdamW(const std::vector<cpu::ParamTensor>& layout, int64_t n_params, AdamWParams p);
  // Elements [begin, end) of the buffer the layout describes.
  AdamW(const std::vector<cpu::ParamTensor>& layout, int64_t begin, int64_t end, AdamWParams p);
  // params and grads point at element begin() of their buffers (end() - begin() elements).
  void step(float* params, const float* grads);
  int64_t steps_taken() const { return t_; }
  const AdamWParams& params() const { return p_; }
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }

 private:
  std::vector<cpu::ParamTensor> layout_;
  AdamWParams p_;
  int64_t begin_ = 0, end_ = 0;
  int64_t t_ = 0;
  std::vector<float> m_, v_;
};

// sqrt(sum g^2) over the whole buffer, accumulated in double.
double global_grad_norm(const float* grads, int64_t n);
// sum g^2 over the buffer, accumulated in double (a shard's part of the squared global norm).
double grad_square_sum(const float* grads, int64_t n);
// The factor clipping multiplies gradients by: max_norm / (norm + 1e-6) when norm exceeds
// max_norm (as torch.nn.utils.clip_grad_norm_), else 1; max_norm <= 0 disables clipping.
float clip_coefficient(double norm, double max_norm);
// Scales grads by clip_coefficient(global norm of grads, max_norm). Returns the norm before.
double clip_grad_norm(float* grads, int64_t n, double max_norm);

}  // namespace sxb
