#include "perfmodel/perf_model.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/compute_results.hpp"
#include "core/hardware.hpp"
#include "model/flops.hpp"
#include "model/model_shape.hpp"
#include "model/recompute.hpp"
#include "perfmodel/gpu_memory.hpp"

namespace sxb {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot = SXB_TEST_SOURCE_DIR;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << p;
  return nlohmann::json::parse(in);
}

// One H200 from configs/hardware (datasheet), with the node's ceilings when given.
Cluster h200_datasheet(const NodeCeilings& ceilings = {}) {
  const auto specs = load_hardware_specs(kRoot / "configs" / "hardware");
  const auto gpu = find_gpu_spec(specs, "NVIDIA H200");
  EXPECT_TRUE(gpu.has_value());
  Cluster c;
  c.nodes = 1;
  c.gpus_per_node = 1;
  c.peak_bf16_tflops = gpu->figure("dense_bf16_tflops").value;
  c.hbm_gb_per_s = gpu->figure("hbm_bandwidth_gb_per_s").value;
  c.gpu_memory_bytes = gpu->figure("hbm_capacity_gb").value * 1e9;
  c.ceilings = ceilings;
  return c;
}

// A run directory recorded on one H200 (tests/fixtures/gpu): what it trained, what it measured,
// and the ceilings its own compute phase measured.
struct FixtureRun {
  ModelShape shape;
  TrainSetup setup;
  double tokens_per_s_per_gpu = 0;
  double device_used_peak_bytes = 0;
  NodeCeilings ceilings;
};

FixtureRun fixture_run(const std::string& name) {
  const fs::path dir = kRoot / "tests" / "fixtures" / "gpu" / name;
  const auto m = read_json(dir / "sft_metrics.json");
  FixtureRun r;
  r.shape = model_shape(m["model"]["name"].get<std::string>());
  r.setup.seq_len = m["seq_len"];
  r.setup.micro_batch = m["batch"]["train_micro_batch_size_per_gpu"];
  r.setup.grad_accum = m["batch"]["gradient_accumulation_steps"];
  r.setup.zero_stage = m["zero_stage"]["applied"];
  r.setup.recompute =
      *parse_recompute_name(m["activation_recomputation"]["mode"].get<std::string>());
  r.tokens_per_s_per_gpu = m["tokens_per_s_per_device"];
  r.device_used_peak_bytes = m["peak_memory_bytes"]["device_used_peak_bytes"];
  if (fs::exists(dir / "compute.json")) {  // else the datasheet figures
    r.ceilings = node_ceilings(read_json(dir / "compute.json").get<ComputeReport>());
    r.ceilings.source = name + "/compute.json";
  }
  return r;
}

double error(double predicted, double measured) {
  return (predicted - measured) / measured;
}

ModelShape llama2_7b() {
  return model_shape("meta-llama/Llama-2-7b-hf");
}

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
  // The low half of the fp32 master (2 bytes) and AdamW's m and v (4 + 4) per element of the
  // optimizer's part, and the AdamW chunk table (16 bytes per 65,536 elements and per tensor, 9 L
  // + 3 tensors); each buffer 256-byte aligned.
  auto optimizer = [](double elements) {
    return 10.0 * elements + 16.0 * (std::floor(elements / 65536) + 9 * 32 + 3);
  };
  EXPECT_NEAR(p0.optimizer_bytes, optimizer(m.params), 4 * 256);
  t.zero_stage = 1;
  EXPECT_NEAR(plan_memory(m, t, c).optimizer_bytes, optimizer(std::ceil(m.params / 8.0)), 4 * 256);
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
  // Full recomputation repeats each layer's forward up to the SwiGLU output (model/recompute.hpp):
  // 32 x (2 (4096 x 12288 + 4096 x 4096 + 4096 x 22016) + 4 x 4096 x 4096) = 12,213,813,248
  // FLOPs per token on top of PaLM's 46,872,944,640.
  EXPECT_DOUBLE_EQ(recompute_flops_per_token(m, Recompute::full, 4096), 12213813248.0);
  EXPECT_DOUBLE_EQ(full.executed_flops_per_token, 46872944640.0 + 12213813248.0);
  EXPECT_DOUBLE_EQ(full.flops_per_token, none.flops_per_token);  // model FLOPs do not change
  // Uncalibrated: the repeated products are qkv, attn_out and mlp_up_gate (not mlp_down, not the
  // head), each at the rate of its forward; attention's forward runs twice.
  EXPECT_DOUBLE_EQ(none.matmul_recompute_s, 0.0);
  const double rate = 989.4e12 * 0.70;  // no compute.json: datasheet at the stated efficiency
  EXPECT_NEAR(full.matmul_recompute_s,
              32 * 2.0 * 4096 * 4096 * (12288 + 4096 + 22016) / rate, 1e-12);
  EXPECT_DOUBLE_EQ(full.matmul_forward_s, none.matmul_forward_s);
  EXPECT_NEAR(full.attention_s - none.attention_s, 32 * 2.0 * 4096 * 4096 * 4096 / (234.9e12),
              1e-9);
  EXPECT_GT(full.elementwise_s, none.elementwise_s);
  EXPECT_DOUBLE_EQ(full.matmul_flops_per_token + full.attention_flops_per_token -
                       none.matmul_flops_per_token - none.attention_flops_per_token,
                   32 * 2.0 * 4096 * (12288 + 4096 + 22016) + 32 * 2.0 * 4096 * 4096);
  // Calibrated, the compute time grows by the executed FLOPs.
  cal.achieved_tflops_per_gpu = 500;
  t.recompute = Recompute::none;
  const auto none_cal = predict_step(m, t, c, cal);
  t.recompute = Recompute::full;
  const auto full_cal = predict_step(m, t, c, cal);
  EXPECT_NEAR(full_cal.compute_s / none_cal.compute_s,
              (46872944640.0 + 12213813248.0) / 46872944640.0, 1e-12);
}

TEST(PerfModel, SelectiveRebuildsTheNormsAndSwiGluWithoutMatrixWork) {
  // Selective drops ln1, ln2 and the SwiGLU output of every layer (2 x (2 d + F) bytes per token)
  // and holds one normed input and one SwiGLU output instead (2 x (d + F), scratch), as the
  // engine does.
  const ModelShape m = llama2_7b();
  TrainSetup t;
  const Cluster c = h200(1, 1);
  Calibration cal;
  const auto none = predict_step(m, t, c, cal);
  t.recompute = Recompute::selective;
  const auto sel = predict_step(m, t, c, cal);
  const double d = 4096, F = 11008, L = 32, tokens = 4096;
  EXPECT_DOUBLE_EQ(none.memory.activations_bytes - sel.memory.activations_bytes,
                   tokens * L * 2 * (2 * d + F));
  EXPECT_DOUBLE_EQ(sel.memory.buffers_bytes - none.memory.buffers_bytes, tokens * 2 * (d + F));
  EXPECT_DOUBLE_EQ(recompute_flops_per_token(m, Recompute::selective, 4096), 0.0);
  EXPECT_DOUBLE_EQ(sel.executed_flops_per_token, sel.flops_per_token);
  // No product is repeated; the two norms and the SwiGLU run again: 2 x 4 d + 6 F bytes per
  // token and layer at the HBM copy rate (datasheet 4800 GB/s at 4159.9 / 4800).
  EXPECT_DOUBLE_EQ(sel.matmul_recompute_s, 0.0);
  EXPECT_DOUBLE_EQ(sel.matmul_flops_per_token, none.matmul_flops_per_token);
  EXPECT_NEAR(sel.elementwise_s - none.elementwise_s, tokens * L * (8 * d + 6 * F) / 4159.9e9,
              1e-12);
  // none keeps, per token and layer: the input x, ln1, qkv, o, xm, ln2 (bf16, 6 d + 2 kv), gu
  // and act (3 F), lse (H fp32) and the two rstd (fp32); then the final norm's input and output
  // (bf16) and its rstd (fp32). The logits are their own term.
  const double per_layer = 2 * (6 * d + 2 * d + 3 * F) + 4 * 32 + 8;
  EXPECT_DOUBLE_EQ(none.memory.activations_bytes, tokens * (L * per_layer + 4 * d + 4));
  EXPECT_DOUBLE_EQ(none.memory.logits_bytes, tokens * 32000 * 2);
}

TEST(PerfModel, CalibratedThroughputAndScaling) {
  const ModelShape m = llama2_7b();
  TrainSetup t;
  t.zero_stage = 2;
  Calibration cal;
  cal.achieved_tflops_per_gpu = 450.0;
  const auto one = predict_step(m, t, h200(1, 1), cal);
  // One GPU: step = compute at the calibrated rate + the memory-bound AdamW pass (24 bytes per
  // parameter + the bf16 gradient read twice) at the datasheet HBM rate's copy efficiency.
  const double compute_s = 4096 * palm_flops_per_token(m, 4096) / 450e12;
  const double optimizer_s = 6738415616.0 * 28 / 4159.9e9;
  EXPECT_DOUBLE_EQ(one.compute_s, compute_s);
  EXPECT_DOUBLE_EQ(one.comm_s, 0.0);
  EXPECT_NEAR(one.optimizer_s, optimizer_s, 1e-12);
  EXPECT_NEAR(one.step_s, compute_s + optimizer_s, 1e-12);
  EXPECT_NEAR(one.tokens_per_s_per_gpu, 4096 / (compute_s + optimizer_s), 1e-6);
  EXPECT_NEAR(one.mfu, one.tokens_per_s_per_gpu * one.flops_per_token / 989.4e12, 1e-12);
  ASSERT_EQ(one.categories.front().name, "compute (calibrated)");
  const auto eight = predict_step(m, t, h200(1, 8), cal);
  const auto sixty_four = predict_step(m, t, h200(8, 8), cal);
  EXPECT_GT(eight.comm_s, 0);
  EXPECT_GE(sixty_four.exposed_comm_s, eight.exposed_comm_s);  // slower links across nodes
  EXPECT_LE(sixty_four.tokens_per_s_per_gpu, eight.tokens_per_s_per_gpu * 1.000001);
  EXPECT_DOUBLE_EQ(eight.samples_per_s, eight.tokens_per_s / 4096);
  // Eight GPUs reduce fp32 gradients: 24 + 2 x 4 bytes per parameter of the 1/8 shard.
  EXPECT_NEAR(eight.optimizer_s, 6738415616.0 / 8 * 32 / 4159.9e9, 1e-12);
  bool listed = false;
  for (const auto& a : eight.assumptions) listed = listed || a.name == "comm_overlap_fraction";
  EXPECT_TRUE(listed);
}

TEST(PerfModel, CategoriesAddUpToTheStep) {
  const FixtureRun r = fixture_run("h200_full_7b");
  for (Recompute mode : {Recompute::none, Recompute::selective, Recompute::full}) {
    TrainSetup t = r.setup;
    t.recompute = mode;
    const auto s = predict_step(r.shape, t, h200_datasheet(r.ceilings), Calibration{});
    std::vector<std::string> names;
    double sum = 0;
    for (const auto& c : s.categories) {
      names.push_back(c.name);
      sum += c.seconds;
      EXPECT_GE(c.seconds, 0) << c.name;
      EXPECT_FALSE(c.basis.empty()) << c.name;
    }
    EXPECT_EQ(names, (std::vector<std::string>{"matrix products", "attention", "elementwise",
                                               "optimizer", "exposed communication"}));
    EXPECT_NEAR(sum, s.step_s, 1e-12);
    EXPECT_NEAR(s.categories[0].seconds, s.matmul_forward_s + s.matmul_backward_input_s +
                                             s.matmul_backward_weight_s + s.matmul_recompute_s,
                1e-12);
    EXPECT_NEAR(s.compute_s, s.categories[0].seconds + s.attention_s + s.elementwise_s, 1e-12);
  }
}

TEST(PerfModel, ProductsRunAtTheRatesMeasuredAtTheirOwnShapes) {
  const FixtureRun r = fixture_run("h200_full_7b");
  const auto measured = predict_step(r.shape, r.setup, h200_datasheet(r.ceilings), Calibration{});
  // The fixture's compute phase measured the forward products of Llama-2-7B at 4096 tokens:
  // forward matrix time is exactly their flop / rate, summed (32 layers + the head).
  double forward = 0;
  for (const auto& g : r.ceilings.gemm) {
    if (g.phase != "fwd" || g.m != 4096 || g.k != 4096 && g.k != 11008) continue;
    const bool head = g.n == 32000 && g.k == 4096;
    const bool layer = (g.n == 12288 || g.n == 4096 || g.n == 22016) && g.k == 4096 ||
                       (g.n == 4096 && g.k == 11008);
    if (!head && !layer) continue;
    forward += (head ? 1 : 32) * 2.0 * g.m * g.n * g.k / (g.tflop_per_s * 1e12);
  }
  ASSERT_GT(forward, 0);
  EXPECT_NEAR(measured.matmul_forward_s, forward, 1e-9);
  // Backward products were not measured: they run at their layer's forward rate (same FLOPs).
  EXPECT_NEAR(measured.matmul_backward_input_s, forward, 1e-9);
  EXPECT_NEAR(measured.matmul_backward_weight_s, forward, 1e-9);
  // A measured backward shape is used as such: a slower dgrad product slows only that pass.
  NodeCeilings slower = r.ceilings;
  slower.gemm.push_back({4096, 11008, 4096, "dgrad", 100.0});  // mlp_down's dgrad: M T, N F, K d
  const auto s2 = predict_step(r.shape, r.setup, h200_datasheet(slower), Calibration{});
  EXPECT_GT(s2.matmul_backward_input_s, measured.matmul_backward_input_s);
  EXPECT_DOUBLE_EQ(s2.matmul_forward_s, measured.matmul_forward_s);
  EXPECT_DOUBLE_EQ(s2.matmul_backward_weight_s, measured.matmul_backward_weight_s);
  // Halving every measured ceiling doubles every category that runs at it.
  NodeCeilings half = r.ceilings;
  for (auto& g : half.gemm) g.tflop_per_s /= 2;
  *half.hbm_copy_gb_per_s /= 2;
  const auto h = predict_step(r.shape, r.setup, h200_datasheet(half), Calibration{});
  EXPECT_NEAR(h.matmul_forward_s, 2 * measured.matmul_forward_s, 1e-12);
  EXPECT_NEAR(h.elementwise_s, 2 * measured.elementwise_s, 1e-12);
  EXPECT_NEAR(h.optimizer_s, 2 * measured.optimizer_s, 1e-12);
  EXPECT_DOUBLE_EQ(h.attention_s, measured.attention_s);  // a datasheet fraction, not a ceiling
  // Without a compute.json the datasheet figures apply, at efficiencies the prediction lists.
  const auto d = predict_step(r.shape, r.setup, h200_datasheet(), Calibration{});
  bool gemm = false, hbm = false;
  for (const auto& a : d.assumptions) {
    gemm = gemm || a.name == "gemm_datasheet_efficiency";
    hbm = hbm || a.name == "hbm_copy_efficiency";
  }
  EXPECT_TRUE(gemm && hbm);
  for (const auto& a : measured.assumptions) {
    EXPECT_NE(a.name, "gemm_datasheet_efficiency");
    EXPECT_NE(a.name, "hbm_copy_efficiency");
  }
}

TEST(PerfModel, NodeCeilingsTakeBf16ProductsAndTheHbmCopyOfOneDevice) {
  ComputeReport r;
  GemmResult g;
  g.dtype = "bf16";
  g.device = 1;
  g.m = g.n = g.k = 64;
  g.phase = "-";
  g.tflop_per_s = 10;
  r.gemm.push_back(g);
  g.dtype = "fp8_e4m3";
  g.tflop_per_s = 20;
  r.gemm.push_back(g);
  g.dtype = "bf16";
  g.device = 0;
  g.tflop_per_s = 30;
  r.gemm.push_back(g);
  BandwidthResult b;
  b.test = "hbm";
  b.variant = "copy";
  b.src_device = b.dst_device = 1;
  b.gb_per_s = 4000;
  r.bandwidth.push_back(b);
  b.variant = "read";
  b.gb_per_s = 4600;
  r.bandwidth.push_back(b);
  const NodeCeilings c = node_ceilings(r);  // the first device with a bf16 product: 1
  ASSERT_EQ(c.gemm.size(), 1u);
  EXPECT_DOUBLE_EQ(c.gemm[0].tflop_per_s, 10);
  ASSERT_TRUE(c.hbm_copy_gb_per_s.has_value());
  EXPECT_DOUBLE_EQ(*c.hbm_copy_gb_per_s, 4000);
  const NodeCeilings zero = node_ceilings(r, 0);
  ASSERT_EQ(zero.gemm.size(), 1u);
  EXPECT_DOUBLE_EQ(zero.gemm[0].tflop_per_s, 30);
  EXPECT_FALSE(zero.hbm_copy_gb_per_s.has_value());
}

TEST(PerfModel, MemoryIsTheEnginesPlanWithItsReserve) {
  const FixtureRun r = fixture_run("h200_full_7b");
  const MemoryPlan p = plan_memory(r.shape, r.setup, h200_datasheet());
  // The engine's buffer list as the fixture's own engine reported it, plus the engine reserve and
  // the CUDA context (the capacity is a datasheet total).
  const auto m = read_json(kRoot / "tests/fixtures/gpu/h200_full_7b/sft_metrics.json");
  const double engine = m["peak_memory_bytes"]["engine_buffers_bytes"];
  EXPECT_DOUBLE_EQ(p.total_bytes, engine + double(GpuMemoryPlan::kReserveBytes) +
                                      double(kCudaContextBytes));
  EXPECT_DOUBLE_EQ(p.weights_bytes + p.gradients_bytes + p.optimizer_bytes +
                       p.activations_bytes + p.logits_bytes + p.buffers_bytes,
                   p.total_bytes);
  EXPECT_TRUE(p.fits) << p.verdict;
}

// The uncalibrated prediction against every measurement of the CUDA engine on one H200: the run
// directories of tests/fixtures/gpu (their own sft_metrics.json and compute.json) and the runs
// bench/RESULTS.md records without a run directory (tests/fixtures/h200_engine_measurements.json,
// predicted with the ceilings of the fixture node's compute phase). Tokens/s within 10 %, memory
// within 5 % of the device's used peak. Two model shapes at seq 4096, micro-batch 1: Llama-2-7B
// with and without full recomputation, and Mistral-7B (GQA, FFN 14336); every CUDA-engine run
// directory added under tests/fixtures/gpu (bench/device/verify.sh packs them) becomes a case.
TEST(PerfModel, PredictsTheMeasuredH200RunsUncalibrated) {
  int cases = 0;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kRoot / "tests" / "fixtures" / "gpu")) {
    const fs::path m = e.path() / "sft_metrics.json";
    if (!fs::exists(m) || read_json(m)["engine"] != "sxbench-cuda-bf16") continue;
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const FixtureRun r = fixture_run(name);
    const auto s = predict_step(r.shape, r.setup, h200_datasheet(r.ceilings), Calibration{});
    const double e = error(s.tokens_per_s_per_gpu, r.tokens_per_s_per_gpu);
    const double em = error(s.memory.total_bytes, r.device_used_peak_bytes);
    std::printf("%s (%s): predicted %.1f tokens/s vs measured %.1f (%+.1f %%); memory %.2f GiB vs "
                "%.2f GiB (%+.1f %%)\n",
                name.c_str(), recompute_name(r.setup.recompute).c_str(), s.tokens_per_s_per_gpu,
                r.tokens_per_s_per_gpu, 100 * e, s.memory.total_bytes / kGiB,
                r.device_used_peak_bytes / kGiB, 100 * em);
    EXPECT_LE(std::abs(e), 0.10) << name;
    EXPECT_LE(std::abs(em), 0.05) << name;
    ++cases;
  }
  const FixtureRun node = fixture_run("h200_full_7b");
  const auto recorded = read_json(kRoot / "tests/fixtures/h200_engine_measurements.json");
  for (const auto& run : recorded["runs"]) {
    TrainSetup t;
    t.seq_len = run["seq_len"];
    t.micro_batch = run["micro_batch"];
    t.recompute = *parse_recompute_name(run["recompute"].get<std::string>());
    const auto s = predict_step(model_shape(run["model"].get<std::string>()), t,
                                h200_datasheet(node.ceilings), Calibration{});
    const double measured = run["tokens_per_s_per_gpu"];
    const double peak = double(run["device_used_peak_gib"]) * kGiB;
    const double e = error(s.tokens_per_s_per_gpu, measured);
    const double em = error(s.memory.total_bytes, peak);
    std::printf("%s (%s, bench/RESULTS.md): predicted %.1f tokens/s vs measured %.1f (%+.1f %%); "
                "memory %.2f GiB vs %.2f GiB (%+.1f %%)\n",
                run["model"].get<std::string>().c_str(), recompute_name(t.recompute).c_str(),
                s.tokens_per_s_per_gpu, measured, 100 * e, s.memory.total_bytes / kGiB,
                peak / kGiB, 100 * em);
    EXPECT_LE(std::abs(e), 0.10) << run["source"];
    EXPECT_LE(std::abs(em), 0.05) << run["source"];
    ++cases;
  }
  EXPECT_GE(cases, 6);
}

}  // namespace
}  // namespace sxb
