#pragma once
// AdamW hyperparameters as a DeepSpeed config states them (optimizer.params).

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

}  // namespace sxb
