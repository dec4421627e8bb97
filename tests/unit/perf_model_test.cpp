#include <gtest/gtest.h>

#include "model/model_shape.hpp"
#include "perfmodel/perf_model.hpp"

namespace sxb {
namespace {

ModelShape llama2_7b() { return model_shape("meta-llama/Llama-2-7b-hf"); }

Cluster h200(int nodes, int gpus_per_node) {
  Cluster c;
  c.nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  c.gpu_memory_bytes = 141e9;
  c.peak_bf16_tflops = 989.4;
  c.hbm_gb_per_s = 4800;
  c.intra_node_busbw_gb_per_s = 344.5;
  c.inter_node_busbw_gb_per_s = 90;
  return c;
}

TEST(PerfModel, ShapesComeFromTheModelRegistry) {
  const ModelShape m = llama2_7b();
  EXPECT_EQ(m.params, 6738415616);
  EXPECT_EQ(m.hidden, 4096);
  EXPECT_EQ(m.layers, 32);
  EXPECT_EQ(model_shape("meta-llama/Llama-2-70b-hf").kv_heads, 8);
}

TEST(PerfModel, PalmFlopsPerToken) {
  // 6 x 6,738,415,616 + 12 x 32 x 4096 x 4096
  EXPECT_DOUBLE_EQ(palm_flops_per_token(llama2_7b(), 4096), 40430493696.0 + 6442450944.0);
}

TEST(PerfModel, MemoryShardsWithZeroStage) {
  const ModelShape m = llama2_7b();
  TrainSetup t;
  t.seq_len = 4096;
  const Cluster c = h200(1, 8);
  double previous = 1e300;
  for (int stage = 0; stage <= 3; ++stage) {
    t.zero_stage = stage;
    const MemoryPlan p = plan_memory(m, t, c);
    EXPECT_LT(p.total_bytes, previous) << "stage " << stage;
    previous = p.total_bytes;
  }
  t.zero_stage = 0;
  const MemoryPlan p0 = plan_memory(m, t, c);
  EXPECT_DOUBLE_EQ(p0.optimizer_bytes, 12.0 * m.params);
  t.zero_stage = 1;
  EXPECT_DOUBLE_EQ(plan_memory(m, t, c).optimizer_bytes, 12.0 * m.params / 8);
}

TEST(PerfModel, SevenBFitsOneH200WithoutRecomputeAndSeventyBDoesNot) {
  TrainSetup t;
  t.seq_len = 4096;
  const MemoryPlan p = plan_memory(llama2_7b(), t, h200(1, 1));
  EXPECT_TRUE(p.fits) << p.verdict;
  const ModelShape b70 = model_shape("meta-llama/Llama-2-70b-hf");
  const MemoryPlan q = plan_memory(b70, t, h200(1, 1));
  EXPECT_FALSE(q.fits);
  EXPECT_NE(q.verdict.find("does not fit"), std::string::npos);
  EXPECT_NE(q.verdict.find("optimizer state"), std::string::npos) << q.verdict;
  // ZeRO-3 over 8 nodes x 8 GPUs with full recomputation makes 70B fit.
  t.zero_stage = 3;
  EXPECT_EQ(choose_recompute(b70, t, h200(8, 8)), Recompute::none);
  EXPECT_FALSE(choose_recompute(b70, t, h200(1, 1)).has_value());
}

TEST(PerfModel, RecomputationTradesMemoryForTime) {
  const ModelShape m = llama2_7b();
  TrainSetup t;
  const Cluster c = h200(1, 1);
  Calibration cal;
  const auto none = predict_step(m, t, c, cal);
  t.recompute = Recompute::full;
  const auto full = predict_step(m, t, c, cal);
  EXPECT_LT(full.memory.activations_bytes, none.memory.activations_bytes / 4);
  EXPECT_NEAR(full.compute_s / none.compute_s, 4.0 / 3.0, 1e-9);
  EXPECT_DOUBLE_EQ(full.flops_per_token, none.flops_per_token);  // model FLOPs do not change
}

TEST(PerfModel, CalibratedThroughputAndScaling) {
  const ModelShape m = llama2_7b();
  TrainSetup t;
  t.zero_stage = 2;
  Calibration cal;
  cal.achieved_tflops_per_gpu = 450.0;
  const auto one = predict_step(m, t, h200(1, 1), cal);
  // One GPU: step = compute at the calibrated rate + the memory-bound AdamW pass, no comm.
  const double compute_s = 4096 * palm_flops_per_token(m, 4096) / 450e12;
  const double optimizer_s = 6738415616.0 * 28 / (4800e9 * 0.8);
  EXPECT_DOUBLE_EQ(one.compute_s, compute_s);
  EXPECT_DOUBLE_EQ(one.comm_s, 0.0);
  EXPECT_NEAR(one.step_s, compute_s + optimizer_s, 1e-12);
  EXPECT_NEAR(one.tokens_per_s_per_gpu, 4096 / (compute_s + optimizer_s), 1e-6);
  EXPECT_NEAR(one.mfu, one.tokens_per_s_per_gpu * one.flops_per_token / 989.4e12, 1e-12);
  const auto eight = predict_step(m, t, h200(1, 8), cal);
  const auto sixty_four = predict_step(m, t, h200(8, 8), cal);
  EXPECT_GT(eight.comm_s, 0);
  EXPECT_GE(sixty_four.exposed_comm_s, eight.exposed_comm_s);  // slower links across nodes
  EXPECT_LE(sixty_four.tokens_per_s_per_gpu, eight.tokens_per_s_per_gpu * 1.000001);
  EXPECT_DOUBLE_EQ(eight.samples_per_s, eight.tokens_per_s / 4096);
  bool listed = false;
  for (const auto& a : eight.assumptions) listed = listed || a.name == "comm_overlap_fraction";
  EXPECT_TRUE(listed);
}

}  // namespace
}  // namespace sxb
