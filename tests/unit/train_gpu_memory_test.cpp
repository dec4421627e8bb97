// The CUDA engine's memory plan: exact per-parameter bytes, what each recomputation mode keeps,
// and the fit decisions for Llama-2 shapes on one H200.
#include <gtest/gtest.h>

#include "train/gpu_memory.hpp"
#include "train/model_config.hpp"

namespace sxb {
namespace {

constexpr uint64_t kGiB = uint64_t(1) << 30;
constexpr uint64_t kH200Usable = 139 * kGiB;  // what cudaMemGetInfo reports free on an H200

TEST(GpuMemoryPlan, ParametersTakeEighteenBytesEach) {
  const ModelConfig m = resolve_model("meta-llama/Llama-2-7b-hf");
  const uint64_t P = uint64_t(m.param_count());
  const auto cats = plan_gpu_memory(m, 1, 4096, Recompute::none).bytes_by_category();
  EXPECT_EQ(cats.at("weights"), aligned_bytes(2 * P));  // bf16 working copy
  EXPECT_EQ(cats.at("master"), aligned_bytes(4 * P));
  EXPECT_EQ(cats.at("gradients"), aligned_bytes(4 * P));
  EXPECT_GE(cats.at("optimizer"), 2 * aligned_bytes(4 * P));  // m, v (+ the chunk table)
  EXPECT_LT(cats.at("optimizer"), 2 * aligned_bytes(4 * P) + (uint64_t(4) << 20));
}

TEST(GpuMemoryPlan, Bf16GradientsHalveTheGradientBytes) {
  const ModelConfig m = resolve_model("meta-llama/Llama-2-7b-hf");
  const uint64_t P = uint64_t(m.param_count());
  const auto fp32 = plan_gpu_memory(m, 1, 4096, Recompute::none, GradStorage::fp32);
  const auto bf16 = plan_gpu_memory(m, 1, 4096, Recompute::none, GradStorage::bf16);
  EXPECT_EQ(bf16.grads, GradStorage::bf16);
  EXPECT_EQ(bf16.find("grad.fp32"), nullptr);
  ASSERT_NE(bf16.find("grad.bf16"), nullptr);
  EXPECT_EQ(bf16.find("grad.bf16")->bytes, 2 * P);
  // fp32 sums for the atomically added gradients: embedding (32000 x 4096) and 65 norm weights.
  const uint64_t sums = 32000ull * 4096 + 65ull * 4096;
  EXPECT_EQ(uint64_t(atomic_gradient_elements(m)), sums);
  EXPECT_EQ(bf16.find("grad.fp32_sums")->bytes, 4 * sums);
  EXPECT_EQ(bf16.bytes_by_category().at("gradients"),
            aligned_bytes(2 * P) + aligned_bytes(4 * sums));
  EXPECT_EQ(fp32.total_bytes() - bf16.total_bytes(),
            aligned_bytes(4 * P) - aligned_bytes(2 * P) - aligned_bytes(4 * sums));
  EXPECT_EQ(grad_storage_name(GradStorage::bf16), "bf16");
}

TEST(GpuMemoryPlan, RecomputationKeepsLessInTheDocumentedWay) {
  const ModelConfig m = resolve_model("meta-llama/Llama-2-7b-hf");
  const int64_t B = 1, T = 4096;
  const auto none = plan_gpu_memory(m, B, T, Recompute::none);
  const auto sel = plan_gpu_memory(m, B, T, Recompute::selective);
  const auto full = plan_gpu_memory(m, B, T, Recompute::full);
  EXPECT_LT(full.total_bytes(), sel.total_bytes());
  EXPECT_LT(sel.total_bytes(), none.total_bytes());
  // Selective drops two normed inputs (N x d) and the SwiGLU output (N x F) per layer, in bf16,
  // and keeps one shared copy of each.
  const uint64_t N = uint64_t(B * T), d = uint64_t(m.hidden_size),
                 F = uint64_t(m.intermediate_size);
  const uint64_t L = uint64_t(m.num_layers);
  const uint64_t per_layer = 2 * aligned_bytes(N * d * 2) + aligned_bytes(N * F * 2);
  const uint64_t shared = aligned_bytes(N * d * 2) + aligned_bytes(N * F * 2);
  EXPECT_EQ(none.total_bytes() - sel.total_bytes(), L * per_layer - shared);
  // Full keeps one layer's set instead of L.
  EXPECT_EQ(full.find("layer.qkv")->count, 1);
  EXPECT_EQ(none.find("layer.qkv")->count, m.num_layers);
  EXPECT_EQ(none.find("resid")->count, m.num_layers + 1);
  EXPECT_EQ(none.find("layer.lse")->bytes, uint64_t(B) * uint64_t(m.num_heads) * T * 4);
  const std::string text = describe_gpu_memory(none);
  EXPECT_NE(text.find("activations"), std::string::npos) << text;
  EXPECT_NE(text.find("GiB"), std::string::npos) << text;
}

TEST(GpuMemoryPlan, FitDecisionsForLlama2OnOneH200) {
  const ModelConfig m7 = resolve_model("meta-llama/Llama-2-7b-hf");
  const ModelConfig m13 = resolve_model("meta-llama/Llama-2-13b-hf");
  // 7B, one 4096-token sequence: everything kept (about 121 GiB of state + 16 GiB activations).
  EXPECT_EQ(choose_gpu_recompute(m7, 1, 4096, kH200Usable), Recompute::none);
  const uint64_t none_total = plan_gpu_memory(m7, 1, 4096, Recompute::none).total_bytes();
  EXPECT_GT(none_total, 125 * kGiB);
  EXPECT_LT(none_total, 135 * kGiB);
  // Four sequences per micro-batch need full recomputation.
  EXPECT_EQ(choose_gpu_recompute(m7, 4, 4096, kH200Usable), Recompute::full);
  // 13B's weights, gradients and AdamW state alone (18 B x 13.0e9) exceed one GPU.
  EXPECT_FALSE(choose_gpu_recompute(m13, 1, 4096, kH200Usable).has_value());
  // A smaller GPU moves the 7B decision.
  EXPECT_FALSE(choose_gpu_recompute(m7, 1, 4096, 80 * kGiB).has_value());
}

}  // namespace
}  // namespace sxb
