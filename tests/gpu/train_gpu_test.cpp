// GPU tests of the CUDA training engine against the CPU reference (train/cpu_ops.hpp,
// cpu_model.hpp, optimizer.hpp) on small shapes. Inputs are random (never zeros), rounded to
// bf16 first so both sides see the same values; outputs are poisoned with NaN before a kernel
// runs so an unwritten element fails. Tolerances (relative L2 error ||gpu - cpu|| / ||cpu||):
//   bf16 outputs of exact-input ops: 1e-2 (bf16 keeps 8 bits: ~4e-3 per element)
//   fp32 accumulations (weight gradients, rstd, AdamW): 1e-4 .. 1e-6
//   attention (P rounded to bf16 inside the products): 2e-2 forward, 3e-2 backward
//   whole model: loss 1e-2, gradients 5e-2 (8e-2 per tensor), loss curves within 3% per step
//   over 20 steps (AdamW's first steps move each weight by about lr whatever the gradient's
//   size, so bf16 rounding of tiny gradients shows in the curve).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "../e2e/e2e_util.hpp"
#include "core/error.hpp"
#include "platform/gpu_probe.hpp"
#include "train/cpu_model.hpp"
#include "train/cpu_ops.hpp"
#include "model/model_config.hpp"
#include "train/optimizer.hpp"
#include "train/safetensors.hpp"

#ifdef SXB_HAVE_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "train/gpu_attention_sm90.hpp"
#include "train/gpu_gemm.hpp"
#include "train/gpu_model.hpp"
#include "train/gpu_ops.hpp"
#endif

namespace sxb {
namespace {

namespace fs = std::filesystem;

#define SXB_REQUIRE_GPU()                                          \
  do {                                                             \
    if (!built_with_cuda()) GTEST_SKIP() << "built without CUDA";  \
    if (visible_cuda_devices() < 1) GTEST_SKIP() << "needs a GPU"; \
  } while (0)

double rel_err(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * double(want[i]);
  }
  if (std::isnan(num)) return INFINITY;
  return std::sqrt(num / (den > 0 ? den : 1e-30));
}

bool all_finite(const std::vector<float>& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

#ifdef SXB_HAVE_CUDA

// Median time in ms of `reps` runs of fn on the default stream, timed with CUDA events after
// `warmup` untimed runs.
template <typename Fn>
double median_event_ms(int warmup, int reps, Fn&& fn) {
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(e0);
    fn();
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    ms.push_back(t);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(ms.begin(), ms.end());
  return double(ms[ms.size() / 2]);
}

using gpu::bf16;

// The attention shape of a packed qkv buffer: each token's row holds H query heads, then KV key
// heads, then KV value heads (rows of (H + 2 KV) hd), and the output rows hold H heads.
gpu::AttentionShape packed_qkv_shape(int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd,
                                     int64_t window = 0) {
  gpu::AttentionShape s;
  s.B = B;
  s.T = T;
  s.H = H;
  s.KV = KV;
  s.hd = hd;
  s.window = window;
  s.q_stride = s.kv_stride = (H + 2 * KV) * hd;
  s.o_stride = H * hd;
  return s;
}

float round_bf16(float x) {
  return __bfloat162float(__float2bfloat16(x));
}

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = round_bf16(scale * dist(rng));
  return v;
}

// A device array of T with host conversion helpers; bf16 arrays round-trip through float.
template <typename T>
class Dev {
 public:
  explicit Dev(size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(T)), cudaSuccess);
    poison();
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  explicit Dev(const std::vector<float>& v) : Dev(v.size()) { upload(v); }
  ~Dev() { cudaFree(p_); }
  T* get() const { return p_; }
  void poison() { cudaMemset(p_, 0xff, std::max<size_t>(n_, 1) * sizeof(T)); }  // NaN in bf16/fp32
  void upload(const std::vector<float>& v) {
    std::vector<T> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = static_cast<T>(v[i]);
    EXPECT_EQ(cudaMemcpy(p_, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<float> download() const {
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<T> h(n_);
    EXPECT_EQ(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    std::vector<float> v(n_);
    for (size_t i = 0; i < n_; ++i) v[i] = static_cast<float>(h[i]);
    return v;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

TEST(TrainGpuOps, EmbeddingForwardAndBackward) {
  SXB_REQUIRE_GPU();
  const int64_t V = 50, C = 64, N = 37;
  std::vector<int32_t> tok(N);
  for (int64_t n = 0; n < N; ++n) tok[n] = int32_t((n * 7 + 3) % V);  // repeats: atomics collide
  const auto wte = random_vec(V * C, 1), dout = random_vec(N * C, 2);
  Dev<int32_t> dtok(N);
  cudaMemcpy(dtok.get(), tok.data(), N * 4, cudaMemcpyHostToDevice);
  Dev<bf16> dwte(wte), dout_d(dout), out(N * C);
  gpu::embedding_forward(out.get(), dtok.get(), dwte.get(), N, C, nullptr);
  std::vector<float> want(N * C), dwant(V * C, 0.0f);
  cpu::embedding_forward(want.data(), tok.data(), wte.data(), N, C);
  EXPECT_EQ(out.download(), want);
  Dev<float> grad(std::vector<float>(V * C, 0.0f));
  gpu::embedding_backward(grad.get(), dout_d.get(), dtok.get(), N, C, nullptr);
  cpu::embedding_backward(dwant.data(), dout.data(), tok.data(), N, C);
  EXPECT_LT(rel_err(grad.download(), dwant), 1e-6);
}

TEST(TrainGpuOps, RmsNormForwardAndBackwardAtEveryWidth) {
  SXB_REQUIRE_GPU();
  // (C, N): widths of 1 to 4 column vectors per thread, and row counts that end inside an 8-row
  // batch, on 9 blocks of one batch and on blocks of several batches.
  for (const auto& [C, N] : std::vector<std::pair<int64_t, int64_t>>{
           {64, 67}, {520, 67}, {4096, 67}, {4096, 5000}, {8192, 67}}) {
    const auto x = random_vec(N * C, 3 + C), w = random_vec(C, 4 + C, 0.5f);
    const auto dout = random_vec(N * C, 5 + C), res = random_vec(N * C, 6 + C);
    Dev<bf16> dx(x), dw16(w), ddout(dout), out(N * C), dres(res);
    Dev<float> rstd(N), dw(std::vector<float>(C, 0.0f));
    gpu::rmsnorm_forward(out.get(), rstd.get(), dx.get(), dw16.get(), N, C, 1e-5f, nullptr);
    std::vector<float> want(N * C), rwant(N);
    cpu::rmsnorm_forward(want.data(), rwant.data(), x.data(), w.data(), N, C, 1e-5);
    EXPECT_LT(rel_err(out.download(), want), 1e-2) << "C=" << C;
    EXPECT_LT(rel_err(rstd.download(), rwant), 1e-5) << "C=" << C;
    // Backward with the residual added in place (dx aliases the residual).
    gpu::rmsnorm_backward(dres.get(), dw.get(), ddout.get(), dx.get(), dw16.get(), rstd.get(),
                          dres.get(), N, C, nullptr);
    std::vector<float> dxw = res, dww(C, 0.0f);
    cpu::rmsnorm_backward(dxw.data(), dww.data(), dout.data(), x.data(), w.data(), rwant.data(), N,
                          C);
    EXPECT_LT(rel_err(dres.download(), dxw), 1e-2) << "C=" << C << " N=" << N;
    EXPECT_LT(rel_err(dw.download(), dww), 1e-4) << "C=" << C << " N=" << N;
  }
}

TEST(TrainGpuOps, RopeRotatesInsideStridedRowsAndInverts) {
  SXB_REQUIRE_GPU();
  ModelConfig cfg = resolve_model("small");  // head_dim 32
  const int64_t B = 2, T = 19, H = 3, hd = cfg.head_dim(), half = hd / 2;
  const int64_t stride = 5 * hd + 8, col0 = 8;  // heads sit inside wider rows
  const int64_t N = B * T;
  const auto inv = cpu::rope_inv_freq(cfg);
  std::vector<float> cs(T * half), sn(T * half);
  cpu::rope_tables(cs.data(), sn.data(), inv, T);
  Dev<float> dcos(cs), dsin(sn);
  const auto rows = random_vec(N * stride, 7);
  Dev<bf16> x(rows);
  gpu::rope_forward(x.get(), stride, col0, dcos.get(), dsin.get(), N, T, H, hd, nullptr);
  std::vector<float> compact(N * H * hd);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < H * hd; ++c) compact[n * H * hd + c] = rows[n * stride + col0 + c];
  }
  std::vector<float> want = compact;
  cpu::rope_forward(want.data(), cs.data(), sn.data(), B, T, H, hd);
  const auto got = x.download();
  std::vector<float> got_compact(N * H * hd);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < H * hd; ++c) got_compact[n * H * hd + c] = got[n * stride + col0 + c];
    for (int64_t c = 0; c < col0; ++c) EXPECT_EQ(got[n * stride + c], rows[n * stride + c]);
  }
  EXPECT_LT(rel_err(got_compact, want), 1e-2);
  // The fp32 inverse rotation into bf16 rows restores the input.
  Dev<float> src(want);
  Dev<bf16> back(std::vector<float>(N * stride, 0.0f));
  gpu::rope_backward_f32(back.get(), stride, col0, src.get(), dcos.get(), dsin.get(), N, T, H, hd,
                         nullptr);
  const auto b = back.download();
  std::vector<float> back_compact(N * H * hd);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < H * hd; ++c) back_compact[n * H * hd + c] = b[n * stride + col0 + c];
  }
  EXPECT_LT(rel_err(back_compact, compact), 1e-2);
  // And the in-place bf16 inverse after the forward.
  gpu::rope_backward(x.get(), stride, col0, dcos.get(), dsin.get(), N, T, H, hd, nullptr);
  const auto r = x.download();
  std::vector<float> r_compact(N * H * hd);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < H * hd; ++c) r_compact[n * H * hd + c] = r[n * stride + col0 + c];
  }
  EXPECT_LT(rel_err(r_compact, compact), 1.5e-2);
}

TEST(TrainGpuOps, SwiGluForwardAndBackward) {
  SXB_REQUIRE_GPU();
  const int64_t N = 45, F = 168;
  const auto gu = random_vec(N * 2 * F, 8), dact = random_vec(N * F, 9);
  std::vector<float> gate(N * F), up(N * F);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t f = 0; f < F; ++f) {
      gate[n * F + f] = gu[n * 2 * F + f];
      up[n * F + f] = gu[n * 2 * F + F + f];
    }
  }
  Dev<bf16> dgu_in(gu), ddact(dact), act(N * F), dgu(N * 2 * F);
  gpu::swiglu_forward(act.get(), dgu_in.get(), N, F, nullptr);
  std::vector<float> want(N * F);
  cpu::swiglu_forward(want.data(), gate.data(), up.data(), N, F);
  EXPECT_LT(rel_err(act.download(), want), 1e-2);
  gpu::swiglu_backward(dgu.get(), ddact.get(), dgu_in.get(), N, F, nullptr);
  std::vector<float> dg(N * F, 0.0f), du(N * F, 0.0f);
  cpu::swiglu_backward(dg.data(), du.data(), dact.data(), gate.data(), up.data(), N, F);
  std::vector<float> dwant(N * 2 * F);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t f = 0; f < F; ++f) {
      dwant[n * 2 * F + f] = dg[n * F + f];
      dwant[n * 2 * F + F + f] = du[n * F + f];
    }
  }
  EXPECT_LT(rel_err(dgu.download(), dwant), 1e-2);
}

TEST(TrainGpuOps, CrossEntropyWithIgnoredTargets) {
  SXB_REQUIRE_GPU();
  for (int64_t V : {1000, 1003}) {  // vectorised rows and the scalar path
    const int64_t N = 33;
    const auto logits = random_vec(N * V, 10 + V, 2.0f);
    std::vector<int32_t> tgt(N);
    int64_t counted = 0;
    for (int64_t n = 0; n < N; ++n) {
      tgt[n] = n % 5 == 0 ? -1 : int32_t((n * 37) % V);
      counted += tgt[n] >= 0;
    }
    Dev<bf16> d(logits);
    Dev<int32_t> dt(N);
    cudaMemcpy(dt.get(), tgt.data(), N * 4, cudaMemcpyHostToDevice);
    Dev<double> loss(1);
    cudaMemset(loss.get(), 0, sizeof(double));
    const double dloss = 1.0 / double(counted);
    gpu::cross_entropy_fused(d.get(), loss.get(), dt.get(), N, V, float(dloss), nullptr);
    std::vector<float> losses(N), dwant(N * V);
    const double want = cpu::cross_entropy_forward(losses.data(), logits.data(), tgt.data(), N, V);
    cpu::cross_entropy_backward(dwant.data(), logits.data(), tgt.data(), dloss, N, V);
    double got = 0;
    cudaMemcpy(&got, loss.get(), sizeof(double), cudaMemcpyDeviceToHost);
    EXPECT_NEAR(got, want, 1e-4 * std::abs(want)) << "V=" << V;
    EXPECT_LT(rel_err(d.download(), dwant), 1e-2) << "V=" << V;
  }
}

TEST(TrainGpuOps, LinearLayerProductsMatchTheReference) {
  SXB_REQUIRE_GPU();
  const int64_t N = 96, C = 136, OC = 200;
  const auto x = random_vec(N * C, 11), W = random_vec(OC * C, 12, 0.1f);
  const auto res = random_vec(N * OC, 13), dy = random_vec(N * OC, 14);
  Dev<bf16> dx_in(x), dW(W), dres(res), ddy(dy), out(N * OC), out_res(N * OC), dx(N * C);
  gpu::Gemm gemm;
  gemm.linear_forward(out.get(), dx_in.get(), dW.get(), nullptr, N, C, OC, nullptr);
  gemm.linear_forward(out_res.get(), dx_in.get(), dW.get(), dres.get(), N, C, OC, nullptr);
  std::vector<float> want(N * OC);
  cpu::matmul_forward(want.data(), x.data(), W.data(), N, C, OC);
  EXPECT_LT(rel_err(out.download(), want), 1e-2);
  std::vector<float> want_res = want;
  for (size_t i = 0; i < want_res.size(); ++i) want_res[i] += res[i];
  EXPECT_LT(rel_err(out_res.download(), want_res), 1e-2);
  gemm.linear_backward_input(dx.get(), ddy.get(), dW.get(), N, C, OC, nullptr);
  std::vector<float> dxw(N * C, 0.0f), dWw(OC * C, 0.0f);
  cpu::matmul_backward(dxw.data(), dWw.data(), dy.data(), x.data(), W.data(), N, C, OC);
  EXPECT_LT(rel_err(dx.download(), dxw), 1e-2);
  // Weight gradient in fp32: written, then accumulated.
  Dev<float> gW(OC * C);
  gemm.linear_backward_weight(gW.get(), ddy.get(), dx_in.get(), N, C, OC, false, nullptr);
  EXPECT_LT(rel_err(gW.download(), dWw), 1e-4);
  gemm.linear_backward_weight(gW.get(), ddy.get(), dx_in.get(), N, C, OC, true, nullptr);
  std::vector<float> twice = dWw;
  for (auto& v : twice) v *= 2;
  EXPECT_LT(rel_err(gW.download(), twice), 1e-4);
}

struct AttnCase {
  int64_t B, T, H, KV, hd, window;
};

TEST(TrainGpuOps, FlashAttentionMatchesTheReferenceForwardAndBackward) {
  SXB_REQUIRE_GPU();
  const std::vector<AttnCase> cases = {
      {2, 100, 4, 2, 64, 0},   // GQA, ragged last tile
      {1, 257, 2, 2, 128, 0},  // MHA, head_dim 128, one query past a tile
      {1, 64, 4, 1, 32, 0},    // one kv head for four query heads
      {1, 77, 2, 2, 16, 0},    // head_dim 16
      {1, 200, 2, 1, 64, 50},  // sliding window
      {1, 512, 2, 2, 128, 0},  // several full tiles
      {2, 300, 4, 2, 128, 70},  // head_dim 128 with GQA, a window and ragged tiles
      {1, 130, 3, 1, 128, 0},   // three query heads on one kv head, two keys past a block
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "B=" << c.B << " T=" << c.T << " H=" << c.H << " KV=" << c.KV
                                    << " hd=" << c.hd << " window=" << c.window);
    const int64_t N = c.B * c.T, qw = (c.H + 2 * c.KV) * c.hd, ow = c.H * c.hd;
    const auto qkv = random_vec(N * qw, uint32_t(20 + c.T + c.hd));
    const auto dout = random_vec(N * ow, uint32_t(21 + c.T + c.hd));
    std::vector<float> q(N * c.H * c.hd), k(N * c.KV * c.hd), v(N * c.KV * c.hd);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = 0; i < c.H * c.hd; ++i) q[n * c.H * c.hd + i] = qkv[n * qw + i];
      for (int64_t i = 0; i < c.KV * c.hd; ++i) {
        k[n * c.KV * c.hd + i] = qkv[n * qw + c.H * c.hd + i];
        v[n * c.KV * c.hd + i] = qkv[n * qw + (c.H + c.KV) * c.hd + i];
      }
    }
    std::vector<float> out(N * ow), att(c.B * c.H * c.T * c.T);
    cpu::attention_forward(out.data(), att.data(), q.data(), k.data(), v.data(), c.B, c.T, c.H,
                           c.KV, c.hd, c.window);
    Dev<bf16> dqkv(qkv), ddout(dout), o(N * ow), dgrad(N * qw);
    Dev<float> lse(c.B * c.H * c.T), dq(N * c.H * c.hd), dsum(c.B * c.H * c.T);
    const gpu::AttentionShape s = packed_qkv_shape(c.B, c.T, c.H, c.KV, c.hd, c.window);
    bf16* base = dqkv.get();
    gpu::attention_forward(o.get(), lse.get(), base, base + c.H * c.hd, base + (c.H + c.KV) * c.hd,
                           s, nullptr);
    const auto got = o.download();
    ASSERT_TRUE(all_finite(got));
    EXPECT_LT(rel_err(got, out), 2e-2);
    // lse: log2-domain log-sum-exp of the scaled scores, against the reference's scores.
    const auto lse_got = lse.download();
    const double scale = 1.0 / std::sqrt(double(c.hd));
    double worst = 0;
    for (int64_t b = 0; b < c.B; ++b) {
      for (int64_t h = 0; h < c.H; ++h) {
        const int64_t g = h / (c.H / c.KV);
        for (int64_t t = 0; t < c.T; ++t) {
          double mx = -1e300, sum = 0;
          std::vector<double> sc;
          for (int64_t u = 0; u <= t; ++u) {
            if (c.window > 0 && t - u >= c.window) continue;
            double dot = 0;
            for (int64_t i = 0; i < c.hd; ++i) {
              dot += double(q[((b * c.T + t) * c.H + h) * c.hd + i]) *
                     double(k[((b * c.T + u) * c.KV + g) * c.hd + i]);
            }
            sc.push_back(dot * scale);
            mx = std::max(mx, dot * scale);
          }
          for (double x : sc) sum += std::exp(x - mx);
          const double want_lse2 = (mx + std::log(sum)) / std::log(2.0);
          worst = std::max(worst, std::abs(lse_got[(b * c.H + h) * c.T + t] - want_lse2));
        }
      }
    }
    EXPECT_LT(worst, 2e-3);

    std::vector<float> dqw(q.size(), 0.0f), dkw(k.size(), 0.0f), dvw(v.size(), 0.0f);
    cpu::attention_backward(dqw.data(), dkw.data(), dvw.data(), dout.data(), q.data(), k.data(),
                            v.data(), att.data(), c.B, c.T, c.H, c.KV, c.hd, c.window);
    // dk and dv land in the k and v columns of a separate qkv-shaped buffer, as in the engine.
    bf16* gbase = dgrad.get();
    cudaMemset(gbase, 0xff, size_t(N * qw) * sizeof(bf16));  // NaN: every element must be written
    gpu::attention_backward(dq.get(), gbase + c.H * c.hd, gbase + (c.H + c.KV) * c.hd, dsum.get(),
                            ddout.get(), o.get(), lse.get(), base, base + c.H * c.hd,
                            base + (c.H + c.KV) * c.hd, s, nullptr);
    const auto grads = dgrad.download();
    std::vector<float> dk_got(k.size()), dv_got(v.size());
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = 0; i < c.KV * c.hd; ++i) {
        dk_got[n * c.KV * c.hd + i] = grads[n * qw + c.H * c.hd + i];
        dv_got[n * c.KV * c.hd + i] = grads[n * qw + (c.H + c.KV) * c.hd + i];
      }
    }
    const auto dq_got = dq.download();
    ASSERT_TRUE(all_finite(dq_got));
    ASSERT_TRUE(all_finite(dk_got));
    EXPECT_LT(rel_err(dq_got, dqw), 3e-2);
    EXPECT_LT(rel_err(dk_got, dkw), 3e-2);
    EXPECT_LT(rel_err(dv_got, dvw), 3e-2);
  }
}

// Causal attention output and log2-domain lse of query row t of head h (batch b) in double, from
// q, k, v in the fused layout (rows of (H + 2 KV) hd: query heads, then key heads, then value
// heads).
void attention_reference_row(std::vector<double>& o, double& lse2, const std::vector<float>& qkv,
                             int64_t T, int64_t H, int64_t KV, int64_t hd, int64_t b, int64_t h,
                             int64_t t, int64_t window = 0) {
  const int64_t qw = (H + 2 * KV) * hd, kvh = h / (H / KV);
  const int64_t u_lo = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
  const float* q = qkv.data() + (b * T + t) * qw + h * hd;
  std::vector<double> sc(size_t(t + 1));
  double mx = -1e300;
  for (int64_t u = u_lo; u <= t; ++u) {
    const float* k = qkv.data() + (b * T + u) * qw + (H + kvh) * hd;
    double dot = 0;
    for (int64_t i = 0; i < hd; ++i) dot += double(q[i]) * double(k[i]);
    sc[size_t(u)] = dot / std::sqrt(double(hd));
    mx = std::max(mx, sc[size_t(u)]);
  }
  double sum = 0;
  o.assign(size_t(hd), 0.0);
  for (int64_t u = u_lo; u <= t; ++u) {
    const double p = std::exp(sc[size_t(u)] - mx);
    sum += p;
    const float* v = qkv.data() + (b * T + u) * qw + (H + KV + kvh) * hd;
    for (int64_t i = 0; i < hd; ++i) o[size_t(i)] += p * double(v[i]);
  }
  for (auto& x : o) x /= sum;
  lse2 = (mx + std::log(sum)) / std::log(2.0);
}

// The Hopper forward (wgmma + TMA) against the mma.sync forward on every element and against a
// float64 reference on sampled rows (all rows at T = 128; every 7th and the last rows above), at
// GQA ratios 1 and 4, lengths that end inside a tile, and sliding windows inside a tile, across
// tile edges and longer than the sequence. Outputs are poisoned before each kernel.
TEST(TrainGpuOps, HopperAttentionForwardMatchesTheMmaKernelAndTheReference) {
  SXB_REQUIRE_GPU();
  struct Case {
    int64_t B, T, H, KV, window = 0, hd = 128;
  };
  const std::vector<Case> cases = {
      {2, 128, 4, 4},  {2, 128, 8, 2},      {1, 1000, 4, 4},     {1, 1000, 8, 2},
      {1, 4096, 4, 4}, {1, 4096, 8, 2},     {2, 300, 4, 4, 100}, {1, 1000, 8, 2, 256},
      {1, 777, 4, 1, 129}, {1, 4096, 8, 2, 1000}, {1, 200, 2, 2, 5000},
      // head_dim 64: one 64-column half per tile, m64n64k16 for O += P V.
      {2, 128, 4, 4, 0, 64}, {1, 1000, 8, 2, 0, 64}, {1, 4096, 8, 1, 0, 64},
      {1, 777, 4, 1, 129, 64}, {2, 300, 6, 3, 100, 64}};
  {
    gpu::AttentionShape probe;
    probe.B = 1;
    probe.T = 128;
    probe.H = probe.KV = 1;
    probe.hd = 128;
    if (!gpu::attention_forward_sm90_supports(probe)) {
      GTEST_SKIP() << "the Hopper forward needs an sm_90a build on an sm_90 GPU";
    }
  }
  uint32_t seed = 300;
  for (const auto& c : cases) {
    const int64_t hd = c.hd;
    SCOPED_TRACE(testing::Message() << "B=" << c.B << " T=" << c.T << " H=" << c.H
                                    << " KV=" << c.KV << " window=" << c.window << " hd=" << hd);
    const int64_t N = c.B * c.T, qw = (c.H + 2 * c.KV) * hd, ow = c.H * hd;
    const auto qkv = random_vec(size_t(N * qw), seed++);
    Dev<bf16> dqkv(qkv), o_new(size_t(N * ow)), o_mma(size_t(N * ow));
    Dev<float> lse_new(size_t(c.B * c.H * c.T)), lse_mma(size_t(c.B * c.H * c.T));
    cudaMemset(o_new.get(), 0xff, size_t(N * ow) * sizeof(bf16));
    cudaMemset(lse_new.get(), 0xff, size_t(c.B * c.H * c.T) * sizeof(float));
    const gpu::AttentionShape s = packed_qkv_shape(c.B, c.T, c.H, c.KV, hd, c.window);
    bf16* base = dqkv.get();
    gpu::attention_forward(o_new.get(), lse_new.get(), base, base + c.H * hd,
                           base + (c.H + c.KV) * hd, s, nullptr, gpu::AttentionKernel::sm90);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    gpu::attention_forward(o_mma.get(), lse_mma.get(), base, base + c.H * hd,
                           base + (c.H + c.KV) * hd, s, nullptr, gpu::AttentionKernel::mma);
    const auto got = o_new.download(), want_mma = o_mma.download();
    const auto lse_got = lse_new.download(), lse_want_mma = lse_mma.download();
    ASSERT_TRUE(all_finite(got));
    ASSERT_TRUE(all_finite(lse_got));
    const double err_mma = rel_err(got, want_mma);
    double lse_diff_mma = 0;
    for (size_t i = 0; i < lse_got.size(); ++i) {
      lse_diff_mma = std::max(lse_diff_mma, double(std::abs(lse_got[i] - lse_want_mma[i])));
    }
    // Sampled rows against float64.
    std::vector<float> got_rows, ref_rows;
    double lse_diff_ref = 0;
    std::vector<double> ref;
    double ref_lse = 0;
    for (int64_t b = 0; b < c.B; ++b) {
      for (int64_t h = 0; h < c.H; ++h) {
        for (int64_t t = 0; t < c.T; ++t) {
          if (c.T > 128 && t % 7 != 0 && t < c.T - 3) continue;
          attention_reference_row(ref, ref_lse, qkv, c.T, c.H, c.KV, hd, b, h, t, c.window);
          for (int64_t i = 0; i < hd; ++i) {
            got_rows.push_back(got[size_t((b * c.T + t) * ow + h * hd + i)]);
            ref_rows.push_back(float(ref[size_t(i)]));
          }
          lse_diff_ref = std::max(
              lse_diff_ref, std::abs(double(lse_got[size_t((b * c.H + h) * c.T + t)]) - ref_lse));
        }
      }
    }
    const double err_ref = rel_err(got_rows, ref_rows);
    std::printf(
        "hopper attention forward B=%lld T=%lld H=%lld KV=%lld window=%lld hd=%lld: rel err %.2e "
        "vs mma.sync, %.2e vs float64 (%zu rows); lse max diff %.2e vs mma.sync, %.2e vs "
        "float64\n",
        (long long)c.B, (long long)c.T, (long long)c.H, (long long)c.KV, (long long)c.window,
        (long long)hd, err_mma, err_ref,
        ref_rows.size() / size_t(hd), lse_diff_mma, lse_diff_ref);
    EXPECT_LT(err_mma, 1e-2);
    EXPECT_LT(err_ref, 2e-2);
    EXPECT_LT(lse_diff_mma, 1e-3);
    EXPECT_LT(lse_diff_ref, 2e-3);
  }
}

// The Hopper backward against the mma.sync backward (dq accumulator, dk, dv) on the same forward
// outputs, at head_dim 128 and 64, GQA ratios 1, 4, 3 and 8, lengths that end inside a key block
// or a query tile, and one and two batch entries; the outputs are poisoned (NaN) before each
// kernel so every element must be written. The CPU reference checks the automatic choice (the
// Hopper kernel on sm_90) in FlashAttentionMatchesTheReferenceForwardAndBackward.
TEST(TrainGpuOps, HopperAttentionBackwardMatchesTheMmaKernel) {
  SXB_REQUIRE_GPU();
  struct Case {
    int64_t B, T, H, KV, window = 0, hd = 128;
  };
  const std::vector<Case> cases = {
      {2, 128, 4, 4},      {2, 130, 8, 2},       {1, 1000, 4, 4},     {1, 1000, 8, 2},
      {1, 777, 3, 1},      {1, 4096, 8, 2},      {2, 300, 4, 4, 100}, {1, 1000, 8, 2, 256},
      {1, 777, 4, 1, 129}, {1, 4096, 8, 2, 1000}, {1, 200, 2, 2, 5000},
      // GQA ratio 8 at 8192 tokens (a grid small enough to split the group's heads), and an odd
      // length with ratio 8 and a window.
      {1, 8192, 8, 1},     {1, 2049, 16, 2, 300},
      // head_dim 64: a short and an odd length, GQA 4 and 8 (split), a window, two batch entries.
      {2, 128, 4, 4, 0, 64}, {1, 1000, 8, 2, 0, 64}, {1, 777, 3, 1, 0, 64},
      {2, 300, 4, 4, 100, 64}, {1, 4096, 16, 2, 0, 64}, {1, 2049, 16, 2, 300, 64}};
  {
    gpu::AttentionShape probe = packed_qkv_shape(1, 128, 1, 1, 128);
    if (!gpu::attention_forward_sm90_supports(probe)) {
      GTEST_SKIP() << "the Hopper backward needs an sm_90a build on an sm_90 GPU";
    }
  }
  uint32_t seed = 400;
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "B=" << c.B << " T=" << c.T << " H=" << c.H
                                    << " KV=" << c.KV << " window=" << c.window << " hd=" << c.hd);
    const int64_t hd = c.hd, N = c.B * c.T, qw = (c.H + 2 * c.KV) * hd, ow = c.H * hd;
    Dev<bf16> dqkv(random_vec(size_t(N * qw), seed++)), dout(random_vec(size_t(N * ow), seed++)),
        o(size_t(N * ow)), g_new(size_t(N * qw)), g_mma(size_t(N * qw));
    Dev<float> lse(size_t(c.B * c.H * c.T)), dsum(size_t(c.B * c.H * c.T)),
        dq_new(size_t(N * ow)), dq_mma(size_t(N * ow));
    const gpu::AttentionShape s = packed_qkv_shape(c.B, c.T, c.H, c.KV, hd, c.window);
    bf16* base = dqkv.get();
    gpu::attention_forward(o.get(), lse.get(), base, base + c.H * hd, base + (c.H + c.KV) * hd, s,
                           nullptr, gpu::AttentionKernel::mma);
    auto backward = [&](Dev<float>& dq, Dev<bf16>& g, gpu::AttentionKernel kernel) {
      cudaMemset(g.get(), 0xff, size_t(N * qw) * sizeof(bf16));
      cudaMemset(dq.get(), 0xff, size_t(N * ow) * sizeof(float));
      gpu::attention_backward(dq.get(), g.get() + c.H * hd, g.get() + (c.H + c.KV) * hd,
                              dsum.get(), dout.get(), o.get(), lse.get(), base, base + c.H * hd,
                              base + (c.H + c.KV) * hd, s, nullptr, kernel);
      ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    };
    backward(dq_new, g_new, gpu::AttentionKernel::sm90);
    backward(dq_mma, g_mma, gpu::AttentionKernel::mma);
    const auto gn = g_new.download(), gm = g_mma.download();
    std::vector<float> dk_n, dk_m, dv_n, dv_m;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = 0; i < c.KV * hd; ++i) {
        dk_n.push_back(gn[size_t(n * qw + c.H * hd + i)]);
        dk_m.push_back(gm[size_t(n * qw + c.H * hd + i)]);
        dv_n.push_back(gn[size_t(n * qw + (c.H + c.KV) * hd + i)]);
        dv_m.push_back(gm[size_t(n * qw + (c.H + c.KV) * hd + i)]);
      }
    }
    const auto dqn = dq_new.download(), dqm = dq_mma.download();
    ASSERT_TRUE(all_finite(dqn));
    ASSERT_TRUE(all_finite(dk_n));
    ASSERT_TRUE(all_finite(dv_n));
    const double e_dq = rel_err(dqn, dqm), e_dk = rel_err(dk_n, dk_m), e_dv = rel_err(dv_n, dv_m);
    std::printf(
        "hopper attention backward B=%lld T=%lld H=%lld KV=%lld window=%lld hd=%lld: rel err vs "
        "mma.sync dq %.2e, dk %.2e, dv %.2e\n",
        (long long)c.B, (long long)c.T, (long long)c.H, (long long)c.KV, (long long)c.window,
        (long long)hd, e_dq, e_dk, e_dv);
    EXPECT_LT(e_dq, 1e-2);
    EXPECT_LT(e_dk, 1e-2);
    EXPECT_LT(e_dv, 1e-2);
  }
}

// The deterministic Hopper backward (dq's sums in key-block order): three runs give the same
// bits for dq, dk and dv, and the gradients agree with the mma.sync backward as the default does.
TEST(TrainGpuOps, DeterministicHopperBackwardRepeatsBitForBit) {
  SXB_REQUIRE_GPU();
  if (!gpu::attention_forward_sm90_supports(packed_qkv_shape(1, 128, 1, 1, 128))) {
    GTEST_SKIP() << "the Hopper backward needs an sm_90a build on an sm_90 GPU";
  }
  struct Case {
    int64_t B, T, H, KV, window, hd = 128;
  };
  uint32_t seed = 700;
  for (const Case& c : {Case{1, 4096, 8, 2, 0}, Case{2, 1000, 8, 2, 256}, Case{1, 777, 4, 4, 0},
                        Case{1, 2048, 8, 1, 0}, Case{1, 2048, 8, 2, 0, 64},
                        Case{2, 1000, 8, 8, 256, 64}}) {
    SCOPED_TRACE(testing::Message() << "T=" << c.T << " H=" << c.H << " KV=" << c.KV
                                    << " window=" << c.window << " hd=" << c.hd);
    const int64_t hd = c.hd, N = c.B * c.T, qw = (c.H + 2 * c.KV) * hd, ow = c.H * hd;
    Dev<bf16> dqkv(random_vec(size_t(N * qw), seed++)), dout(random_vec(size_t(N * ow), seed++)),
        o(size_t(N * ow)), g(size_t(N * qw));
    Dev<float> lse(size_t(c.B * c.H * c.T)), dsum(size_t(c.B * c.H * c.T)), dq(size_t(N * ow));
    gpu::AttentionShape s = packed_qkv_shape(c.B, c.T, c.H, c.KV, hd, c.window);
    bf16* base = dqkv.get();
    gpu::attention_forward(o.get(), lse.get(), base, base + c.H * hd, base + (c.H + c.KV) * hd, s,
                           nullptr, gpu::AttentionKernel::mma);
    auto backward = [&](bool deterministic, gpu::AttentionKernel kernel) {
      s.deterministic = deterministic;
      cudaMemset(g.get(), 0xff, size_t(N * qw) * sizeof(bf16));
      gpu::attention_backward(dq.get(), g.get() + c.H * hd, g.get() + (c.H + c.KV) * hd,
                              dsum.get(), dout.get(), o.get(), lse.get(), base, base + c.H * hd,
                              base + (c.H + c.KV) * hd, s, nullptr, kernel);
      EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      return std::make_pair(dq.download(), g.download());
    };
    const auto first = backward(true, gpu::AttentionKernel::automatic);
    for (int run = 1; run < 3; ++run) {
      const auto again = backward(true, gpu::AttentionKernel::automatic);
      ASSERT_EQ(std::memcmp(again.first.data(), first.first.data(),
                            first.first.size() * sizeof(float)),
                0)
          << "dq differs on run " << run;
      ASSERT_EQ(again.second.size(), first.second.size());
      for (size_t i = 0; i < first.second.size(); ++i) {
        ASSERT_EQ(std::memcmp(&again.second[i], &first.second[i], sizeof(bf16)), 0)
            << "dk/dv differ at " << i << " on run " << run;
      }
    }
    const auto mma = backward(false, gpu::AttentionKernel::mma);
    ASSERT_TRUE(all_finite(first.first));
    const double e = rel_err(first.first, mma.first);
    std::printf("deterministic hopper backward T=%lld H=%lld KV=%lld window=%lld hd=%lld: dq rel "
                "err vs mma.sync %.2e\n",
                (long long)c.T, (long long)c.H, (long long)c.KV, (long long)c.window,
                (long long)hd, e);
    EXPECT_LT(e, 1e-2);
  }
}

// With fp32 gradients, and with bf16 gradients (values exactly representable in bf16, so the
// reference is the same): the kernels must agree with the CPU optimizer either way.
// The split master form (bf16 working copy + low 16 bits) is host code too: checked without a
// GPU over random weights, exact ties, signs, zeros and powers of two.
TEST(TrainGpuOps, SplitMasterWeightsAreExactAndTheWorkingCopyIsRounded) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  std::vector<uint32_t> cases = {0u, 0x80000000u, 0x3f800000u, 0xbf800000u, 0x3f808000u,
                                 0x3f818000u, 0x3f80ffffu, 0x3f7fffffu, 0x00018000u, 0x7f7f7fffu};
  for (int i = 0; i < 100000; ++i) {
    const uint32_t b = bits(rng);
    if ((b & 0x7f800000u) != 0x7f800000u) cases.push_back(b);  // finite values
  }
  for (uint32_t m : cases) {
    uint16_t w = 0, lo = 0;
    gpu::split_master_bits(m, w, lo);
    ASSERT_EQ(gpu::join_master_bits(w, lo), m) << std::hex << m;
    float x = 0;
    std::memcpy(&x, &m, 4);
    const uint32_t wbits = uint32_t(w) << 16;
    float wf = 0;
    std::memcpy(&wf, &wbits, 4);
    // Nearest: no further from x than the round-to-nearest-even bf16 (equal but for exact ties).
    EXPECT_LE(std::fabs(double(wf) - x), std::fabs(double(round_bf16(x)) - x)) << std::hex << m;
  }
}

TEST(TrainGpuOps, AdamWAndClippingMatchTheReference) {
  SXB_REQUIRE_GPU();
  for (bool bf16_grads : {false, true}) {
  SCOPED_TRACE(bf16_grads ? "bf16 gradients" : "fp32 gradients");
  ModelConfig cfg = resolve_model("tiny");
  const auto layout = cpu::parameter_layout(cfg);
  const int64_t P = cfg.param_count();
  auto p = random_vec(P, 30, 0.02f), g = random_vec(P, 31, 0.1f);
  if (bf16_grads) {
    for (float& x : g) x = round_bf16(x);
  }
  AdamWParams ap;
  ap.lr = 1e-3;
  ap.weight_decay = 0.1;
  const double max_norm = 1.0;  // the random gradient's norm is far above: clipping applies
  std::vector<float> pw = p, gw = g;
  const double norm_want = clip_grad_norm(gw.data(), P, max_norm);
  AdamW opt(layout, P, ap);
  opt.step(pw.data(), gw.data());
  opt.step(pw.data(), gw.data());  // step 2: bias corrections change
  std::vector<gpu::AdamChunk> chunks;
  for (const auto& t : layout) {
    for (int64_t o = 0; o < t.size; o += 1000) {  // small chunks: many blocks
      chunks.push_back(
          {t.offset + o, int32_t(std::min<int64_t>(1000, t.size - o)), t.weight_decay ? 1 : 0});
    }
  }
  Dev<float> dp(p), dg(g), dm(std::vector<float>(P, 0.0f)), dv(std::vector<float>(P, 0.0f));
  Dev<bf16> dw(P), dgb(g);
  Dev<uint16_t> dlo(P);
  gpu::split_master(dw.get(), dlo.get(), dp.get(), P, nullptr);
  Dev<double> scalars(4);
  Dev<gpu::AdamChunk> dchunks(chunks.size());
  cudaMemcpy(dchunks.get(), chunks.data(), chunks.size() * sizeof(gpu::AdamChunk),
             cudaMemcpyHostToDevice);
  cudaMemset(scalars.get(), 0, 4 * sizeof(double));
  double* s = scalars.get();
  if (bf16_grads) {
    gpu::sum_squares(s, dgb.get(), P, nullptr);
  } else {
    gpu::sum_squares(s, dg.get(), P, nullptr);
  }
  gpu::clip_coefficient(reinterpret_cast<float*>(s + 3), s + 2, s, max_norm, nullptr);
  for (int t = 1; t <= 2; ++t) {
    gpu::AdamHyper h{};
    h.lr = float(ap.lr);
    h.beta1 = float(ap.beta1);
    h.beta2 = float(ap.beta2);
    h.eps = float(ap.eps);
    h.weight_decay = float(ap.weight_decay);
    h.step_size = float(ap.lr / (1 - std::pow(ap.beta1, t)));
    h.inv_sqrt_bc2 = float(1 / std::sqrt(1 - std::pow(ap.beta2, t)));
    h.decoupled = 1;
    auto step = [&](const auto* grads) {
      gpu::adamw_step(dw.get(), dlo.get(), dm.get(), dv.get(), grads,
                      reinterpret_cast<float*>(s + 3), dchunks.get(), int64_t(chunks.size()), h,
                      nullptr);
    };
    if (bf16_grads) {
      step(dgb.get());
    } else {
      step(dg.get());
    }
  }
  double norm_got = 0;
  cudaMemcpy(&norm_got, s + 2, sizeof(double), cudaMemcpyDeviceToHost);
  EXPECT_NEAR(norm_got, norm_want, 1e-9 * norm_want);
  gpu::join_master(dp.get(), dw.get(), dlo.get(), P, nullptr);
  const auto pg = dp.download();
  EXPECT_LT(rel_err(pg, pw), 1e-6);
  // The working copy is the master rounded to nearest.
  const auto w = dw.download();
  for (int64_t i = 0; i < P; i += 997) {
    EXPECT_LE(std::fabs(w[i] - pg[i]), std::fabs(round_bf16(pg[i]) - pg[i])) << i;
  }
  }
}

TEST(TrainGpuModel, WeightsEqualTheCpuReferenceInitialisation) {
  SXB_REQUIRE_GPU();
  ModelConfig cfg = resolve_model("tiny");
  cpu::LlamaCpu<float> ref(cfg, 1, 8);
  ref.init_weights(99);
  cudaStream_t stream = nullptr;
  gpu::LlamaGpu model(cfg, 1, 8, Recompute::none, GradStorage::fp32, stream);
  model.init_weights(99);
  const auto got = model.download_params();
  ASSERT_EQ(got.size(), ref.params().size());
  int64_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) differ += got[i] != ref.params()[i];
  EXPECT_LE(differ, int64_t(got.size() / 10000)) << differ << " of " << got.size() << " differ";
  EXPECT_LT(rel_err(got, ref.params()), 1e-6);
}

// A GPU-supported variant of a built-in test shape with an optional sliding window.
ModelConfig test_shape(const std::string& name, int64_t window = 0) {
  ModelConfig cfg = resolve_model(name);
  if (window > 0) {
    cfg.name += "-window";
    cfg.sliding_window = window;
  }
  return cfg;
}

void random_tokens(std::vector<int32_t>& tok, std::vector<int32_t>& tgt, int64_t V, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = int32_t(rng() % uint32_t(V));
  for (size_t i = 0; i < tgt.size(); ++i) {
    tgt[i] = i % 7 == 0 ? -1 : tok[(i + 1) % tok.size()];  // some masked targets
  }
}

TEST(TrainGpuModel, LossAndGradientsMatchTheCpuReferenceInEveryRecomputationMode) {
  SXB_REQUIRE_GPU();
  for (const auto& [name, window] :
       std::vector<std::pair<std::string, int64_t>>{{"tiny", 0}, {"small", 0}, {"tiny", 24}}) {
    const ModelConfig cfg = test_shape(name, window);
    SCOPED_TRACE(cfg.name);
    const int64_t B = 2, T = 80;
    std::vector<int32_t> tok(B * T), tgt(B * T);
    random_tokens(tok, tgt, cfg.vocab_size, 5);
    int64_t counted = 0;
    for (int32_t t : tgt) counted += t >= 0;
    cpu::LlamaCpu<float> ref(cfg, B, T);
    ref.init_weights(7);
    const double loss_want = ref.forward(tok.data(), tgt.data(), B, T);
    ref.backward(1.0 / double(counted));
    std::vector<std::vector<float>> grads;
    // Every recomputation mode with fp32 gradients, then no recomputation with bf16 gradients.
    const std::pair<Recompute, GradStorage> cases[] = {{Recompute::none, GradStorage::fp32},
                                                       {Recompute::selective, GradStorage::fp32},
                                                       {Recompute::full, GradStorage::fp32},
                                                       {Recompute::none, GradStorage::bf16}};
    for (const auto& [r, gs] : cases) {
      SCOPED_TRACE(grad_storage_name(gs) + " gradients");
      gpu::LlamaGpu model(cfg, B, T, r, gs, nullptr);
      model.init_weights(7);
      model.forward_backward(tok.data(), tgt.data(), B, 1.0 / double(counted), true);
      const double loss_got = model.take_loss_sum();
      EXPECT_NEAR(loss_got, loss_want, 1e-2 * std::abs(loss_want)) << recompute_name(r);
      grads.push_back(model.download_grads());
      ASSERT_TRUE(all_finite(grads.back())) << recompute_name(r);
      EXPECT_LT(rel_err(grads.back(), ref.grads()), 5e-2) << recompute_name(r);
      // Per tensor, so an op that is wrong on a small tensor cannot hide in the total.
      for (const auto& t : ref.layout()) {
        std::vector<float> a(grads.back().begin() + t.offset,
                             grads.back().begin() + t.offset + t.size);
        std::vector<float> b(ref.grads().begin() + t.offset,
                             ref.grads().begin() + t.offset + t.size);
        EXPECT_LT(rel_err(a, b), 8e-2) << recompute_name(r) << " " << t.name;
      }
    }
    // Recomputation repeats the same deterministic kernels: gradients agree far below bf16
    // rounding (only the order of attention's dq atomics differs).
    EXPECT_LT(rel_err(grads[1], grads[0]), 1e-3);
    EXPECT_LT(rel_err(grads[2], grads[0]), 1e-3);
    // bf16 storage rounds each gradient once (relative 2^-9 at most).
    EXPECT_LT(rel_err(grads[3], grads[0]), 4e-3);
    EXPECT_GT(rel_err(grads[3], grads[0]), 0.0) << "bf16 storage left the fp32 values unrounded";
  }
}

// --init pretrained on the CUDA engine: bf16 safetensors weights (as Hugging Face checkpoints
// store them) load into the fp32 master exactly, and the loss on the same tokens is the CPU
// reference's from the same weights.
TEST(TrainGpuModel, PretrainedWeightsLoadExactlyAndGiveTheCpuReferenceLoss) {
  SXB_REQUIRE_GPU();
  const ModelConfig cfg = test_shape("small");
  const int64_t B = 2, T = 64;
  cpu::LlamaCpu<float> src(cfg, B, T);
  src.init_weights(23);
  const fs::path dir =
      fs::temp_directory_path() / ("sxb_gpu_pretrained_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  save_pretrained(cfg, src.params().data(), dir, DataType::bf16);
  const std::vector<float> w = load_pretrained(cfg, dir);
  fs::remove_all(dir);
  cpu::LlamaCpu<float> ref(cfg, B, T);
  std::copy(w.begin(), w.end(), ref.params().begin());
  std::vector<int32_t> tok(B * T), tgt(B * T);
  random_tokens(tok, tgt, cfg.vocab_size, 9);
  int64_t counted = 0;
  for (int32_t t : tgt) counted += t >= 0;
  const double loss_want = ref.forward(tok.data(), tgt.data(), B, T);
  gpu::LlamaGpu model(cfg, B, T, Recompute::none, GradStorage::fp32, nullptr);
  model.load_weights(w);
  const std::vector<float> got = model.download_params();
  ASSERT_EQ(got.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(got[i], w[i]) << "element " << i;
  model.forward_backward(tok.data(), tgt.data(), B, 1.0 / double(counted), true);
  EXPECT_NEAR(model.take_loss_sum(), loss_want, 1e-2 * std::abs(loss_want));
}

TEST(TrainGpuModel, GradientAccumulationEqualsOneLargeMicroBatch) {
  SXB_REQUIRE_GPU();
  const ModelConfig cfg = resolve_model("tiny");
  const int64_t T = 64;
  std::vector<int32_t> tok(2 * T), tgt(2 * T);
  random_tokens(tok, tgt, cfg.vocab_size, 11);
  int64_t counted = 0;
  for (int32_t t : tgt) counted += t >= 0;
  gpu::LlamaGpu one(cfg, 2, T, Recompute::none, GradStorage::fp32, nullptr),
      two(cfg, 1, T, Recompute::none, GradStorage::fp32, nullptr);
  one.init_weights(3);
  two.init_weights(3);
  one.forward_backward(tok.data(), tgt.data(), 2, 1.0 / counted, true);
  two.forward_backward(tok.data(), tgt.data(), 1, 1.0 / counted, true);
  two.forward_backward(tok.data() + T, tgt.data() + T, 1, 1.0 / counted, false);
  EXPECT_NEAR(one.take_loss_sum(), two.take_loss_sum(), 1e-3 * counted);
  EXPECT_LT(rel_err(two.download_grads(), one.download_grads()), 1e-2);
  // bf16 gradients cannot carry the sum: a second micro-batch is refused.
  gpu::LlamaGpu b16(cfg, 1, T, Recompute::none, GradStorage::bf16, nullptr);
  b16.init_weights(3);
  b16.forward_backward(tok.data(), tgt.data(), 1, 1.0 / counted, true);
  EXPECT_THROW(b16.forward_backward(tok.data() + T, tgt.data() + T, 1, 1.0 / counted, false),
               Error);
}

TEST(TrainGpuModel, LossCurveFollowsTheCpuReferenceOverTwentySteps) {
  SXB_REQUIRE_GPU();
  for (GradStorage gs : {GradStorage::fp32, GradStorage::bf16}) {
  SCOPED_TRACE(grad_storage_name(gs) + " gradients");
  const ModelConfig cfg = resolve_model("tiny");
  const int64_t B = 2, T = 64, steps = 20;
  std::vector<int32_t> tok(B * T), tgt(B * T);
  random_tokens(tok, tgt, cfg.vocab_size, 13);
  int64_t counted = 0;
  for (int32_t t : tgt) counted += t >= 0;
  AdamWParams ap;
  ap.lr = 3e-3;
  cpu::LlamaCpu<float> ref(cfg, B, T);
  ref.init_weights(17);
  AdamW opt(ref.layout(), cfg.param_count(), ap);
  gpu::LlamaGpu model(cfg, B, T, Recompute::none, gs, nullptr);
  model.init_weights(17);
  std::vector<double> cpu_loss, gpu_loss, cpu_norm, gpu_norm;
  for (int64_t s = 1; s <= steps; ++s) {
    ref.zero_grad();
    cpu_loss.push_back(ref.forward(tok.data(), tgt.data(), B, T) / counted);
    ref.backward(1.0 / counted);
    cpu_norm.push_back(clip_grad_norm(ref.grads().data(), cfg.param_count(), 1.0));
    opt.step(ref.params().data(), ref.grads().data());
    model.forward_backward(tok.data(), tgt.data(), B, 1.0 / counted, true);
    model.optimizer_step(ap, s, 1.0);
    gpu_loss.push_back(model.take_loss_sum() / counted);
    gpu_norm.push_back(model.last_grad_norm());
  }
  for (int64_t s = 0; s < steps; ++s) {
    EXPECT_NEAR(gpu_loss[s], cpu_loss[s], 0.03 * cpu_loss[s]) << "step " << s + 1;
    // Step 1 sees identical weights; later steps follow trajectories that bf16 has moved apart.
    EXPECT_NEAR(gpu_norm[s], cpu_norm[s], (s == 0 ? 0.02 : 0.15) * cpu_norm[s]) << "step " << s + 1;
  }
  EXPECT_LT(gpu_loss.back(), 0.8 * gpu_loss.front()) << "the repeated batch is not learned";
  }
}

// The optimizer stream's scheduling (AdamW overlapping the next forward unit by unit, the
// gradient norm summed during the backward) changes when work runs, not what it computes:
// losses, norms and weights follow the fully serial schedule on both gradient storages (they
// differ only by the order of atomic additions). The per-unit norms must add up to the whole
// buffer's and the per-unit AdamW launches must cover every chunk once.
TEST(TrainGpuModel, OverlappedOptimizerMatchesTheSerialSchedule) {
  SXB_REQUIRE_GPU();
  const ModelConfig cfg = resolve_model("tiny");
  const int64_t B = 2, T = 64, steps = 6;
  std::vector<int32_t> tok(B * T), tgt(B * T);
  random_tokens(tok, tgt, cfg.vocab_size, 21);
  int64_t counted = 0;
  for (int32_t t : tgt) counted += t >= 0;
  AdamWParams ap;
  ap.lr = 3e-3;
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  for (GradStorage gs : {GradStorage::fp32, GradStorage::bf16}) {
    SCOPED_TRACE(grad_storage_name(gs) + " gradients");
    struct Run {
      std::vector<double> loss, norm;
      std::vector<float> params;
    };
    // update_sms > 0: the update on that many SMs, the forward's products planned for the rest.
    auto run = [&](bool overlapped, int update_sms = 0) {
      gpu::LlamaGpu model(cfg, B, T, Recompute::none, gs, overlapped ? stream : nullptr);
      model.set_overlap_optimizer(overlapped);
      model.set_norm_in_backward(overlapped);
      model.set_update_sms(update_sms);
      model.init_weights(5);
      Run r;
      for (int64_t s = 1; s <= steps; ++s) {
        model.forward_backward(tok.data(), tgt.data(), B, 1.0 / counted, true);
        model.optimizer_step(ap, s, 1.0);
        r.loss.push_back(model.take_loss_sum() / counted);
        r.norm.push_back(model.last_grad_norm());
        EXPECT_GT(model.optimizer_ms(s), 0.0);
      }
      r.params = model.download_params();
      return r;
    };
    const Run serial = run(false);
    {
      gpu::LlamaGpu model(cfg, B, T, Recompute::none, gs, stream);
      EXPECT_THROW(model.set_update_sms(-1), Error);
      EXPECT_THROW(model.set_update_sms(100000), Error);
    }
    for (const int sms : {0, 4}) {
      SCOPED_TRACE(testing::Message() << "update on " << sms << " SMs (0: no partition)");
      const Run overlapped = run(true, sms);
      for (int64_t s = 0; s < steps; ++s) {
        EXPECT_NEAR(overlapped.loss[s], serial.loss[s], 1e-4 * serial.loss[s]) << "step " << s + 1;
        EXPECT_NEAR(overlapped.norm[s], serial.norm[s], 1e-3 * serial.norm[s]) << "step " << s + 1;
      }
      EXPECT_LT(rel_err(overlapped.params, serial.params), 1e-4);
    }
  }
  cudaStreamDestroy(stream);
}

// Rates of the attention kernels at the Llama-2-7B shape (one 4096-token sequence, 32 heads of
// 128): printed for the record and checked against the chip's dense bf16 peak. Causal work is
// counted: forward 2 products of T^2/2 x hd per head, backward 5 (FLOPs = 2 per multiply-add).
TEST(TrainGpuPerf, AttentionAtTheLlama7bShapeIsWithinPhysicalLimits) {
  SXB_REQUIRE_GPU();
  const int64_t T = 4096, H = 32, hd = 128, N = T, qw = 3 * H * hd;
  Dev<bf16> qkv(random_vec(N * qw, 40)), dout(random_vec(N * H * hd, 41)), o(N * H * hd),
      dgrad(N * qw);
  Dev<float> lse(H * T), dq(N * H * hd), dsum(H * T);
  const gpu::AttentionShape s = packed_qkv_shape(1, T, H, H, hd);
  bf16* b = qkv.get();
  bf16* g = dgrad.get();
  auto median_ms = [](auto&& fn) { return median_event_ms(3, 15, fn); };
  const double fwd_ms = median_ms([&] {
    gpu::attention_forward(o.get(), lse.get(), b, b + H * hd, b + 2 * H * hd, s, nullptr);
  });
  const double bwd_ms = median_ms([&] {
    gpu::attention_backward(dq.get(), g + H * hd, g + 2 * H * hd, dsum.get(), dout.get(), o.get(),
                            lse.get(), b, b + H * hd, b + 2 * H * hd, s, nullptr);
  });
  const double causal_product = 2.0 * double(T) * double(T) / 2.0 * double(hd) * double(H);
  const double fwd_tflops = 2 * causal_product / (fwd_ms * 1e-3) / 1e12;
  const double bwd_tflops = 5 * causal_product / (bwd_ms * 1e-3) / 1e12;
  std::printf(
      "attention T=%lld H=%lld hd=%lld causal: forward %.3f ms (%.1f TFLOP/s), backward "
      "%.3f ms (%.1f TFLOP/s)\n",
      (long long)T, (long long)H, (long long)hd, fwd_ms, fwd_tflops, bwd_ms, bwd_tflops);
  RecordProperty("forward_tflops", std::to_string(fwd_tflops));
  RecordProperty("backward_tflops", std::to_string(bwd_tflops));
  EXPECT_TRUE(all_finite(o.download()));
  EXPECT_GT(fwd_tflops, 20.0);
  EXPECT_LT(fwd_tflops, 989.4);
  EXPECT_GT(bwd_tflops, 20.0);
  EXPECT_LT(bwd_tflops, 989.4);
}

// Forward and backward rates of both attention kernels at the issue's shapes (B, H, KV heads, T, head_dim)
// = (1, 32, 32, 4096, 128) and (1, 32, 8, 8192, 128), fused qkv rows as in the engine, with
// FlashAttention's FLOP count (causal forward 4 B H T^2 hd / 2); the Hopper kernel's output is
// checked against the mma.sync kernel's at each shape. Lines start with ATTNFWD for the scripts.
TEST(TrainGpuPerf, AttentionKernelsAtTheIssueShapes) {
  SXB_REQUIRE_GPU();
  struct Shape {
    int64_t B, H, KV, T, hd;
  };
  for (const Shape& sh : {Shape{1, 32, 32, 4096, 128}, Shape{1, 32, 8, 8192, 128},
                          Shape{1, 32, 32, 4096, 64}}) {
    const int64_t N = sh.B * sh.T, qw = (sh.H + 2 * sh.KV) * sh.hd, ow = sh.H * sh.hd;
    Dev<bf16> qkv(random_vec(size_t(N * qw), uint32_t(50 + sh.KV))), o_mma(size_t(N * ow)),
        o_new(size_t(N * ow));
    Dev<float> lse(size_t(sh.B * sh.H * sh.T));
    const gpu::AttentionShape s = packed_qkv_shape(sh.B, sh.T, sh.H, sh.KV, sh.hd);
    bf16* b = qkv.get();
    auto median_ms = [](auto&& fn) { return median_event_ms(5, 30, fn); };
    const double flops = 4.0 * sh.B * sh.H * double(sh.T) * double(sh.T) * sh.hd / 2;
    const bool hopper = gpu::attention_forward_sm90_supports(s);
    for (const auto kernel :
         {gpu::AttentionKernel::mma, gpu::AttentionKernel::sm90}) {
      const bool is_mma = kernel == gpu::AttentionKernel::mma;
      if (!is_mma && !hopper) {
        std::printf("ATTNFWD sm90 not available on this device/build\n");
        continue;
      }
      bf16* out = is_mma ? o_mma.get() : o_new.get();
      const double ms = median_ms([&] {
        gpu::attention_forward(out, lse.get(), b, b + sh.H * sh.hd, b + (sh.H + sh.KV) * sh.hd, s,
                               nullptr, kernel);
      });
      ASSERT_EQ(cudaGetLastError(), cudaSuccess);
      const double tflops = flops / (ms * 1e-3) / 1e12;
      std::printf("ATTNFWD %-4s B%lld H%lld KV%lld T%lld d%lld: fwd %.3f ms %.1f TF/s\n",
                  is_mma ? "mma" : "sm90", (long long)sh.B, (long long)sh.H, (long long)sh.KV,
                  (long long)sh.T, (long long)sh.hd, ms, tflops);
      EXPECT_GT(tflops, 20.0);
      EXPECT_LT(tflops, 989.4);
    }
    if (hopper) {
      const auto a = o_new.download(), m = o_mma.download();
      ASSERT_TRUE(all_finite(a));
      const double err = rel_err(a, m);
      std::printf("ATTNFWD sm90 vs mma rel err %.2e\n", err);
      EXPECT_LT(err, 1e-2);
    }
    // Backward (FlashAttention's count: 2.5 x the forward's FLOPs), D pre-pass and dq clearing
    // included, as the engine runs it.
    Dev<bf16> dout(random_vec(size_t(N * ow), uint32_t(60 + sh.KV))), grad(size_t(N * qw));
    Dev<float> dq(size_t(N * ow)), dsum(size_t(sh.B * sh.H * sh.T));
    const bool hopper_bwd = gpu::attention_backward_sm90_supports(s);
    for (const auto kernel : {gpu::AttentionKernel::mma, gpu::AttentionKernel::sm90}) {
      const bool is_mma = kernel == gpu::AttentionKernel::mma;
      if (!is_mma && !hopper_bwd) {
        std::printf("ATTNBWD sm90 not available on this device/build or head_dim\n");
        continue;
      }
      bf16* g = grad.get();
      const double ms = median_ms([&] {
        gpu::attention_backward(dq.get(), g + sh.H * sh.hd, g + (sh.H + sh.KV) * sh.hd,
                                dsum.get(), dout.get(), o_mma.get(), lse.get(), b,
                                b + sh.H * sh.hd, b + (sh.H + sh.KV) * sh.hd, s, nullptr, kernel);
      });
      ASSERT_EQ(cudaGetLastError(), cudaSuccess);
      const double tflops = 2.5 * flops / (ms * 1e-3) / 1e12;
      std::printf("ATTNBWD %-4s B%lld H%lld KV%lld T%lld d%lld: bwd %.3f ms %.1f TF/s\n",
                  is_mma ? "mma" : "sm90", (long long)sh.B, (long long)sh.H, (long long)sh.KV,
                  (long long)sh.T, (long long)sh.hd, ms, tflops);
      EXPECT_TRUE(all_finite(dq.download()));
      EXPECT_GT(tflops, 20.0);
      EXPECT_LT(tflops, 989.4);
    }
  }
}

// The memory-bound operators of a decoder layer at the Llama-2-7B shape (4096 tokens, hidden
// 4096, FFN 11008, 32 heads of 128 in fused qkv rows): each one's median time and the bytes it
// must move (read + written) per second, against a device-to-device copy in the same run, so the
// step's profile can say how far each is from the memory's rate. Lines start with ELEM.
TEST(TrainGpuPerf, ElementwiseOperatorsAgainstTheCopyRate) {
  SXB_REQUIRE_GPU();
  ModelConfig cfg = resolve_model("meta-llama/Llama-2-7b-hf");
  const int64_t T = 4096, N = T, d = cfg.hidden_size, F = cfg.intermediate_size;
  const int64_t H = cfg.num_heads, KV = cfg.num_kv_heads, hd = cfg.head_dim(), qw = d + 2 * KV * hd;
  const auto inv = cpu::rope_inv_freq(cfg);
  std::vector<float> cs(size_t(T * hd / 2)), sn(size_t(T * hd / 2));
  cpu::rope_tables(cs.data(), sn.data(), inv, T);
  Dev<float> dcos(cs), dsin(sn), rstd(static_cast<size_t>(N)), dw(static_cast<size_t>(d)),
      dq32(random_vec(size_t(N * d), 3));
  Dev<bf16> x(random_vec(size_t(N * d), 1)), dout(random_vec(size_t(N * d), 2)), y(size_t(N * d)),
      res(random_vec(size_t(N * d), 4)), w(random_vec(size_t(d), 5)),
      qkv(random_vec(size_t(N * qw), 6)), gu(random_vec(size_t(N * 2 * F), 7)),
      act(size_t(N * F)), dact(random_vec(size_t(N * F), 8)), dgu(size_t(N * 2 * F));
  auto median_ms = [](auto&& fn) { return median_event_ms(3, 20, fn); };
  const int64_t copy_bytes = N * 2 * F * 2;  // gu's size: 180 MB
  const double copy_ms = median_ms([&] {
    cudaMemcpyAsync(dgu.get(), gu.get(), size_t(copy_bytes), cudaMemcpyDeviceToDevice, nullptr);
  });
  const double copy_gbs = 2.0 * double(copy_bytes) / (copy_ms * 1e-3) / 1e9;
  std::printf("ELEM copy (device to device, %lld MB): %.1f us, %.0f GB/s\n",
              (long long)(copy_bytes >> 20), copy_ms * 1e3, copy_gbs);
  gpu::rmsnorm_forward(y.get(), rstd.get(), x.get(), w.get(), N, d, 1e-5f, nullptr);
  struct Op {
    const char* name;
    double bytes;
    std::function<void()> run;
  };
  const double act_b = double(N * d * 2);
  const std::vector<Op> ops = {
      {"rmsnorm_forward", 2 * act_b,
       [&] { gpu::rmsnorm_forward(y.get(), rstd.get(), x.get(), w.get(), N, d, 1e-5f, nullptr); }},
      {"rmsnorm_backward (residual in place, weight gradient)", 4 * act_b,
       [&] {
         gpu::rmsnorm_backward(res.get(), dw.get(), dout.get(), x.get(), w.get(), rstd.get(),
                               res.get(), N, d, nullptr);
       }},
      {"rope_forward (q and k in the qkv rows)", 2.0 * double(N * (H + KV) * hd * 2),
       [&] {
         gpu::rope_forward(qkv.get(), qw, 0, dcos.get(), dsin.get(), N, T, H + KV, hd, nullptr);
       }},
      {"rope_backward_f32 (dq fp32 into bf16 rows)", double(N * H * hd) * (4 + 2),
       [&] {
         gpu::rope_backward_f32(qkv.get(), qw, 0, dq32.get(), dcos.get(), dsin.get(), N, T, H, hd,
                                nullptr);
       }},
      {"rope_backward (dk in place)", 2.0 * double(N * KV * hd * 2),
       [&] {
         gpu::rope_backward(qkv.get(), qw, d, dcos.get(), dsin.get(), N, T, KV, hd, nullptr);
       }},
      {"swiglu_forward", double(N * F * 2) * 3,
       [&] { gpu::swiglu_forward(act.get(), gu.get(), N, F, nullptr); }},
      {"swiglu_backward", double(N * F * 2) * 5,
       [&] { gpu::swiglu_backward(dgu.get(), dact.get(), gu.get(), N, F, nullptr); }},
  };
  for (const auto& op : ops) {
    const double ms = median_ms(op.run);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess) << op.name;
    const double gbs = op.bytes / (ms * 1e-3) / 1e9;
    std::printf("ELEM %s: %.1f us, %.0f MB moved, %.0f GB/s, %.2f of the copy\n", op.name,
                ms * 1e3, op.bytes / 1e6, gbs, gbs / copy_gbs);
    // No operator moves its bytes faster than the memory copies them (some slack for L2 hits).
    EXPECT_GT(gbs, 0.0) << op.name;
    EXPECT_LT(gbs, 1.3 * copy_gbs) << op.name;
  }
}

// Data parallel: two ranks sharing this GPU through the host-staged exchange train the same
// global batch as one rank with twice the micro-batch, with the same losses (bf16 tolerance:
// products of a different row count may take other cuBLASLt kernels) and identical replicas;
// one rank with an explicit nccl exchange (the overlapped path, a sum over one rank) matches the
// run without any exchange.
TEST(TrainGpuCli, RanksSummingGradientsMatchOneRankOfTheSameGlobalBatch) {
  SXB_REQUIRE_GPU();
  const fs::path dir = e2e::scratch_dir("train_gpu_dp");
  {
    std::ofstream cfg(dir / "ds.json");
    cfg << R"({"train_batch_size": 4, "gradient_clipping": 1.0, "bf16": {"enabled": true},
              "optimizer": {"type": "AdamW", "params": {"lr": 1e-3}}})";
  }
  const std::string common = "train --device cuda --model tiny --seq-len 64 --steps 5 "
                             "--warmup-steps 1 --ds-config " + (dir / "ds.json").string();
  auto metrics = [&](const std::string& name) {
    std::ifstream in(dir / name / "sft_metrics.json");
    return nlohmann::json::parse(in);
  };
  const auto one = e2e::run_command(e2e::sxbench(common + " --micro-batch 4 --grad-dtype fp32 --out " +
                                                 (dir / "one").string()));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const auto two = e2e::run_command(e2e::mpirun(
      2, common + " --micro-batch 2 --comm-backend mpi --out " + (dir / "two").string()));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const auto nccl = e2e::run_command(e2e::sxbench(common + " --micro-batch 4 --comm-backend nccl --out " +
                                                  (dir / "nccl").string()));
  ASSERT_EQ(nccl.exit_code, 0) << nccl.output;
  const auto m1 = metrics("one"), m2 = metrics("two"), mn = metrics("nccl");
  EXPECT_EQ(m2["world_size"], 2);
  EXPECT_EQ(m2["communication"]["backend"], "mpi");
  EXPECT_EQ(mn["communication"]["backend"], "nccl");
  EXPECT_EQ(m1["communication"]["backend"], "none");
  EXPECT_TRUE(m2["replicas_identical"].get<bool>());
  EXPECT_EQ(m2["precision"]["gradients"], "fp32");
  const auto& c1 = m1["loss_curve"];
  const auto& c2 = m2["loss_curve"];
  const auto& cn = mn["loss_curve"];
  ASSERT_EQ(c1.size(), 5u);
  ASSERT_EQ(c2.size(), 5u);
  ASSERT_EQ(cn.size(), 5u);
  const int64_t P = resolve_model("tiny").param_count();
  for (size_t i = 0; i < 5; ++i) {
    const double l1 = c1[i]["loss"], l2 = c2[i]["loss"], ln = cn[i]["loss"];
    EXPECT_NEAR(l2, l1, 1e-2 * l1) << "step " << i + 1;
    EXPECT_NEAR(ln, l1, 1e-4 * l1) << "step " << i + 1;
    EXPECT_EQ(c2[i]["target_tokens"], c1[i]["target_tokens"]);
    // Each rank sends every fp32 gradient once per step.
    EXPECT_EQ(c2[i]["comm_bytes"].get<int64_t>(), 4 * P);
    EXPECT_EQ(cn[i]["comm_bytes"].get<int64_t>(), 4 * P);
    EXPECT_GT(c2[i]["comm_time_s"].get<double>(), 0.0);
  }
  EXPECT_NEAR(double(c2[0]["grad_norm"]), double(c1[0]["grad_norm"]),
              0.02 * double(c1[0]["grad_norm"]));
  EXPECT_LT(double(c2[4]["loss"]), double(c2[0]["loss"]));
  fs::remove_all(dir);
}

// Stragglers of the CUDA engine: three ranks sharing the GPU through the mpi exchange, rank 1
// made slow by the test-only fault (its compute stream held before each forward for 5 times the
// previous step's own work). Every rank records its busy time (compute-stream time less the
// exposed exchanges), and `diagnose --from` names rank 1 and only rank 1; a clean run names
// nobody. The ranks share one GPU, so each one's kernels may wait for the others': the
// threshold is 40 %, the fault 6x.
TEST(TrainGpuCli, AStragglerOfTheCudaEngineIsNamedFromItsRunDirectory) {
  SXB_REQUIRE_GPU();
  const fs::path dir = e2e::scratch_dir("train_gpu_straggler");
  auto train = [&](const std::string& name) {
    return e2e::mpirun(3, "train --device cuda --model tiny --seq-len 256 --micro-batch 2 "
                          "--steps 12 --warmup-steps 2 --comm-backend mpi --out " +
                              (dir / name).string());
  };
  const auto slow = e2e::run_command("env SXB_FAULT_INJECT=slow:1:6 " + train("slow"));
  ASSERT_EQ(slow.exit_code, 0) << slow.output;
  const auto clean = e2e::run_command(train("clean"));
  ASSERT_EQ(clean.exit_code, 0) << clean.output;
  std::ifstream in(dir / "slow" / "sft_metrics.json");
  const auto m = nlohmann::json::parse(in);
  ASSERT_EQ(m["per_rank"].size(), 3u) << m.dump();
  EXPECT_NE(m["per_rank_method"].get<std::string>().find("CUDA-event"), std::string::npos);
  for (const auto& r : m["per_rank"]) {
    EXPECT_EQ(r["busy_time_s"].size(), 10u);
    EXPECT_GT(r["busy_time_s_median"].get<double>(), 0.0);
  }
  const double b0 = m["per_rank"][0]["busy_time_s_median"], b1 = m["per_rank"][1]["busy_time_s_median"];
  EXPECT_GT(b1, 3 * b0) << m["per_rank"].dump();

  const auto a = e2e::run_command(e2e::sxbench("diagnose --threshold 40 --from " + (dir / "slow").string()));
  EXPECT_EQ(a.exit_code, 1) << a.output;
  EXPECT_NE(a.output.find("named: rank 1 ("), std::string::npos) << a.output;
  const auto b = e2e::run_command(e2e::sxbench("diagnose --threshold 40 --from " +
                                               (dir / "clean").string()));
  EXPECT_EQ(b.exit_code, 0) << b.output;
  EXPECT_EQ(b.output.find("named:"), std::string::npos) << b.output;
  fs::remove_all(dir);
}

// ZeRO-1, 2 and 3 on the CUDA engine: three ranks sharing the GPU through the mpi exchange
// (uneven shards: the last one is shorter, the working copy padded), with one and with two
// micro-batches per step (ZeRO-2/3 then add the second micro-batch's reduced gradients into the
// shards; ZeRO-3 gathers each unit again for the second micro-batch). The same summed gradients
// and the elementwise AdamW on each shard give stage 0's trajectory; at stages 1-2 the
// all-gather makes the working copies identical on every rank.
TEST(TrainGpuCli, ZeroStagesOneToThreeFollowStageZero) {
  SXB_REQUIRE_GPU();
  const fs::path dir = e2e::scratch_dir("train_gpu_zero");
  for (int stage : {0, 1, 2, 3}) {
    std::ofstream cfg(dir / ("ds" + std::to_string(stage) + ".json"));
    cfg << R"({"train_batch_size": 6, "gradient_clipping": 1.0, "bf16": {"enabled": true},
              "zero_optimization": {"stage": )"
        << stage << R"(}, "optimizer": {"type": "AdamW", "params": {"lr": 1e-3}}})";
  }
  auto run = [&](int stage, int micro) {
    const std::string name = "z" + std::to_string(stage) + "m" + std::to_string(micro);
    const auto r = e2e::run_command(e2e::mpirun(
        3, "train --device cuda --model tiny --seq-len 64 --steps 5 --warmup-steps 1 "
           "--micro-batch " + std::to_string(micro) + " --comm-backend mpi --ds-config " +
               (dir / ("ds" + std::to_string(stage) + ".json")).string() + " --out " +
               (dir / name).string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::ifstream in(dir / name / "sft_metrics.json");
    return nlohmann::json::parse(in);
  };
  const int64_t P = resolve_model("tiny").param_count(), S = (P + 2) / 3;
  ASSERT_NE(P % 3, 0) << "the test wants uneven shards";
  for (int micro : {2, 1}) {
    const int64_t accum = 2 / micro;
    const auto base = run(0, micro);
    EXPECT_EQ(base["zero_stage"]["applied"], 0);
    for (int stage : {1, 2, 3}) {
      if (stage == 1 && micro == 1) continue;  // stage 1 accumulates as stage 0 does
      SCOPED_TRACE(testing::Message() << "stage " << stage << ", micro-batch " << micro);
      const auto m = run(stage, micro);
      EXPECT_EQ(m["zero_stage"]["applied"], stage);
      EXPECT_TRUE(m["replicas_identical"].get<bool>());
      const auto& c0 = base["loss_curve"];
      const auto& c1 = m["loss_curve"];
      ASSERT_EQ(c1.size(), 5u);
      for (size_t i = 0; i < 5; ++i) {
        const double l0 = c0[i]["loss"], l1 = c1[i]["loss"];
        EXPECT_NEAR(l1, l0, 1e-4 * l0) << "step " << i + 1;
        EXPECT_NEAR(double(c1[i]["grad_norm"]), double(c0[i]["grad_norm"]),
                    1e-3 * double(c0[i]["grad_norm"]))
            << "step " << i + 1;
        // The gradient all_reduce (stage 1) or a reduce per micro-batch (stages 2-3), then the
        // all_gather of 3 bf16 shards (stages 1-2) or per micro-batch every unit's gather for
        // the forward and all but the last two units' again for the backward (stage 3).
        const int64_t grads = 4 * P * (stage >= 2 ? accum : 1);
        if (stage < 3) {
          EXPECT_EQ(c1[i]["comm_bytes"].get<int64_t>(), grads + 2 * 3 * S) << "step " << i + 1;
        } else {
          EXPECT_GT(c1[i]["comm_bytes"].get<int64_t>(), grads + 2 * P * accum) << "step " << i + 1;
          EXPECT_LT(c1[i]["comm_bytes"].get<int64_t>(), grads + 4 * P * accum) << "step " << i + 1;
        }
      }
      // The AdamW state (and at stage 2 the reduced gradient) is about a third of stage 0's.
      const auto& b0 = base["peak_memory_bytes"]["engine_buffers_by_category"];
      const auto& b1 = m["peak_memory_bytes"]["engine_buffers_by_category"];
      EXPECT_LT(b1["optimizer"].get<double>(), 0.4 * b0["optimizer"].get<double>());
      EXPECT_LT(b1["master"].get<double>(), 0.4 * b0["master"].get<double>());
      if (stage >= 2) {  // the reduced shard and two buffers of the largest unit
        const uint64_t U = uint64_t(largest_parameter_unit(resolve_model("tiny")));
        ASSERT_EQ(U, 43136u);
        EXPECT_EQ(b1["gradients"].get<uint64_t>(),
                  aligned_bytes(4 * uint64_t(S)) + 2 * aligned_bytes(4 * U));
      }
    }
  }
  fs::remove_all(dir);
}

TEST(TrainGpuCli, TrainWritesMetricsWithMfuAndMemory) {
  SXB_REQUIRE_GPU();
  const fs::path dir = e2e::scratch_dir("train_gpu_cli");
  // A learning rate at which 12 steps visibly learn the synthetic Markov data.
  {
    std::ofstream cfg(dir / "ds.json");
    cfg << R"({"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 2,
              "gradient_clipping": 1.0, "bf16": {"enabled": true},
              "optimizer": {"type": "AdamW", "params": {"lr": 1e-3}}})";
  }
  const auto r = e2e::run_command(e2e::sxbench(
      "train --device cuda --model small --seq-len 256 --steps 12 --warmup-steps 2 --profile "
      "--ds-config " +
      (dir / "ds.json").string() + " --out " + (dir / "out").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(dir / "out" / "sft_metrics.json");
  const auto m = nlohmann::json::parse(in);
  EXPECT_EQ(m["engine"], "sxbench-cuda-bf16");
  EXPECT_EQ(m["batch"]["gradient_accumulation_steps"], 2);
  // The profile names the step's categories.
  const auto& prof = m["engine_profile"]["last_step_ms"];
  for (const char* cat : {"gemm.forward", "gemm.backward_weight", "attention.forward",
                          "attention.backward", "optimizer", "norm"}) {
    EXPECT_TRUE(prof.contains(cat)) << cat << " missing from " << prof.dump();
  }
  EXPECT_EQ(m["device"]["kind"], "gpu");
  EXPECT_GT(m["tokens_per_s"].get<double>(), 0);
  EXPECT_LT(m["final_loss"].get<double>(), m["initial_loss"].get<double>());
  EXPECT_GT(m["peak_memory_bytes"]["engine_buffers_bytes"].get<double>(), 0);
  EXPECT_GE(m["peak_memory_bytes"]["device_used_peak_bytes"].get<double>(),
            m["peak_memory_bytes"]["engine_buffers_bytes"].get<double>());
  if (std::string(m["device"]["name"]).find("H") != std::string::npos) {
    EXPECT_TRUE(m["mfu"].is_number()) << m["mfu_note"];
  }
  EXPECT_EQ(m["activation_recomputation"]["mode"], "none");
  fs::remove_all(dir);
}

TEST(TrainGpuCli, ModelThatCannotFitIsRefusedBeforeAllocation) {
  SXB_REQUIRE_GPU();
  const fs::path dir = e2e::scratch_dir("train_gpu_refuse");
  const auto r = e2e::run_command(e2e::sxbench(
      "train --device cuda --model meta-llama/Llama-2-70b-hf --seq-len 4096 --steps 1 --out " +
      dir.string()));
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("does not fit"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("GiB"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "sft_metrics.json"));
  fs::remove_all(dir);
}

#endif  // SXB_HAVE_CUDA

}  // namespace
}  // namespace sxb
