// The execution plan: fit verdicts from the models' own numbers, the schedule's order and sums,
// the choice of calibrating runs, and that every input is listed with its source.
#include "report/plan/plan.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "model/flops.hpp"
#include "model/model_shape.hpp"
#include "perfmodel/gpu_memory.hpp"
#include "report/plan/inputs.hpp"
#include "report/plan/markdown.hpp"
#include "report_fixtures.hpp"
#include "validate/findings.hpp"

namespace sxb::report {
namespace {

namespace fs = std::filesystem;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

DsConfig ds(const std::string& size) {
  return load_ds_config(fs::path(SXB_TEST_SOURCE_DIR) / "configs" /
                        ("ds_config_" + size + ".json"));
}

PlanHardware h200() {
  PlanHardware hw;
  hw.gpu_name = "NVIDIA H200 SXM";
  hw.gpu_match = "H200";
  hw.nic_name = "400GbE";
  hw.gpu_memory_gb = {"gpu_memory", 141, "GB", "datasheet"};
  hw.peak_bf16_tflops = {"peak_dense_bf16", 989.4, "TFLOP/s", "datasheet"};
  hw.hbm_gb_per_s = {"hbm_bandwidth", 4800, "GB/s", "datasheet"};
  hw.nvlink_gb_per_s = {"nvlink_per_direction", 450, "GB/s", "datasheet"};
  hw.nic_gb_per_s_per_port = {"nic_per_direction_per_port", 50, "GB/s", "datasheet"};
  hw.nic_ports_per_node = {"nic_ports_per_node", 2, "ports", "seed deployment"};
  return hw;
}

PlanRequest request(std::vector<std::pair<std::string, std::string>> models,
                    std::vector<int> nodes = {1, 2, 4, 8}) {
  PlanRequest r;
  for (const auto& [id, size] : models) {
    r.models.push_back({model_shape(id), ds(size), "configs/ds_config_" + size + ".json"});
  }
  r.nodes = std::move(nodes);
  r.gpus_per_node = 8;
  r.seq_len = 4096;
  r.seq_len_source = "test";
  r.steps = 20;
  r.warmup_steps = 1;
  r.launcher_model = r.models.front().shape.name;
  r.hardware = h200();
  return r;
}

const PlanEntry& entry(const ExecutionPlan& p, const std::string& model, int nodes) {
  for (const auto& e : p.entries) {
    if (e.model == model && e.nodes == nodes) return e;
  }
  throw std::runtime_error("no entry " + model);
}

const std::string k7b = "meta-llama/Llama-2-7b-hf";
const std::string k13b = "meta-llama/Llama-2-13b-hf";
const std::string k70b = "meta-llama/Llama-2-70b-hf";

TEST(PlanFit, SeventyBNeedsMoreThanOneNodeEvenWithZero3AndFullRecomputation) {
  const ExecutionPlan p = build_plan(request({{k70b, "70b"}}), {});
  const ModelShape m = model_shape(k70b);
  const double n = static_cast<double>(m.params);
  const PlanEntry& one = entry(p, k70b, 1);
  EXPECT_FALSE(one.fits);
  EXPECT_FALSE(one.prediction.has_value());
  EXPECT_EQ(one.setup.zero_stage, 3);
  EXPECT_EQ(one.setup.recompute, Recompute::full);  // the memory shown is the lightest it gets
  // The engine's plan (perfmodel/gpu_memory.hpp): ZeRO-3 over 8 GPUs shards the 10-byte optimizer
  // state (master low half, m, v) and the fp32 gradients, which add two fp32 buffers of the
  // largest unit (a decoder layer); the sum exceeds the 141 GB of HBM.
  const double unit = static_cast<double>(largest_parameter_unit(resolve_model(k70b)));
  EXPECT_NEAR(one.memory.optimizer_bytes, 10 * n / 8, 1e-4 * n);
  EXPECT_NEAR(one.memory.gradients_bytes, 4 * n / 8 + 2 * 4 * unit, 1024);
  const MemoryPlan& mem = one.memory;
  EXPECT_NEAR(mem.weights_bytes + mem.gradients_bytes + mem.optimizer_bytes +
                  mem.activations_bytes + mem.logits_bytes + mem.buffers_bytes,
              mem.total_bytes, 1);
  EXPECT_GT(mem.total_bytes, 141e9);
  ASSERT_FALSE(one.alternatives.empty());
  EXPECT_EQ(one.alternatives[0].kind, FitAlternative::Kind::more_nodes);
  EXPECT_EQ(one.alternatives[0].nodes, 2);
  EXPECT_NE(one.why_not.find("optimizer state"), std::string::npos) << one.why_not;
  EXPECT_NE(one.why_not.find("fits with 2 nodes"), std::string::npos) << one.why_not;
  // Two nodes fit, but only with recomputation; four nodes need none.
  EXPECT_TRUE(entry(p, k70b, 2).fits);
  EXPECT_NE(entry(p, k70b, 2).setup.recompute, Recompute::none);
  EXPECT_EQ(entry(p, k70b, 4).setup.recompute, Recompute::none);
  ASSERT_EQ(p.not_scheduled.size(), 1u);
  EXPECT_NE(p.not_scheduled[0].find(k70b + " on 1 node(s)"), std::string::npos);
}

TEST(PlanFit, SeventyBUnderZero2NeverFitsBecauseItsBf16WeightsFillTheGpu) {
  // The 7B config (ZeRO-2) keeps a whole bf16 copy of the weights on every GPU: 2 x 69.0e9 bytes
  // = 98% of the 141 GB; with the buffers and logits nothing is left for activations.
  const ExecutionPlan p = build_plan(request({{k70b, "7b"}}, {8}), {});
  const PlanEntry& e = entry(p, k70b, 8);
  EXPECT_FALSE(e.fits);
  EXPECT_DOUBLE_EQ(e.memory.weights_bytes, 2.0 * model_shape(k70b).params);
  EXPECT_GT(e.memory.weights_bytes, 0.97 * 141e9);
  EXPECT_GT(e.memory.weights_bytes + e.memory.buffers_bytes + e.memory.logits_bytes +
                e.memory.activations_bytes,
            141e9);
  ASSERT_FALSE(e.alternatives.empty());
  EXPECT_EQ(e.alternatives[0].kind, FitAlternative::Kind::zero3);
  // No node count helps a replicated 138 GB: the only way out is ZeRO-3.
  for (const auto& a : e.alternatives) EXPECT_NE(a.kind, FitAlternative::Kind::more_nodes);
}

TEST(PlanFit, SevenAndThirteenBFitOneNodeWithoutRecomputation) {
  const ExecutionPlan p = build_plan(request({{k7b, "7b"}, {k13b, "13b"}}, {1}), {});
  for (const auto& id : {k7b, k13b}) {
    const PlanEntry& e = entry(p, id, 1);
    EXPECT_TRUE(e.fits) << id;
    EXPECT_EQ(e.setup.recompute, Recompute::none) << id;
    EXPECT_LT(e.memory.total_bytes, 141e9);
    // The ds_config's batch: micro x accumulation x 8 GPUs sequences.
    EXPECT_EQ(e.global_batch_sequences, e.setup.micro_batch * e.setup.grad_accum * 8);
    EXPECT_DOUBLE_EQ(e.global_batch_tokens, e.global_batch_sequences * 4096.0);
    // The configs ask for activation checkpointing: the run as configured recomputes fully.
    ASSERT_TRUE(e.as_configured.has_value());
    EXPECT_LT(e.as_configured->tokens_per_s, e.prediction->tokens_per_s);
  }
  EXPECT_EQ(entry(p, k7b, 1).setup.micro_batch, 4);
  EXPECT_EQ(entry(p, k13b, 1).setup.grad_accum, 8);
}

TEST(PlanSchedule, OrderedPhasesWhoseDurationsSumToTheTotal) {
  const ExecutionPlan p = build_plan(request({{k7b, "7b"}, {k70b, "70b"}}), {});
  // 1 inventory + 4 sweeps + 1 compute + (4 + 3 fitting) training runs.
  ASSERT_EQ(p.schedule.size(), 1u + 4 + 1 + 7);
  EXPECT_EQ(p.schedule[0].kind, PhaseKind::info);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(p.schedule[1 + i].kind, PhaseKind::nccl);
    EXPECT_EQ(p.schedule[1 + i].nodes, std::vector<int>({1, 2, 4, 8})[i]);
    EXPECT_EQ(p.schedule[1 + i].command, "scripts/run_h200_benchmark.sh " + k7b + " " +
                                             std::to_string(p.schedule[1 + i].nodes) + " nccl");
  }
  EXPECT_EQ(p.schedule[5].kind, PhaseKind::compute);
  EXPECT_EQ(p.schedule[5].nodes, 8);
  double sum = 0;
  for (size_t i = 0; i < p.schedule.size(); ++i) {
    const SchedulePhase& ph = p.schedule[i];
    EXPECT_EQ(ph.index, static_cast<int>(i) + 1);
    EXPECT_GT(ph.duration_s, 0) << ph.name;
    sum += ph.duration_s;
    EXPECT_NEAR(ph.cumulative_s, sum, 1e-9) << ph.name;
    EXPECT_FALSE(ph.duration_basis.empty()) << ph.name;
  }
  EXPECT_NEAR(p.total_s, sum, 1e-9);
  // Training runs: models in request order, nodes ascending, each the entry's exact command.
  std::vector<std::pair<std::string, int>> order;
  for (size_t i = 6; i < p.schedule.size(); ++i) {
    EXPECT_EQ(p.schedule[i].kind, PhaseKind::training);
    const PlanEntry& e = entry(p, p.schedule[i].name.substr(0, p.schedule[i].name.find(" on ")),
                               p.schedule[i].nodes);
    EXPECT_EQ(p.schedule[i].command, e.command);
    EXPECT_DOUBLE_EQ(p.schedule[i].duration_s, e.run_duration_s);
    order.emplace_back(e.model, e.nodes);
  }
  const std::vector<std::pair<std::string, int>> expected = {
      {k7b, 1}, {k7b, 2}, {k7b, 4}, {k7b, 8}, {k70b, 2}, {k70b, 4}, {k70b, 8}};
  EXPECT_EQ(order, expected);
  EXPECT_EQ(entry(p, k7b, 2).command,
            "scripts/run_h200_benchmark.sh meta-llama/Llama-2-7b-hf 2 sft --ds-config "
            "configs/ds_config_7b.json --seq-len 4096 --steps 20");
}

TEST(PlanSchedule, RunDurationIsStartUpWarmUpAndSteadySteps) {
  const ExecutionPlan p = build_plan(request({{k7b, "7b"}}, {1}), {});
  const PlanEntry& e = entry(p, k7b, 1);
  // The command runs the ds_config as written (full recomputation), so its step time counts.
  const double step = e.as_configured->step_s;
  EXPECT_NEAR(e.run_duration_s, 60 + 1 * 2 * step + 19 * step, 1e-9);
}

TEST(PlanSchedule, SweepDurationHandComputed) {
  // Two ranks: bus factors all_reduce 1, all_gather/reduce_scatter/alltoall 1/2, the rest 1;
  // in-place forms for all but alltoall and sendrecv. Sizes 8 B .. 8 GiB sum to 8 (2^31 - 1).
  const double sizes = 8.0 * (std::pow(2.0, 31) - 1);
  const double placements = 12, weighted = 2 * 1 + 2 * 0.5 + 2 * 0.5 + 2 * 1 + 2 * 1 + 0.5 + 1;
  const double busbw = 100, latency_us = 10;
  const double expected =
      25 * (placements * 31 * latency_us * 1e-6 + weighted * sizes / (busbw * 1e9));
  EXPECT_NEAR(predict_sweep_seconds(2, busbw, latency_us), expected, 1e-9);
}

TrainingMeasurement training(std::string dir, std::string model, int64_t params, std::string kind,
                             std::string device) {
  TrainingMeasurement t;
  t.run_dir = std::move(dir);
  t.model = std::move(model);
  t.params = params;
  t.seq_len = 4096;
  t.device_kind = std::move(kind);
  t.device_name = std::move(device);
  t.engine = "test";
  t.model_tflops_per_device = 400;
  t.tokens_per_s = 1;
  return t;
}

TEST(PlanCalibration, ClosestTrainingRunIsAGpuRunPreferringThePlannedGpuThenTheModelThenTheSize) {
  const ModelShape m7 = model_shape(k7b);
  TrainSetup setup;
  setup.zero_stage = 2;
  const auto cpu_same = training("r1", k7b, m7.params, "cpu", "CPU: AMD EPYC");
  const auto gpu_13b = training("r2", k13b, model_shape(k13b).params, "gpu", "NVIDIA H200");
  const auto gpu_70b = training("r3", k70b, model_shape(k70b).params, "gpu", "NVIDIA H200");
  const auto gpu_same = training("r4", "Llama-2-7b-hf", m7.params, "gpu", "NVIDIA H200");
  EXPECT_FALSE(closest_training_run({cpu_same}, m7, setup, 1, "H200"));  // a CPU never calibrates
  EXPECT_EQ(closest_training_run({cpu_same, gpu_70b}, m7, setup, 1, "H200")->run_dir, "r3");
  EXPECT_EQ(closest_training_run({gpu_70b, gpu_13b}, m7, setup, 1, "H200")->run_dir, "r2");
  // The same model (named with or without its organisation) beats a nearer size.
  EXPECT_EQ(closest_training_run({gpu_13b, gpu_same, gpu_70b}, m7, setup, 1, "H200")->run_dir,
            "r4");
  auto other_stage = gpu_same;
  other_stage.run_dir = "r5";
  other_stage.zero_stage = 3;
  auto same_stage = gpu_same;
  same_stage.run_dir = "r0";
  same_stage.zero_stage = 2;
  EXPECT_EQ(closest_training_run({other_stage, same_stage}, m7, setup, 1, "H200")->run_dir, "r0");
  EXPECT_FALSE(closest_training_run({}, m7, setup, 1, "H200").has_value());
}

TEST(PlanCalibration, ComputeRateRemovesExposedCommunicationAndAddsRecomputation) {
  TrainingMeasurement t = training("r", k7b, 1, "gpu", "H200");
  t.model_tflops_per_device = 100;
  t.exposed_comm_share = 0.2;
  t.recompute = true;
  EXPECT_NEAR(compute_rate_from_run(t), 100 * 4.0 / 3.0 / 0.8, 1e-9);
  t.recompute = false;
  t.exposed_comm_share = 0;
  EXPECT_DOUBLE_EQ(compute_rate_from_run(t), 100);
}

AllReduceMeasurement all_reduce(std::string dir, int nodes, int world, std::string backend,
                                std::string device) {
  AllReduceMeasurement a;
  a.run_dir = std::move(dir);
  a.nodes = nodes;
  a.world = world;
  a.backend = std::move(backend);
  a.device = std::move(device);
  a.busbw_by_size = {{1 << 20, 10.0}, {512u << 20, 300.0}, {1u << 30, 340.0}, {2u << 30, 345.0}};
  return a;
}

TEST(PlanCalibration, AllReduceChoiceByNodeCountDeviceAndRanks) {
  const auto single_rank = all_reduce("a", 1, 1, "nccl", "NVIDIA H200");
  const auto mpi = all_reduce("b", 1, 2, "mpi", "");
  const auto gpu2 = all_reduce("c", 1, 2, "nccl", "NVIDIA H200");
  const auto gpu8 = all_reduce("d", 1, 8, "nccl", "NVIDIA H200");
  const auto two = all_reduce("e", 2, 16, "nccl", "NVIDIA H200");
  const auto eight = all_reduce("f", 8, 64, "nccl", "NVIDIA H200");
  EXPECT_FALSE(choose_all_reduce({single_rank}, false, 1, "H200").has_value());
  EXPECT_EQ(choose_all_reduce({single_rank, mpi}, false, 1, "H200")->run_dir, "b");
  EXPECT_EQ(choose_all_reduce({mpi, gpu2}, false, 1, "H200")->run_dir, "c");
  EXPECT_EQ(choose_all_reduce({gpu2, gpu8}, false, 1, "H200")->run_dir, "d");
  EXPECT_FALSE(choose_all_reduce({gpu8}, true, 2, "H200").has_value());
  EXPECT_EQ(choose_all_reduce({two, eight}, true, 2, "H200")->run_dir, "e");
  EXPECT_EQ(choose_all_reduce({two, eight}, true, 4, "H200")->run_dir, "e");  // |4-2| < |4-8|
  EXPECT_EQ(choose_all_reduce({two, eight}, true, 8, "H200")->run_dir, "f");
  // busbw at the size nearest 1 GB by ratio: 1 GiB.
  EXPECT_EQ(busbw_near(gpu8, 1000000000).first, 1u << 30);
  EXPECT_DOUBLE_EQ(busbw_near(gpu8, 1000000000).second, 340.0);
  AllReduceMeasurement small = mpi;
  small.busbw_by_size = {{8, 0.01}, {16u << 20, 4.7}};
  EXPECT_EQ(busbw_near(small, 1000000000).first, 16u << 20);  // the sweep stopped below
}

TEST(PlanCalibration, MeasuredFiguresReplaceAssumptionsAndSayWhere) {
  Measurements m;
  m.training.push_back(
      training("results/run_gpu", k7b, model_shape(k7b).params, "gpu", "NVIDIA H200"));
  m.all_reduce.push_back(all_reduce("results/run_ar8", 1, 8, "nccl", "NVIDIA H200"));
  m.all_reduce.push_back(all_reduce("results/run_ar16", 2, 16, "nccl", "NVIDIA H200"));
  const ExecutionPlan cal = build_plan(request({{k7b, "7b"}}, {1, 2}), m);
  const ExecutionPlan raw = build_plan(request({{k7b, "7b"}}, {1, 2}), {});
  auto has_assumption = [](const ExecutionPlan& p, const std::string& name) {
    for (const auto& a : p.assumptions) {
      if (a.name == name) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_assumption(raw, "gemm_datasheet_efficiency"));
  EXPECT_TRUE(has_assumption(raw, "intra_node_allreduce_busbw"));
  EXPECT_TRUE(has_assumption(raw, "inter_node_allreduce_busbw"));
  EXPECT_FALSE(has_assumption(cal, "gemm_datasheet_efficiency"));
  EXPECT_FALSE(has_assumption(cal, "intra_node_allreduce_busbw"));
  EXPECT_FALSE(has_assumption(cal, "inter_node_allreduce_busbw"));
  EXPECT_EQ(raw.calibration_notes.size(), 4u);  // achieved rate, GPU ceilings, intra, inter
  EXPECT_TRUE(cal.calibration_notes.empty());
  ASSERT_EQ(cal.measured.size(), 3u);
  std::map<std::string, std::string> dir_of;
  for (const auto& f : cal.measured) {
    dir_of[f.name] = f.run_dir;
    EXPECT_NE(f.source.find(f.run_dir), std::string::npos) << f.source;
    EXPECT_EQ(f.source.rfind("measured: ", 0), 0u) << f.source;
  }
  EXPECT_EQ(dir_of["achieved_tflops_per_gpu"], "results/run_gpu");
  EXPECT_EQ(dir_of["intra_node_allreduce_busbw"], "results/run_ar8");
  EXPECT_EQ(dir_of["inter_node_allreduce_busbw_2n"], "results/run_ar16");
  // 400 TFLOP/s measured: the calibrated compute is the step's executed FLOPs at that rate, in
  // place of the uncalibrated categories.
  const StepPrediction& c1 = *entry(cal, k7b, 1).prediction;
  const StepPrediction& r1 = *entry(raw, k7b, 1).prediction;
  const PlanEntry& e1 = entry(cal, k7b, 1);
  const double tokens = double(e1.setup.micro_batch * e1.setup.grad_accum * e1.setup.seq_len);
  EXPECT_NEAR(c1.compute_s, tokens * c1.executed_flops_per_token / 400e12, 1e-12);
  EXPECT_EQ(c1.categories.front().name, "compute (calibrated)");
  EXPECT_EQ(r1.categories.front().name, "matrix products");
  EXPECT_NE(c1.compute_s, r1.compute_s);
}

TEST(PlanCalibration, ComputeCeilingsOfThePlannedGpuDriveUncalibratedSteps) {
  auto ceilings = [](const std::string& dir, const std::string& device, double hbm) {
    CeilingsMeasurement c;
    c.run_dir = dir;
    c.device = device;
    c.ceilings.hbm_copy_gb_per_s = hbm;
    c.ceilings.gemm.push_back({8192, 8192, 8192, "-", 350.0});
    return c;
  };
  const ExecutionPlan raw = build_plan(request({{k7b, "7b"}}, {1}), {});
  Measurements other;
  other.ceilings.push_back(ceilings("results/run_h100", "NVIDIA H100 80GB HBM3", 2000));
  const ExecutionPlan h100 = build_plan(request({{k7b, "7b"}}, {1}), other);
  Measurements m = other;
  m.ceilings.push_back(ceilings("results/run_h200", "NVIDIA H200", 2000));
  const ExecutionPlan used = build_plan(request({{k7b, "7b"}}, {1}), m);
  const StepPrediction& r = *entry(raw, k7b, 1).prediction;
  const StepPrediction& u = *entry(used, k7b, 1).prediction;
  // Another GPU's ceilings are not this GPU's: the datasheet stands, and the plan says so.
  EXPECT_DOUBLE_EQ(entry(h100, k7b, 1).prediction->step_s, r.step_s);
  EXPECT_TRUE(std::any_of(h100.calibration_notes.begin(), h100.calibration_notes.end(),
                          [](const std::string& n) { return n.rfind("GPU ceilings", 0) == 0; }));
  // The H200's: the optimizer and elementwise passes at its 2000 GB/s copy rate (the datasheet
  // reading is 4159.9 GB/s), every product at its square 350 TFLOP/s (no model shape measured).
  EXPECT_NEAR(u.optimizer_s / r.optimizer_s, 4159.9 / 2000, 1e-9);
  EXPECT_NEAR(u.elementwise_s / r.elementwise_s, 4159.9 / 2000, 1e-9);
  EXPECT_NEAR(u.matmul_forward_s / r.matmul_forward_s, 989.4 * 0.70 / 350, 1e-9);
  for (const auto& n : used.calibration_notes) EXPECT_NE(n.rfind("GPU ceilings", 0), 0u) << n;
  std::map<std::string, std::string> dir_of;
  for (const auto& f : used.measured) dir_of[f.name] = f.run_dir;
  EXPECT_EQ(dir_of["hbm_copy_bandwidth"], "results/run_h200");
  EXPECT_EQ(dir_of["gemm_square_bf16"], "results/run_h200");
}

TEST(PlanInputs, EveryAssumptionAndMeasuredFigureHasValueUnitAndSource) {
  Measurements m;
  m.all_reduce.push_back(all_reduce("results/x", 1, 8, "nccl", "NVIDIA H200"));
  const ExecutionPlan p = build_plan(request({{k7b, "7b"}, {k70b, "70b"}}), m);
  EXPECT_GE(p.assumptions.size(), 10u);
  for (const auto& a : p.assumptions) {
    EXPECT_FALSE(a.name.empty());
    EXPECT_FALSE(a.unit.empty()) << a.name;
    EXPECT_FALSE(a.source.empty()) << a.name;
    EXPECT_TRUE(std::isfinite(a.value)) << a.name;
  }
  for (const auto& f : p.measured) EXPECT_FALSE(f.run_dir.empty()) << f.name;
  // The JSON lists the same inputs.
  const nlohmann::json j = plan_to_json(p);
  EXPECT_EQ(j["assumptions"].size(), p.assumptions.size());
  EXPECT_EQ(j["measured"].size(), p.measured.size());
  EXPECT_EQ(j["kind"], "prediction");
}

TEST(PlanRequestChecks, BadRequestsAreOneLineErrors) {
  PlanRequest r = request({{k7b, "7b"}}, {2, 1});
  EXPECT_THROW(build_plan(r, {}), Error);
  r.nodes = {};
  EXPECT_THROW(build_plan(r, {}), Error);
  r.nodes = {1};
  r.steps = 1;
  try {
    build_plan(r, {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(PlanMarkdown, PredictionsLabelledInEnglishAndJapanese) {
  const ExecutionPlan p = build_plan(request({{k7b, "7b"}, {k70b, "70b"}}), {});
  const std::string en = render_plan_markdown(p, ReportLang::en, "2026-01-01T00:00:00Z");
  const std::string ja = render_plan_markdown(p, ReportLang::ja, "2026-01-01T00:00:00Z");
  EXPECT_NE(en.find("Every figure in this document is a prediction"), std::string::npos);
  EXPECT_NE(ja.find("予測値"), std::string::npos);
  EXPECT_NE(ja.find("スケジュール"), std::string::npos);
  EXPECT_NE(ja.find("収まらない"), std::string::npos);
  EXPECT_EQ(ja.find("## Schedule"), std::string::npos);
  for (const auto* md : {&en, &ja}) {
    for (const auto& ph : p.schedule)
      EXPECT_NE(md->find(ph.command), std::string::npos) << ph.command;
    for (const auto& a : p.assumptions) EXPECT_NE(md->find(a.name), std::string::npos) << a.name;
  }
  EXPECT_NE(en.find("does not fit"), std::string::npos);
  // The basis of every duration, in the document's language.
  EXPECT_NE(en.find("predicted: job start-up + 7 collectives"), std::string::npos);
  EXPECT_NE(ja.find("予測: ジョブ起動 60 秒 + 7 種の集団通信"), std::string::npos);
  EXPECT_EQ(ja.find("predicted: job start-up"), std::string::npos);
}

TEST(PlanInputs, SecondsBetweenIsoStamps) {
  EXPECT_EQ(seconds_between("2026-11-25T12:00:00Z", "2026-11-25T13:01:05Z"), 3665.0);
  EXPECT_FALSE(seconds_between("garbage", "2026-11-25T13:01:05Z").has_value());
  EXPECT_FALSE(seconds_between("2026-11-25T13:00:00Z", "2026-11-25T12:00:00Z").has_value());
}

TEST(PlanInputs, RunDirectoriesBecomeMeasurementsUnlessValidationFailed) {
  const fs::path results = testing::fresh_dir("plan_inputs");
  testing::SyntheticRun s;
  s.nodes = 2;
  s.tokens_per_s_per_gpu = 3500;
  s.zero_stage = 2;
  s.recompute = true;
  s.power_w = 610;
  const fs::path dir = testing::write_synthetic_run(results, "h200_benchmark_a_7b_2n", s);
  Measurements m = read_measurements(results);
  ASSERT_EQ(m.training.size(), 1u) << (m.notes.empty() ? "" : m.notes[0]);
  const TrainingMeasurement& t = m.training[0];
  EXPECT_EQ(t.model, k7b);
  EXPECT_EQ(t.run_dir, dir.filename().string());  // as the results directory lists it
  EXPECT_EQ(t.nodes, 2);
  EXPECT_EQ(t.world, 16);
  EXPECT_EQ(t.zero_stage, 2);
  EXPECT_TRUE(t.recompute);
  EXPECT_EQ(t.device_kind, "gpu");
  EXPECT_DOUBLE_EQ(t.tokens_per_s, 3500.0 * 16);
  EXPECT_NEAR(t.model_tflops_per_device, 3500 * palm_flops_per_token(model_shape(k7b), 4096) / 1e12,
              1e-9);
  ASSERT_TRUE(t.mean_gpu_power_w.has_value());
  // Power while training ran: the fixture's first sample (100 W) precedes the work and lies
  // outside the sft phase's window, which the whole-run mean would include.
  EXPECT_NEAR(*t.mean_gpu_power_w, 610, 1e-9);
  EXPECT_NE(t.power_source.find("GPU board power"), std::string::npos) << t.power_source;
  EXPECT_NE(t.power_source.find("during the sft phase"), std::string::npos) << t.power_source;
  ASSERT_EQ(m.all_reduce.size(), 1u);
  EXPECT_EQ(m.all_reduce[0].nodes, 2);
  EXPECT_FALSE(m.all_reduce[0].busbw_by_size.empty());
  EXPECT_FALSE(m.all_reduce[0].full_sweep);  // a full-mode run's sweep, not `run --mode nccl`
  // A training check that failed validation keeps the training figure out, with a note.
  ValidationReport v;
  v.add({Finding{"train.tflops_within_peak", "x", Verdict::impossible, 2000.0, 989.4, "TFLOP/s",
                 "2000 > 989.4"}});
  write_json_atomic(dir / "validation.json", v);
  m = read_measurements(results);
  EXPECT_TRUE(m.training.empty());
  ASSERT_FALSE(m.notes.empty());
  EXPECT_NE(m.notes[0].find("train.tflops_within_peak impossible"), std::string::npos)
      << m.notes[0];
  EXPECT_EQ(m.all_reduce.size(), 1u);
  // No results directory at all: a plan before any run.
  EXPECT_TRUE(read_measurements(results / "none").training.empty());
  fs::remove_all(results);
}

}  // namespace
}  // namespace sxb::report
