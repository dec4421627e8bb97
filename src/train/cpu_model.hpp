#pragma once
// The Llama decoder on the CPU: parameters and gradients in one flat buffer each (the layout
// the optimizer and the gradient all-reduce see), activations kept for the backward pass.
// Scalar is float for training and double for gradient checks.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/model_config.hpp"
#include "train/zero.hpp"

namespace sxb::cpu {

// One named tensor inside the flat parameter buffer. Names follow Hugging Face's Llama
// state dict ("model.layers.0.self_attn.q_proj.weight").
struct ParamTensor {
  std::string name;
  int64_t offset = 0;  // elements from the start of the buffer
  std::vector<int64_t> shape;
  int64_t size = 0;
  bool weight_decay = false;  // matrices decay; norm weights do not (as Hugging Face's Trainer)
};

// Parameter tensors in buffer order: embedding, per layer (input_layernorm, q, k, v, o,
// post_attention_layernorm, gate, up, down), final norm, lm_head. Sizes sum to param_count().
std::vector<ParamTensor> parameter_layout(const ModelConfig& cfg);

// The parameter units that the forward and the backward use one after another: unit 0 the
// embedding, unit 1 + l decoder layer l, unit L + 1 the final norm with the output head.
// Contiguous ranges of the flat buffer, in buffer order, together covering it (L + 2 units).
std::vector<ElementRange> parameter_units(const ModelConfig& cfg);

enum class Pass { forward, backward };
// Callbacks around the use of each parameter unit (for ZeRO stage 3, which keeps a unit's
// parameters only while it is used). before(pass, u) runs before unit u's parameters are read;
// after(pass, u) once the pass is done with unit u: in the backward, when unit u's gradients of
// this micro-batch are complete in grads(). Forward order: units 0 .. L + 1; backward order:
// L + 1 .. 0 (a layer's recomputation comes after its before(backward, u)). The embedding's
// backward reads no parameters; its before(backward, 0) is called all the same. Either callback
// may be empty.
struct UnitHooks {
  std::function<void(Pass, int64_t unit)> before;
  std::function<void(Pass, int64_t unit)> after;
};

// Elements of activation and activation-gradient storage for a micro-batch (B, T).
int64_t activation_elements(const ModelConfig& cfg, int64_t B, int64_t T, bool recompute);
// Host bytes the CPU reference allocates for training with AdamW in float: parameters,
// gradients, two moment buffers (4 x 4 bytes per parameter) plus activations.
uint64_t training_bytes_needed(const ModelConfig& cfg, int64_t B, int64_t T, bool recompute);

template <typename Scalar>
class LlamaCpu {
 public:
  // Allocates parameters, gradients and activations for micro-batches up to (max_B, max_T).
  // recompute: keep only each layer's input during the forward and recompute the layer's
  // activations just before its backward (full activation checkpointing, one layer at a time).
  LlamaCpu(const ModelConfig& cfg, int64_t max_B, int64_t max_T, bool recompute = false);

  // Deterministic from the seed: matrices ~ N(0, 0.02^2) (Hugging Face initializer_range),
  // norm weights 1. Identical values (rounded to Scalar) for float and double models.
  void init_weights(uint64_t seed);

  // tokens, targets: (B, T) row-major; target -1 is not counted. Returns the sum of the token
  // losses (natural log) over counted targets; counted_targets() gives their number.
  double forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T);
  // Backward of objective = dloss * (sum of token losses) for the last forward; ADDS parameter
  // gradients into grads().
  void backward(double dloss);
  void zero_grad();
  void set_unit_hooks(UnitHooks hooks) { hooks_ = std::move(hooks); }

  int64_t counted_targets() const { return counted_; }
  const ModelConfig& config() const { return cfg_; }
  const std::vector<ParamTensor>& layout() const { return layout_; }
  std::vector<Scalar>& params() { return params_; }
  std::vector<Scalar>& grads() { return grads_; }
  const std::vector<Scalar>& params() const { return params_; }
  const std::vector<Scalar>& grads() const { return grads_; }
  // Logits (B*T, V) of the last forward.
  const std::vector<Scalar>& logits() const { return logits_; }

 private:
  struct LayerWeights {  // offsets into params_/grads_
    int64_t attn_norm, wq, wk, wv, wo, mlp_norm, w_gate, w_up, w_down;
  };
  struct LayerActs {
    std::vector<Scalar> ln1, rstd1, q, k, v, att, atty, resid_mid, ln2, rstd2, gate, up, act;
  };

  // Forward of decoder layer l for the current (B_, T_): resid_[l] -> resid_[l + 1], saving
  // its activations in acts_[l] (acts_[0] with recomputation). write_output false: stop after
  // the SwiGLU output, as full recomputation does (model/recompute.hpp): the backward needs the
  // layer's activations, and resid_[l + 1] is kept.
  void layer_forward(int64_t l, bool write_output = true);
  void before(Pass p, int64_t unit) const {
    if (hooks_.before) hooks_.before(p, unit);
  }
  void after(Pass p, int64_t unit) const {
    if (hooks_.after) hooks_.after(p, unit);
  }

  ModelConfig cfg_;
  int64_t max_B_, max_T_;
  bool recompute_;
  int64_t B_ = 0, T_ = 0, counted_ = 0;
  std::vector<ParamTensor> layout_;
  UnitHooks hooks_;
  std::vector<LayerWeights> lw_;
  int64_t wte_ = 0, final_norm_ = 0, lm_head_ = 0;
  std::vector<Scalar> params_, grads_;
  std::vector<Scalar> rope_cos_, rope_sin_;
  std::vector<int32_t> tokens_, targets_;
  std::vector<std::vector<Scalar>> resid_;  // L + 1 residual-stream tensors (N, d)
  std::vector<LayerActs> acts_;             // per layer, or one shared set with recomputation
  std::vector<Scalar> lnf_, rstdf_, logits_, losses_;
  // Activation-gradient scratch, reused by every layer.
  std::vector<Scalar> dresid_, dln_, datty_, dq_, dk_, dv_, dgate_, dup_, dact_, dlogits_;
};

extern template class LlamaCpu<float>;
extern template class LlamaCpu<double>;

}  // namespace sxb::cpu
