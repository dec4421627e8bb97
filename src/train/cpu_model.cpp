#include "train/cpu_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "train/cpu_ops.hpp"
#include "train/random.hpp"

namespace sxb::cpu {

std::vector<ParamTensor> parameter_layout(const ModelConfig& cfg) {
  std::vector<ParamTensor> out;
  int64_t offset = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    int64_t size = 1;
    for (int64_t s : shape) size *= s;
    const bool decay = shape.size() == 2;
    out.push_back({std::move(name), offset, std::move(shape), size, decay});
    offset += size;
  };
  const int64_t d = cfg.hidden_size, kvd = cfg.kv_dim(), F = cfg.intermediate_size;
  add("model.embed_tokens.weight", {cfg.vocab_size, d});
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    add(p + "input_layernorm.weight", {d});
    add(p + "self_attn.q_proj.weight", {d, d});
    add(p + "self_attn.k_proj.weight", {kvd, d});
    add(p + "self_attn.v_proj.weight", {kvd, d});
    add(p + "self_attn.o_proj.weight", {d, d});
    add(p + "post_attention_layernorm.weight", {d});
    add(p + "mlp.gate_proj.weight", {F, d});
    add(p + "mlp.up_proj.weight", {F, d});
    add(p + "mlp.down_proj.weight", {d, F});
  }
  add("model.norm.weight", {d});
  add("lm_head.weight", {cfg.vocab_size, d});
  return out;
}

std::vector<ElementRange> parameter_units(const ModelConfig& cfg) {
  const std::vector<ParamTensor> layout = parameter_layout(cfg);
  auto end_of = [&](size_t i) { return layout[i].offset + layout[i].size; };
  std::vector<ElementRange> units;
  units.push_back({0, end_of(0)});
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    units.push_back({layout[1 + 9 * l].offset, end_of(9 + 9 * l)});
  }
  units.push_back({layout[layout.size() - 2].offset, end_of(layout.size() - 1)});
  return units;
}

int64_t activation_elements(const ModelConfig& cfg, int64_t B, int64_t T, bool recompute) {
  const int64_t N = B * T, d = cfg.hidden_size, kvd = cfg.kv_dim(), F = cfg.intermediate_size;
  const int64_t H = cfg.num_heads, V = cfg.vocab_size;
  // Saved per layer: ln1, q, atty, resid_mid, ln2 (d each), k, v (kvd), gate, up, act (F),
  // two rstd, attention probabilities (H x T per token).
  const int64_t per_layer = N * (5 * d + 2 * kvd + 3 * F + 2) + B * H * T * T;
  // With recomputation one layer's worth is kept, refilled before each layer's backward.
  const int64_t layers_kept = recompute ? 1 : cfg.num_layers;
  const int64_t saved = layers_kept * per_layer + (cfg.num_layers + 1) * N * d  // residuals
                        + N * (d + 1 + V + 1);  // final norm, rstd, logits, losses
  const int64_t scratch = N * (4 * d + 2 * kvd + 3 * F + V);
  const int64_t rope = T * cfg.head_dim();
  return saved + scratch + rope;
}

uint64_t training_bytes_needed(const ModelConfig& cfg, int64_t B, int64_t T, bool recompute) {
  return uint64_t(cfg.param_count()) * 4 * sizeof(float) +
         uint64_t(activation_elements(cfg, B, T, recompute)) * sizeof(float);
}

template <typename Scalar>
LlamaCpu<Scalar>::LlamaCpu(const ModelConfig& cfg, int64_t max_B, int64_t max_T, bool recompute)
    : cfg_(cfg),
      max_B_(max_B),
      max_T_(max_T),
      recompute_(recompute),
      layout_(parameter_layout(cfg)) {
  cfg_.validate();
  params_.assign(cfg_.param_count(), Scalar(0));
  grads_.assign(cfg_.param_count(), Scalar(0));
  // Layout order is fixed by parameter_layout(): embedding, 9 per layer, norm, head.
  wte_ = layout_[0].offset;
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    const ParamTensor* t = &layout_[1 + 9 * l];
    lw_.push_back({t[0].offset, t[1].offset, t[2].offset, t[3].offset, t[4].offset, t[5].offset,
                   t[6].offset, t[7].offset, t[8].offset});
  }
  final_norm_ = layout_[layout_.size() - 2].offset;
  lm_head_ = layout_.back().offset;

  const int64_t N = max_B * max_T, d = cfg_.hidden_size, kvd = cfg_.kv_dim();
  const int64_t F = cfg_.intermediate_size, H = cfg_.num_heads, V = cfg_.vocab_size;
  const int64_t half = cfg_.head_dim() / 2;
  rope_cos_.resize(max_T * half);
  rope_sin_.resize(max_T * half);
  rope_tables(rope_cos_.data(), rope_sin_.data(), rope_inv_freq(cfg_), max_T);
  resid_.assign(cfg_.num_layers + 1, std::vector<Scalar>(N * d));
  acts_.resize(recompute_ ? 1 : cfg_.num_layers);
  for (auto& a : acts_) {
    a.ln1.resize(N * d);
    a.rstd1.resize(N);
    a.q.resize(N * d);
    a.k.resize(N * kvd);
    a.v.resize(N * kvd);
    a.att.resize(max_B * H * max_T * max_T);
    a.atty.resize(N * d);
    a.resid_mid.resize(N * d);
    a.ln2.resize(N * d);
    a.rstd2.resize(N);
    a.gate.resize(N * F);
    a.up.resize(N * F);
    a.act.resize(N * F);
  }
  lnf_.resize(N * d);
  rstdf_.resize(N);
  logits_.resize(N * V);
  losses_.resize(N);
  dresid_.resize(N * d);
  dln_.resize(N * d);
  datty_.resize(N * d);
  dq_.resize(N * d);
  dk_.resize(N * kvd);
  dv_.resize(N * kvd);
  dgate_.resize(N * F);
  dup_.resize(N * F);
  dact_.resize(N * F);
  dlogits_.resize(N * V);
}

template <typename Scalar>
void LlamaCpu<Scalar>::init_weights(uint64_t seed) {
  for (const auto& t : layout_) {
    Scalar* p = params_.data() + t.offset;
    if (t.shape.size() == 1) {
      std::fill(p, p + t.size, Scalar(1));
      continue;
    }
    // One stream per tensor, keyed by its position, so layouts with different layer counts
    // share the values of the tensors they have in common.
    NormalStream rng(seed, uint64_t(t.offset));
    for (int64_t i = 0; i < t.size; ++i) p[i] = Scalar(0.02 * rng.next());
  }
}

template <typename Scalar>
void LlamaCpu<Scalar>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), Scalar(0));
}

template <typename Scalar>
void LlamaCpu<Scalar>::layer_forward(int64_t l, bool write_output) {
  const int64_t B = B_, T = T_, N = B * T, d = cfg_.hidden_size, kvd = cfg_.kv_dim();
  const int64_t F = cfg_.intermediate_size, H = cfg_.num_heads, KV = cfg_.num_kv_heads;
  const int64_t hd = cfg_.head_dim();
  const int64_t window = cfg_.sliding_window.value_or(0);
  const Scalar* P = params_.data();
  const LayerWeights& w = lw_[l];
  LayerActs& a = acts_[recompute_ ? 0 : l];
  const Scalar* x = resid_[l].data();
  rmsnorm_forward(a.ln1.data(), a.rstd1.data(), x, P + w.attn_norm, N, d, cfg_.norm_eps);
  matmul_forward(a.q.data(), a.ln1.data(), P + w.wq, N, d, d);
  matmul_forward(a.k.data(), a.ln1.data(), P + w.wk, N, d, kvd);
  matmul_forward(a.v.data(), a.ln1.data(), P + w.wv, N, d, kvd);
  rope_forward(a.q.data(), rope_cos_.data(), rope_sin_.data(), B, T, H, hd);
  rope_forward(a.k.data(), rope_cos_.data(), rope_sin_.data(), B, T, KV, hd);
  attention_forward(a.atty.data(), a.att.data(), a.q.data(), a.k.data(), a.v.data(), B, T, H, KV,
                    hd, window);
  matmul_forward(a.resid_mid.data(), a.atty.data(), P + w.wo, N, d, d);
  residual_add(a.resid_mid.data(), x, N * d);
  rmsnorm_forward(a.ln2.data(), a.rstd2.data(), a.resid_mid.data(), P + w.mlp_norm, N, d,
                  cfg_.norm_eps);
  matmul_forward(a.gate.data(), a.ln2.data(), P + w.w_gate, N, d, F);
  matmul_forward(a.up.data(), a.ln2.data(), P + w.w_up, N, d, F);
  swiglu_forward(a.act.data(), a.gate.data(), a.up.data(), N, F);
  if (!write_output) return;
  Scalar* y = resid_[l + 1].data();
  matmul_forward(y, a.act.data(), P + w.w_down, N, F, d);
  residual_add(y, a.resid_mid.data(), N * d);
}

template <typename Scalar>
double LlamaCpu<Scalar>::forward(const int32_t* tokens, const int32_t* targets, int64_t B,
                                 int64_t T) {
  if (B > max_B_ || T > max_T_ || B <= 0 || T <= 0) {
    throw std::invalid_argument(
        fmt::format("micro-batch {}x{} exceeds the allocated {}x{}", B, T, max_B_, max_T_));
  }
  B_ = B;
  T_ = T;
  const int64_t N = B * T, d = cfg_.hidden_size, V = cfg_.vocab_size;
  tokens_.assign(tokens, tokens + N);
  targets_.assign(targets, targets + N);
  counted_ = std::count_if(targets, targets + N, [](int32_t t) { return t >= 0; });
  const Scalar* P = params_.data();

  const int64_t L = cfg_.num_layers;
  before(Pass::forward, 0);
  embedding_forward(resid_[0].data(), tokens, P + wte_, N, d);
  after(Pass::forward, 0);
  for (int64_t l = 0; l < L; ++l) {
    before(Pass::forward, 1 + l);
    layer_forward(l);
    after(Pass::forward, 1 + l);
  }
  before(Pass::forward, L + 1);
  rmsnorm_forward(lnf_.data(), rstdf_.data(), resid_[L].data(), P + final_norm_, N, d,
                  cfg_.norm_eps);
  matmul_forward(logits_.data(), lnf_.data(), P + lm_head_, N, d, V);
  after(Pass::forward, L + 1);
  return cross_entropy_forward(losses_.data(), logits_.data(), targets, N, V);
}

template <typename Scalar>
void LlamaCpu<Scalar>::backward(double dloss) {
  const int64_t B = B_, T = T_, N = B * T, d = cfg_.hidden_size, kvd = cfg_.kv_dim();
  const int64_t F = cfg_.intermediate_size, H = cfg_.num_heads, KV = cfg_.num_kv_heads;
  const int64_t hd = cfg_.head_dim(), V = cfg_.vocab_size;
  const int64_t window = cfg_.sliding_window.value_or(0);
  const Scalar* P = params_.data();
  Scalar* G = grads_.data();
  auto zero = [](std::vector<Scalar>& v, int64_t n) { std::fill_n(v.begin(), n, Scalar(0)); };

  const int64_t L = cfg_.num_layers;
  cross_entropy_backward(dlogits_.data(), logits_.data(), targets_.data(), dloss, N, V);
  before(Pass::backward, L + 1);
  zero(dln_, N * d);
  matmul_backward(dln_.data(), G + lm_head_, dlogits_.data(), lnf_.data(), P + lm_head_, N, d, V);
  // dresid_ carries d(loss)/d(residual stream) downwards; each block's branches add into it.
  zero(dresid_, N * d);
  rmsnorm_backward(dresid_.data(), G + final_norm_, dln_.data(), resid_[cfg_.num_layers].data(),
                   P + final_norm_, rstdf_.data(), N, d);
  after(Pass::backward, L + 1);
  for (int64_t l = L - 1; l >= 0; --l) {
    const LayerWeights& w = lw_[l];
    before(Pass::backward, 1 + l);
    // Recomputation: rebuild this layer's activations from its saved input (resid_[l]); the same
    // deterministic ops give bit-identical values, hence bit-identical gradients.
    if (recompute_) layer_forward(l, false);
    LayerActs& a = acts_[recompute_ ? 0 : l];
    // MLP branch: dresid_ is d(layer output).
    zero(dact_, N * F);
    matmul_backward(dact_.data(), G + w.w_down, dresid_.data(), a.act.data(), P + w.w_down, N, F,
                    d);
    zero(dgate_, N * F);
    zero(dup_, N * F);
    swiglu_backward(dgate_.data(), dup_.data(), dact_.data(), a.gate.data(), a.up.data(), N, F);
    zero(dln_, N * d);
    matmul_backward(dln_.data(), G + w.w_gate, dgate_.data(), a.ln2.data(), P + w.w_gate, N, d, F);
    matmul_backward(dln_.data(), G + w.w_up, dup_.data(), a.ln2.data(), P + w.w_up, N, d, F);
    rmsnorm_backward(dresid_.data(), G + w.mlp_norm, dln_.data(), a.resid_mid.data(),
                     P + w.mlp_norm, a.rstd2.data(), N, d);
    // Attention branch: dresid_ is now d(resid_mid).
    zero(datty_, N * d);
    matmul_backward(datty_.data(), G + w.wo, dresid_.data(), a.atty.data(), P + w.wo, N, d, d);
    zero(dq_, N * d);
    zero(dk_, N * kvd);
    zero(dv_, N * kvd);
    attention_backward(dq_.data(), dk_.data(), dv_.data(), datty_.data(), a.q.data(), a.k.data(),
                       a.v.data(), a.att.data(), B, T, H, KV, hd, window);
    rope_backward(dq_.data(), rope_cos_.data(), rope_sin_.data(), B, T, H, hd);
    rope_backward(dk_.data(), rope_cos_.data(), rope_sin_.data(), B, T, KV, hd);
    zero(dln_, N * d);
    matmul_backward(dln_.data(), G + w.wq, dq_.data(), a.ln1.data(), P + w.wq, N, d, d);
    matmul_backward(dln_.data(), G + w.wk, dk_.data(), a.ln1.data(), P + w.wk, N, d, kvd);
    matmul_backward(dln_.data(), G + w.wv, dv_.data(), a.ln1.data(), P + w.wv, N, d, kvd);
    rmsnorm_backward(dresid_.data(), G + w.attn_norm, dln_.data(), resid_[l].data(),
                     P + w.attn_norm, a.rstd1.data(), N, d);
    after(Pass::backward, 1 + l);
  }
  before(Pass::backward, 0);
  embedding_backward(G + wte_, dresid_.data(), tokens_.data(), N, d);
  after(Pass::backward, 0);
}

template class LlamaCpu<float>;
template class LlamaCpu<double>;

}  // namespace sxb::cpu
