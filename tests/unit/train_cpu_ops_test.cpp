// Gradient checks of every CPU reference op against central finite differences, in double
// precision: with h = 1e-6 the truncation error is O(h^2) ~ 1e-12 and the rounding error
// ~ 1e-16 / h = 1e-10, so |analytic - numeric| <= 1e-7 + 1e-6 |numeric| can only fail on a
// wrong derivative. Each check uses the objective L = sum_i out[i] * r[i] with fixed random r,
// so dout = r.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

#include "train/cpu_ops.hpp"
#include "train/random.hpp"

namespace sxb::cpu {
namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, uint64_t stream, double scale = 1.0) {
  NormalStream rng(1234, stream);
  Vec v(n);
  for (auto& x : v) x = scale * rng.next();
  return v;
}

double weighted_sum(const Vec& out, const Vec& r) {
  return std::inner_product(out.begin(), out.end(), r.begin(), 0.0);
}

constexpr double kAbsTol = 1e-7;
constexpr double kRelTol = 1e-6;

// Compares analytic[i] with d objective(x) / d x[i] by central differences, for every i.
void check_gradient(Vec& x, const Vec& analytic, const std::function<double()>& objective,
                    const char* what) {
  ASSERT_EQ(x.size(), analytic.size());
  const double h = 1e-6;
  int failures = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = objective();
    x[i] = saved - h;
    const double down = objective();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    if (std::abs(analytic[i] - numeric) > kAbsTol + kRelTol * std::abs(numeric) && ++failures < 5) {
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << " numeric " << numeric;
    }
  }
}

TEST(CpuOpsGrad, Embedding) {
  const int64_t V = 7, C = 5, N = 6;
  std::vector<int32_t> tokens = {3, 0, 3, 6, 1, 3};
  Vec wte = random_vec(V * C, 1), r = random_vec(N * C, 2), out(N * C);
  auto f = [&] {
    embedding_forward(out.data(), tokens.data(), wte.data(), N, C);
    return weighted_sum(out, r);
  };
  Vec dwte(V * C, 0.0);
  embedding_backward(dwte.data(), r.data(), tokens.data(), N, C);
  check_gradient(wte, dwte, f, "dwte");
}

TEST(CpuOpsGrad, RmsNorm) {
  const int64_t N = 4, C = 9;
  Vec x = random_vec(N * C, 3), w = random_vec(C, 4), r = random_vec(N * C, 5);
  Vec out(N * C), rstd(N);
  auto f = [&] {
    rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5);
    return weighted_sum(out, r);
  };
  f();
  Vec dx(N * C, 0.0), dw(C, 0.0);
  rmsnorm_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), N, C);
  check_gradient(x, dx, f, "dx");
  check_gradient(w, dw, f, "dw");
}

TEST(CpuOpsGrad, Matmul) {
  const int64_t N = 5, C = 19, OC = 11;  // C not a multiple of 8: exercises the dot tail
  Vec x = random_vec(N * C, 6), W = random_vec(OC * C, 7), r = random_vec(N * OC, 8);
  Vec out(N * OC);
  auto f = [&] {
    matmul_forward(out.data(), x.data(), W.data(), N, C, OC);
    return weighted_sum(out, r);
  };
  Vec dx(N * C, 0.0), dW(OC * C, 0.0);
  matmul_backward(dx.data(), dW.data(), r.data(), x.data(), W.data(), N, C, OC);
  check_gradient(x, dx, f, "dx");
  check_gradient(W, dW, f, "dW");
  // Forward against the plain triple loop.
  f();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < OC; ++o) {
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += x[n * C + c] * W[o * C + c];
      EXPECT_NEAR(out[n * OC + o], s, 1e-12);
    }
  }
}

TEST(CpuOpsGrad, Rope) {
  const int64_t B = 2, T = 5, nh = 3, hd = 8;
  ModelConfig cfg;
  cfg.hidden_size = nh * hd;
  cfg.num_heads = nh;
  cfg.rope_theta = 10000;
  Vec cos_t(T * hd / 2), sin_t(T * hd / 2);
  rope_tables(cos_t.data(), sin_t.data(), rope_inv_freq(cfg), T);
  Vec x = random_vec(B * T * nh * hd, 9), r = random_vec(B * T * nh * hd, 10);
  auto f = [&] {
    Vec y = x;
    rope_forward(y.data(), cos_t.data(), sin_t.data(), B, T, nh, hd);
    return weighted_sum(y, r);
  };
  Vec dx = r;
  rope_backward(dx.data(), cos_t.data(), sin_t.data(), B, T, nh, hd);
  check_gradient(x, dx, f, "dx");
}

TEST(CpuOps, RopeScoresDependOnlyOnRelativePosition) {
  // q_t . k_u after rotation is a function of t - u: the defining property of RoPE.
  const int64_t T = 12, hd = 16;
  ModelConfig cfg;
  cfg.hidden_size = hd;
  cfg.num_heads = 1;
  cfg.rope_theta = 10000;
  Vec cos_t(T * hd / 2), sin_t(T * hd / 2);
  rope_tables(cos_t.data(), sin_t.data(), rope_inv_freq(cfg), T);
  const Vec q0 = random_vec(hd, 11), k0 = random_vec(hd, 12);
  Vec q(T * hd), k(T * hd);
  for (int64_t t = 0; t < T; ++t) {
    std::copy(q0.begin(), q0.end(), q.begin() + t * hd);
    std::copy(k0.begin(), k0.end(), k.begin() + t * hd);
  }
  rope_forward(q.data(), cos_t.data(), sin_t.data(), 1, T, 1, hd);
  rope_forward(k.data(), cos_t.data(), sin_t.data(), 1, T, 1, hd);
  auto score = [&](int64_t t, int64_t u) {
    return std::inner_product(q.begin() + t * hd, q.begin() + (t + 1) * hd, k.begin() + u * hd,
                              0.0);
  };
  EXPECT_NEAR(score(5, 2), score(9, 6), 1e-12);
  EXPECT_NEAR(score(3, 3), score(11, 11), 1e-12);
  EXPECT_GT(std::abs(score(5, 2) - score(5, 3)), 1e-6);
}

TEST(CpuOps, Llama3RopeScaling) {
  ModelConfig cfg;
  cfg.hidden_size = 128;
  cfg.num_heads = 1;
  cfg.rope_theta = 500000;
  const Vec plain = rope_inv_freq(cfg);
  cfg.rope_scaling = RopeScalingLlama3{};
  const Vec scaled = rope_inv_freq(cfg);
  // Short wavelengths (< 8192/4 positions) unchanged, long ones (> 8192) divided by 8.
  EXPECT_DOUBLE_EQ(scaled[0], plain[0]);
  EXPECT_DOUBLE_EQ(scaled.back(), plain.back() / 8.0);
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_LE(scaled[i], plain[i] * (1 + 1e-15));
    EXPECT_GE(scaled[i], plain[i] / 8.0 * (1 - 1e-15));
  }
}

void attention_check(int64_t H, int64_t KV, int64_t window) {
  const int64_t B = 2, T = 6, hd = 4;
  Vec q = random_vec(B * T * H * hd, 13), k = random_vec(B * T * KV * hd, 14);
  Vec v = random_vec(B * T * KV * hd, 15), r = random_vec(B * T * H * hd, 16);
  Vec out(B * T * H * hd), att(B * H * T * T);
  auto f = [&] {
    attention_forward(out.data(), att.data(), q.data(), k.data(), v.data(), B, T, H, KV, hd,
                      window);
    return weighted_sum(out, r);
  };
  f();
  // Causality (and the window): probabilities are zero outside [t - window + 1, t], rows sum to 1.
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t t = 0; t < T; ++t) {
        double sum = 0;
        for (int64_t u = 0; u < T; ++u) {
          const double p = att[((b * H + h) * T + t) * T + u];
          const bool visible = u <= t && (window == 0 || u > t - window);
          if (!visible) EXPECT_EQ(p, 0.0);
          sum += p;
        }
        EXPECT_NEAR(sum, 1.0, 1e-12);
      }
    }
  }
  Vec dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
  attention_backward(dq.data(), dk.data(), dv.data(), r.data(), q.data(), k.data(), v.data(),
                     att.data(), B, T, H, KV, hd, window);
  check_gradient(q, dq, f, "dq");
  check_gradient(k, dk, f, "dk");
  check_gradient(v, dv, f, "dv");
}

TEST(CpuOpsGrad, AttentionMultiHead) {
  attention_check(3, 3, 0);
}
TEST(CpuOpsGrad, AttentionGroupedQuery) {
  attention_check(4, 2, 0);
}
TEST(CpuOpsGrad, AttentionSlidingWindow) {
  attention_check(4, 1, 3);
}

TEST(CpuOpsGrad, SwiGlu) {
  const int64_t N = 3, F = 10;
  Vec gate = random_vec(N * F, 17, 2.0), up = random_vec(N * F, 18), r = random_vec(N * F, 19);
  Vec out(N * F);
  auto f = [&] {
    swiglu_forward(out.data(), gate.data(), up.data(), N, F);
    return weighted_sum(out, r);
  };
  Vec dgate(N * F, 0.0), dup(N * F, 0.0);
  swiglu_backward(dgate.data(), dup.data(), r.data(), gate.data(), up.data(), N, F);
  check_gradient(gate, dgate, f, "dgate");
  check_gradient(up, dup, f, "dup");
}

TEST(CpuOpsGrad, CrossEntropyWithIgnoreIndex) {
  const int64_t N = 5, V = 13;
  Vec logits = random_vec(N * V, 20, 3.0), losses(N);
  const std::vector<int32_t> targets = {4, -1, 12, 0, -1};
  const double dloss = 0.37;
  auto f = [&] {
    return dloss * cross_entropy_forward(losses.data(), logits.data(), targets.data(), N, V);
  };
  Vec dlogits(N * V);
  cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), dloss, N, V);
  check_gradient(logits, dlogits, f, "dlogits");
  f();
  EXPECT_EQ(losses[1], 0.0);
  EXPECT_EQ(losses[4], 0.0);
  for (int64_t i = 0; i < V; ++i) EXPECT_EQ(dlogits[1 * V + i], 0.0);
  // Uniform logits: loss = ln V.
  Vec flat(V, 0.5), l1(1);
  const int32_t t = 3;
  EXPECT_NEAR(cross_entropy_forward(l1.data(), flat.data(), &t, 1, V), std::log(double(V)), 1e-12);
}

}  // namespace
}  // namespace sxb::cpu
