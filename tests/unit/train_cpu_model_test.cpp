// The whole CPU reference model: gradient of the full loss against finite differences (double),
// float against double, causality, AdamW and clipping, and a tiny model overfitting one batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "train/cpu_model.hpp"
#include "train/optimizer.hpp"
#include "train/random.hpp"

namespace sxb::cpu {
namespace {

ModelConfig micro_config(int64_t kv_heads, std::optional<int64_t> window = std::nullopt) {
  ModelConfig c;
  c.name = "micro";
  c.hidden_size = 16;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = kv_heads;
  c.intermediate_size = 24;
  c.vocab_size = 32;
  c.max_position_embeddings = 64;
  c.rope_theta = 10000;
  c.norm_eps = 1e-5;
  c.sliding_window = window;
  return c;
}

struct Batch {
  std::vector<int32_t> tokens, targets;
};

Batch make_batch(const ModelConfig& c, int64_t B, int64_t T, uint64_t seed) {
  SplitMix64 rng(seed);
  Batch b;
  for (int64_t i = 0; i < B * T; ++i) b.tokens.push_back(int32_t(rng.below(c.vocab_size)));
  for (int64_t i = 0; i < B * T; ++i) {
    const bool last = (i % T) == T - 1;
    const bool prompt = (i % T) < 2;  // first targets masked, as a prompt would be
    b.targets.push_back(last || prompt ? -1 : b.tokens[i + 1]);
  }
  return b;
}

void full_model_gradient_check(const ModelConfig& cfg) {
  const int64_t B = 2, T = 7;
  LlamaCpu<double> model(cfg, B, T);
  model.init_weights(7);
  // Larger weights than the 0.02 init so every op is far from linear.
  for (auto& p : model.params()) p *= 10;
  const Batch b = make_batch(cfg, B, T, 99);
  const double loss_sum = model.forward(b.tokens.data(), b.targets.data(), B, T);
  const double n = double(model.counted_targets());
  ASSERT_EQ(model.counted_targets(), B * (T - 3));
  model.zero_grad();
  model.backward(1.0 / n);
  const std::vector<double> analytic = model.grads();
  EXPECT_GT(loss_sum / n, 0.0);
  const double h = 1e-6;
  int failures = 0, checked = 0;
  auto& p = model.params();
  for (size_t i = 0; i < p.size(); ++i) {
    const double saved = p[i];
    p[i] = saved + h;
    const double up = model.forward(b.tokens.data(), b.targets.data(), B, T) / n;
    p[i] = saved - h;
    const double down = model.forward(b.tokens.data(), b.targets.data(), B, T) / n;
    p[i] = saved;
    const double numeric = (up - down) / (2 * h);
    ++checked;
    // Same tolerance reasoning as the op tests: double precision, h = 1e-6.
    if (std::abs(analytic[i] - numeric) > 1e-7 + 1e-5 * std::abs(numeric) && ++failures < 8) {
      ADD_FAILURE() << "param " << i << ": analytic " << analytic[i] << " numeric " << numeric;
    }
  }
  EXPECT_EQ(checked, cfg.param_count());
}

TEST(CpuModel, FullGradientMatchesFiniteDifferencesGqa) {
  full_model_gradient_check(micro_config(2));
}
TEST(CpuModel, FullGradientMatchesFiniteDifferencesMha) {
  full_model_gradient_check(micro_config(4));
}
TEST(CpuModel, FullGradientMatchesFiniteDifferencesWindow) {
  full_model_gradient_check(micro_config(1, 3));
}

TEST(CpuModel, FloatMatchesDouble) {
  const ModelConfig cfg = micro_config(2);
  const int64_t B = 2, T = 16;
  LlamaCpu<float> f(cfg, B, T);
  LlamaCpu<double> d(cfg, B, T);
  f.init_weights(3);
  d.init_weights(3);
  const Batch b = make_batch(cfg, B, T, 5);
  const double lf = f.forward(b.tokens.data(), b.targets.data(), B, T);
  const double ld = d.forward(b.tokens.data(), b.targets.data(), B, T);
  EXPECT_NEAR(lf / ld, 1.0, 1e-5);
  f.zero_grad();
  d.zero_grad();
  f.backward(0.1);
  d.backward(0.1);
  double max_abs = 0, max_err = 0;
  for (size_t i = 0; i < d.grads().size(); ++i) {
    max_abs = std::max(max_abs, std::abs(d.grads()[i]));
    max_err = std::max(max_err, std::abs(double(f.grads()[i]) - d.grads()[i]));
  }
  EXPECT_LT(max_err, 1e-4 * max_abs) << "max |grad| " << max_abs;
}

TEST(CpuModel, RecomputationGivesBitIdenticalGradients) {
  const ModelConfig cfg = micro_config(2);
  const int64_t B = 2, T = 12;
  LlamaCpu<float> stored(cfg, B, T, false), recomputed(cfg, B, T, true);
  stored.init_weights(4);
  recomputed.init_weights(4);
  // Two micro-batches, so the recomputing model also reuses its shared activation buffers.
  for (uint64_t seed : {21, 22}) {
    const Batch b = make_batch(cfg, B, T, seed);
    EXPECT_EQ(stored.forward(b.tokens.data(), b.targets.data(), B, T),
              recomputed.forward(b.tokens.data(), b.targets.data(), B, T));
    stored.backward(0.05);
    recomputed.backward(0.05);
  }
  ASSERT_EQ(stored.grads().size(), recomputed.grads().size());
  for (size_t i = 0; i < stored.grads().size(); ++i) {
    ASSERT_EQ(stored.grads()[i], recomputed.grads()[i]) << "parameter " << i;
  }
  EXPECT_LT(activation_elements(cfg, B, T, true), activation_elements(cfg, B, T, false));
}

TEST(CpuModel, FutureTokensDoNotChangePastLogits) {
  const ModelConfig cfg = micro_config(2);
  const int64_t T = 10;
  LlamaCpu<double> m(cfg, 1, T);
  m.init_weights(1);
  Batch b = make_batch(cfg, 1, T, 8);
  m.forward(b.tokens.data(), b.targets.data(), 1, T);
  const auto before = m.logits();
  b.tokens[7] = (b.tokens[7] + 1) % int32_t(cfg.vocab_size);
  m.forward(b.tokens.data(), b.targets.data(), 1, T);
  const auto& after = m.logits();
  const int64_t V = cfg.vocab_size;
  for (int64_t i = 0; i < 7 * V; ++i) ASSERT_EQ(before[i], after[i]) << i;
  double diff = 0;
  for (int64_t i = 7 * V; i < T * V; ++i) diff += std::abs(before[i] - after[i]);
  EXPECT_GT(diff, 0.0);
}

TEST(AdamW, MatchesClosedFormOverTwoSteps) {
  std::vector<ParamTensor> layout = {{"w", 0, {1, 2}, 2, true}, {"norm", 2, {1}, 1, false}};
  AdamWParams hp;
  hp.lr = 0.1;
  hp.beta1 = 0.8;
  hp.beta2 = 0.9;
  hp.eps = 1e-3;
  hp.weight_decay = 0.5;
  AdamW opt(layout, 3, hp);
  std::vector<float> p = {1.0f, -2.0f, 3.0f};
  const std::vector<std::vector<float>> grads = {{0.5f, -1.0f, 2.0f}, {0.25f, 0.5f, -1.0f}};
  std::vector<double> ref(p.begin(), p.end()), m(3, 0), v(3, 0);
  for (int t = 1; t <= 2; ++t) {
    opt.step(p.data(), grads[t - 1].data());
    for (int i = 0; i < 3; ++i) {
      const double g = grads[t - 1][i];
      if (i < 2) ref[i] -= hp.lr * hp.weight_decay * ref[i];
      m[i] = hp.beta1 * m[i] + (1 - hp.beta1) * g;
      v[i] = hp.beta2 * v[i] + (1 - hp.beta2) * g * g;
      const double mh = m[i] / (1 - std::pow(hp.beta1, t));
      const double vh = v[i] / (1 - std::pow(hp.beta2, t));
      ref[i] -= hp.lr * mh / (std::sqrt(vh) + hp.eps);
    }
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], ref[i], 1e-6) << "step " << t << " i " << i;
  }
  EXPECT_EQ(opt.steps_taken(), 2);
}

TEST(GradClip, ScalesToMaxNormOnlyWhenAbove) {
  std::vector<float> g = {3.0f, 4.0f};
  EXPECT_NEAR(clip_grad_norm(g.data(), 2, 10.0), 5.0, 1e-12);
  EXPECT_EQ(g[0], 3.0f);
  EXPECT_NEAR(clip_grad_norm(g.data(), 2, 1.0), 5.0, 1e-12);
  EXPECT_NEAR(global_grad_norm(g.data(), 2), 1.0, 1e-6);
  EXPECT_NEAR(g[0] / g[1], 0.75, 1e-6);
}

TEST(AdamW, ShardsTogetherEqualTheWholeStep) {
  // Cut points inside tensors (the layout is 2 + 3 + 4 + 2 elements), one empty shard.
  std::vector<ParamTensor> layout = {{"a", 0, {1, 2}, 2, true},
                                     {"b", 2, {3}, 3, false},
                                     {"c", 5, {2, 2}, 4, true},
                                     {"d", 9, {2}, 2, false}};
  AdamWParams hp;
  hp.lr = 0.05;
  hp.weight_decay = 0.3;
  SplitMix64 rng(3);
  std::vector<float> whole(11), grads(11);
  for (auto& x : whole) x = float(rng.below(1000)) / 500.0f - 1.0f;
  const std::vector<float> initial = whole;
  std::vector<float> pieced = whole;
  AdamW full(layout, 11, hp);
  const std::vector<std::pair<int64_t, int64_t>> cuts = {{0, 4}, {4, 4}, {4, 7}, {7, 11}};
  std::vector<AdamW> shards;
  for (auto [b, e] : cuts) shards.emplace_back(layout, b, e, hp);
  for (int step = 0; step < 3; ++step) {
    for (auto& g : grads) g = float(rng.below(1000)) / 250.0f - 2.0f;
    full.step(whole.data(), grads.data());
    for (auto& opt : shards) {
      opt.step(pieced.data() + opt.begin(), grads.data() + opt.begin());
    }
  }
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_EQ(pieced[i], whole[i]) << "element " << i;
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_NE(whole[i], initial[i]) << "element " << i;
  EXPECT_THROW(AdamW(layout, 5, 4, hp), std::invalid_argument);
}

TEST(GradClip, CoefficientAndSquareSum) {
  const std::vector<float> g = {3.0f, 4.0f};
  EXPECT_EQ(grad_square_sum(g.data(), 2), 25.0);
  EXPECT_EQ(clip_coefficient(5.0, 10.0), 1.0f);
  EXPECT_EQ(clip_coefficient(5.0, 0.0), 1.0f);  // off
  EXPECT_EQ(clip_coefficient(5.0, 1.0), float(1.0 / (5.0 + 1e-6)));
}

TEST(CpuModel, ParameterUnitsCoverTheBufferInOrder) {
  const ModelConfig cfg = micro_config(2);
  const auto units = parameter_units(cfg);
  ASSERT_EQ(units.size(), size_t(cfg.num_layers + 2));
  EXPECT_EQ(units.front().begin, 0);
  EXPECT_EQ(units.front().size(), cfg.vocab_size * cfg.hidden_size);
  EXPECT_EQ(units.back().size(), cfg.hidden_size + cfg.vocab_size * cfg.hidden_size);
  EXPECT_EQ(units.back().end, cfg.param_count());
  for (size_t u = 1; u < units.size(); ++u) EXPECT_EQ(units[u].begin, units[u - 1].end);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    EXPECT_EQ(units[1 + l].size(), cfg.params_per_layer()) << "layer " << l;
  }
}

TEST(CpuModel, UnitHooksRunAroundEveryUnitInOrder) {
  const ModelConfig cfg = micro_config(2);
  const int64_t B = 1, T = 6;
  LlamaCpu<float> model(cfg, B, T);
  model.init_weights(2);
  std::vector<std::string> calls;
  auto name = [](const char* when, Pass p, int64_t u) {
    return std::string(when) + (p == Pass::forward ? " f" : " b") + std::to_string(u);
  };
  model.set_unit_hooks({[&](Pass p, int64_t u) { calls.push_back(name("before", p, u)); },
                        [&](Pass p, int64_t u) { calls.push_back(name("after", p, u)); }});
  const Batch b = make_batch(cfg, B, T, 4);
  model.forward(b.tokens.data(), b.targets.data(), B, T);
  model.backward(0.1);
  const std::vector<std::string> expected = {"before f0", "after f0", "before f1", "after f1",
                                             "before f2", "after f2", "before f3", "after f3",
                                             "before b3", "after b3", "before b2", "after b2",
                                             "before b1", "after b1", "before b0", "after b0"};
  EXPECT_EQ(calls, expected);
}

// Parameters that exist only between a unit's hooks (NaN otherwise), as ZeRO stage 3 keeps
// them, give the same loss and gradients as a model that always has them.
void check_units_present_only_while_used(bool recompute) {
  const ModelConfig cfg = micro_config(2);
  const int64_t B = 2, T = 8;
  LlamaCpu<float> plain(cfg, B, T, recompute), hooked(cfg, B, T, recompute);
  plain.init_weights(6);
  hooked.init_weights(6);
  const std::vector<float> master = hooked.params();
  const auto units = parameter_units(cfg);
  auto& p = hooked.params();
  std::fill(p.begin(), p.end(), std::nanf(""));
  int64_t grads_checked_at_after = 0;
  hooked.set_unit_hooks({[&](Pass, int64_t u) {
                           std::copy(master.begin() + units[u].begin, master.begin() + units[u].end,
                                     p.begin() + units[u].begin);
                         },
                         [&](Pass pass, int64_t u) {
                           std::fill(p.begin() + units[u].begin, p.begin() + units[u].end,
                                     std::nanf(""));
                           if (pass == Pass::backward) {
                             // The unit's gradients are final when its backward is done.
                             for (int64_t i = units[u].begin; i < units[u].end; ++i) {
                               if (hooked.grads()[i] != 0.0f) ++grads_checked_at_after;
                             }
                           }
                         }});
  for (uint64_t seed : {31, 32}) {
    const Batch b = make_batch(cfg, B, T, seed);
    const double lp = plain.forward(b.tokens.data(), b.targets.data(), B, T);
    const double lh = hooked.forward(b.tokens.data(), b.targets.data(), B, T);
    EXPECT_EQ(lp, lh);
    plain.backward(0.05);
    hooked.backward(0.05);
  }
  for (size_t i = 0; i < plain.grads().size(); ++i) {
    ASSERT_EQ(plain.grads()[i], hooked.grads()[i]) << "parameter " << i;
  }
  EXPECT_GT(grads_checked_at_after, cfg.param_count());  // most gradients are non-zero
}

TEST(CpuModel, UnitsPresentOnlyWhileUsedGiveTheSameGradients) {
  check_units_present_only_while_used(false);
}
TEST(CpuModel, UnitsPresentOnlyWhileUsedGiveTheSameGradientsWithRecomputation) {
  check_units_present_only_while_used(true);
}

TEST(CpuModel, TinyModelOverfitsRepeatedBatch) {
  const ModelConfig cfg = resolve_model("tiny");
  const int64_t B = 2, T = 32;
  LlamaCpu<float> model(cfg, B, T);
  model.init_weights(42);
  SplitMix64 rng(11);
  std::vector<int32_t> tokens(B * T), targets(B * T);
  for (auto& t : tokens) t = int32_t(rng.below(cfg.vocab_size));
  for (int64_t i = 0; i < B * T; ++i) targets[i] = (i % T == T - 1) ? -1 : tokens[i + 1];
  AdamWParams hp;
  hp.lr = 3e-3;
  hp.weight_decay = 0.0;
  AdamW opt(model.layout(), cfg.param_count(), hp);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    const double loss = model.forward(tokens.data(), targets.data(), B, T);
    const double n = double(model.counted_targets());
    model.zero_grad();
    model.backward(1.0 / n);
    clip_grad_norm(model.grads().data(), cfg.param_count(), 1.0);
    opt.step(model.params().data(), model.grads().data());
    if (step == 0) first = loss / n;
    last = loss / n;
  }
  EXPECT_NEAR(first, std::log(double(cfg.vocab_size)), 0.5);  // random init: about ln V
  EXPECT_LT(last, 0.3 * first) << "first " << first << " last " << last;
}

}  // namespace
}  // namespace sxb::cpu
