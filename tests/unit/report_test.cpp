// The comprehensive report's figures and documents on synthetic run directories: throughput
// medians and spread, scaling-efficiency arithmetic (and its absence without a 1-node baseline),
// bus bandwidth curves, target verdicts (met, not met, not measured; failed runs never count),
// reachability arithmetic, the targets file's errors, predicted vs measured against the
// performance model called directly, charts' data and languages, and the Markdown/HTML
// renderers.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/hardware.hpp"
#include "perfmodel/perf_model.hpp"
#include "report/results/aggregate.hpp"
#include "report/results/report_charts.hpp"
#include "report/results/comprehensive.hpp"
#include "report/doc/document.hpp"
#include "report/results/figures.hpp"
#include "report/results/targets.hpp"
#include "report_fixtures.hpp"

namespace sxb::report {
namespace {

namespace fs = std::filesystem;
using testing::fresh_dir;
using testing::SyntheticRun;
using testing::write_synthetic_run;

std::vector<HardwareSpec> specs() {
  return load_hardware_specs(fs::path(SXB_TEST_SOURCE_DIR) / "configs" / "hardware");
}

TargetsFile seed_targets() {
  return load_targets(fs::path(SXB_TEST_SOURCE_DIR) / "configs" / "targets.json");
}

const TargetResult& result(const std::vector<TargetResult>& rs, const std::string& id) {
  for (const auto& r : rs) {
    if (r.target.id == id) return r;
  }
  throw std::runtime_error("no target " + id);
}

// A cluster of synthetic runs: Llama-2-7B at 1 node (twice), 2 and 4 nodes; 13B at 8 nodes only.
struct Cluster4 {
  fs::path results;
  Aggregate aggregate;
  Figures figures;
};

Cluster4 make_cluster(const std::string& name) {
  Cluster4 c;
  c.results = fresh_dir(name);
  SyntheticRun s;
  s.util_pct = 95;
  s.samples = 20;  // 95% during the sft phase; 90.25% over the run (the first sample is idle)
  s.tokens_per_s_per_gpu = 3000;
  s.allreduce_peak_busbw_gb_per_s = 300;  // 1 node: NVLink
  write_synthetic_run(c.results, "r1a", s);
  s.tokens_per_s_per_gpu = 3100;
  write_synthetic_run(c.results, "r1b", s);
  s.nodes = 2;
  s.tokens_per_s_per_gpu = 2950;
  s.allreduce_peak_busbw_gb_per_s = 90;  // 720 Gbit/s at the saturating end
  write_synthetic_run(c.results, "r2", s);
  s.nodes = 4;
  s.tokens_per_s_per_gpu = 2800;
  s.allreduce_peak_busbw_gb_per_s = 85;
  write_synthetic_run(c.results, "r4", s);
  SyntheticRun big = s;
  big.model = "meta-llama/Llama-2-13b-hf";
  big.nodes = 8;
  big.zero_stage = 3;
  big.tokens_per_s_per_gpu = 1500;
  write_synthetic_run(c.results, "r13b8", big);
  // A failed run with figures that would meet every target: must not count anywhere.
  SyntheticRun failed = s;
  failed.status = "failed";
  failed.nodes = 8;
  failed.tokens_per_s_per_gpu = 99999;
  failed.allreduce_peak_busbw_gb_per_s = 400;
  write_synthetic_run(c.results, "zz_failed", failed);
  const auto sp = specs();
  ReadOptions o;
  o.specs = &sp;
  c.aggregate = aggregate_results(c.results, o);
  c.figures = compute_figures(c.aggregate, sp);
  return c;
}

TEST(ReportFigures, ThroughputIsTheMedianOverRepeatedRunsWithTheirSpread) {
  const auto c = make_cluster("fig_tput");
  ASSERT_EQ(c.figures.throughput.size(), 4u);
  const ThroughputRow& one = c.figures.throughput[1];  // 13B sorts first
  EXPECT_EQ(c.figures.throughput[0].model, "meta-llama/Llama-2-13b-hf");
  EXPECT_EQ(one.model, "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(one.nodes, 1);
  EXPECT_EQ(one.world_size, 8);
  EXPECT_EQ(one.runs, (std::vector<std::string>{"r1a", "r1b"}));
  EXPECT_DOUBLE_EQ(one.tokens_per_s_per_device, 3050);
  EXPECT_DOUBLE_EQ(one.tokens_per_s, 3050 * 8);
  ASSERT_TRUE(one.spread_fraction);
  EXPECT_DOUBLE_EQ(*one.spread_fraction, 100.0 / 3050);
  EXPECT_FALSE(c.figures.throughput[2].spread_fraction);  // one run: no spread
  ASSERT_TRUE(one.mfu);
  EXPECT_GT(*one.mfu, 0);
  EXPECT_EQ(one.configs.size(), 1u);
  EXPECT_NE(one.configs[0].find("ZeRO 1"), std::string::npos);
}

TEST(ReportFigures, ScalingEfficiencyIsPerGpuRateOverTheOneNodeRate) {
  const auto c = make_cluster("fig_scaling");
  std::map<std::pair<std::string, int>, const ScalingRow*> by;
  for (const auto& s : c.figures.scaling) by[{s.model, s.nodes}] = &s;
  const ScalingRow* four = by.at({"meta-llama/Llama-2-7b-hf", 4});
  ASSERT_TRUE(four->efficiency);
  EXPECT_DOUBLE_EQ(*four->efficiency, 2800.0 / 3050.0);
  EXPECT_EQ(four->baseline_runs, (std::vector<std::string>{"r1a", "r1b"}));
  EXPECT_DOUBLE_EQ(*by.at({"meta-llama/Llama-2-7b-hf", 2})->efficiency, 2950.0 / 3050.0);
  EXPECT_DOUBLE_EQ(*by.at({"meta-llama/Llama-2-7b-hf", 1})->efficiency, 1.0);
  // 13B was measured at 8 nodes only: no baseline, no efficiency (never invented).
  const ScalingRow* b = by.at({"meta-llama/Llama-2-13b-hf", 8});
  EXPECT_FALSE(b->efficiency);
  EXPECT_FALSE(b->baseline_tokens_per_s_per_device);
}

TEST(ReportFigures, BusbwCurvesPerOperationAndJobShapeLeaveOutFailedRuns) {
  const auto c = make_cluster("fig_busbw");
  int all_reduce = 0;
  for (const auto& b : c.figures.busbw) {
    EXPECT_EQ(std::find(b.runs.begin(), b.runs.end(), "zz_failed"), b.runs.end());
    if (b.op != "all_reduce") continue;
    ++all_reduce;
    if (b.nodes == 1) {
      EXPECT_EQ(b.runs, (std::vector<std::string>{"r1a", "r1b"}));
      EXPECT_EQ(b.sizes.front(), 8u);
      EXPECT_NEAR(b.largest_size_busbw_gb_per_s(), 300.0 * (1 << 29) / ((1 << 29) + 4194304.0),
                  1e-9);
    }
  }
  EXPECT_EQ(all_reduce, 4);  // 1, 2, 4 and 8 nodes
}

TEST(ReportTargets, VerdictsOfTheSeedTargets) {
  const auto c = make_cluster("tgt_seed");
  const auto rs = evaluate_targets(seed_targets(), c.aggregate, c.figures, specs());
  ASSERT_EQ(rs.size(), 4u);
  const TargetResult& util = result(rs, "gpu_utilization");
  EXPECT_EQ(util.verdict, TargetVerdict::met);
  ASSERT_TRUE(util.value);
  EXPECT_NEAR(*util.value, 95.0, 1e-9);
  EXPECT_EQ(util.contributions.size(), 5u);  // every usable training run, not the failed one

  const TargetResult& s4 = result(rs, "scaling_efficiency_4_nodes");
  EXPECT_EQ(s4.verdict, TargetVerdict::not_met);  // 91.8% < 95%
  EXPECT_NEAR(*s4.value, 100 * 2800.0 / 3050.0, 1e-9);
  ASSERT_EQ(s4.contributions.size(), 1u);
  EXPECT_EQ(s4.contributions[0].runs, (std::vector<std::string>{"r4", "r1a", "r1b"}));

  // 8 nodes: only 13B (no 1-node baseline) and the failed 7B run: not measured, no value.
  const TargetResult& s8 = result(rs, "scaling_efficiency_8_nodes");
  EXPECT_EQ(s8.verdict, TargetVerdict::not_measured);
  EXPECT_FALSE(s8.value);

  const TargetResult& bw = result(rs, "communication_bandwidth");
  EXPECT_EQ(bw.verdict, TargetVerdict::not_met);
  ASSERT_EQ(bw.contributions.size(), 3u);  // 2, 4 and 8 nodes (13B); 1-node runs do not count
  const double busbw4 = 85.0 * (1 << 29) / ((1 << 29) + 4194304.0);
  EXPECT_NEAR(*bw.value, 8 * busbw4, 1e-9);  // the worst, in Gbit/s
  EXPECT_TRUE(bw.reachability.checked);
  EXPECT_FALSE(bw.reachability.reachable);
  EXPECT_DOUBLE_EQ(bw.reachability.limit, 800);
  EXPECT_NE(bw.reachability.arithmetic_en.find("2 ports x 400 Gbit/s = 800 Gbit/s"),
            std::string::npos)
      << bw.reachability.arithmetic_en;
  EXPECT_NE(bw.reachability.arithmetic_ja.find("物理的に達成不可能"), std::string::npos);
  EXPECT_TRUE(util.reachability.reachable);
}

TEST(ReportTargets, NothingMeasuredMeansNotMeasuredNeverMet) {
  const auto results = fresh_dir("tgt_empty");
  SyntheticRun s;  // CPU-like: no GPU metrics, no collectives, one node
  s.util_pct = -1;
  s.allreduce_peak_busbw_gb_per_s = 0;
  write_synthetic_run(results, "only", s);
  const auto a = aggregate_results(results);
  const auto f = compute_figures(a, specs());
  for (const auto& r : evaluate_targets(seed_targets(), a, f, specs())) {
    EXPECT_EQ(r.verdict, TargetVerdict::not_measured) << r.target.id;
    EXPECT_FALSE(r.value) << r.target.id;
    EXPECT_TRUE(r.contributions.empty());
  }
  // A target with a lenient threshold is still not met without a measurement.
  TargetsFile t =
      parse_targets(nlohmann::json::parse(R"({"schema": "sxbench.targets/1", "targets": [
      {"id": "u", "label": "u", "metric": "gpu_utilization", "comparator": ">=", "threshold": 0, "unit": "%"}]})"),
                    "t.json");
  EXPECT_EQ(evaluate_targets(t, a, f, specs())[0].verdict, TargetVerdict::not_measured);
}

TEST(ReportTargets, ComparatorsOverRunsAndUnits) {
  const auto c = make_cluster("tgt_cmp");
  const TargetsFile t =
      parse_targets(nlohmann::json::parse(R"({"schema": "sxbench.targets/1", "targets": [
      {"id": "bw_best", "label": {"en": "bw", "ja": "帯域"}, "metric": "nccl_busbw", "comparator": ">=",
       "threshold": 80, "unit": "GB/s", "over_runs": "best", "min_nodes": 2},
      {"id": "bw_1g", "label": "bw", "metric": "nccl_busbw", "message_size": "128M", "comparator": ">",
       "threshold": 1, "unit": "GB/s"},
      {"id": "tps", "label": "tps", "metric": "tokens_per_s_per_gpu", "model": "meta-llama/Llama-2-7b-hf",
       "comparator": "<", "threshold": 3000, "unit": "tokens/s"},
      {"id": "tps_med", "label": "tps", "metric": "tokens_per_s_per_gpu", "nodes": 1,
       "comparator": ">", "threshold": 3000, "unit": "tokens/s", "over_runs": "median"}]})"),
                    "t.json");
  const auto rs = evaluate_targets(t, c.aggregate, c.figures, specs());
  const double busbw2 = 90.0 * (1 << 29) / ((1 << 29) + 4194304.0);
  EXPECT_NEAR(*result(rs, "bw_best").value, busbw2, 1e-9);
  EXPECT_EQ(result(rs, "bw_best").verdict, TargetVerdict::met);
  // 128 MiB was measured (8 x 4^12): the figure at that size, not the largest.
  EXPECT_NEAR(*result(rs, "bw_1g").value, 85.0 * 134217728.0 / (134217728.0 + 4194304.0), 1e-9);
  // "<": the worst is the highest rate (3050 at 1 node).
  EXPECT_DOUBLE_EQ(*result(rs, "tps").value, 3050);
  EXPECT_EQ(result(rs, "tps").verdict, TargetVerdict::not_met);
  EXPECT_DOUBLE_EQ(*result(rs, "tps_med").value, 3050);
  EXPECT_EQ(result(rs, "tps_med").verdict, TargetVerdict::met);
  EXPECT_EQ(result(rs, "bw_best").target.label_ja, "帯域");
  EXPECT_EQ(result(rs, "tps").target.label_ja, "tps");
}

TEST(ReportTargets, BadTargetsFilesAreOneLineErrors) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"([])", "t.json: not a JSON object"},
      {R"({"targets": []})", "t.json: schema must be \"sxbench.targets/1\""},
      {R"({"schema": "sxbench.targets/1", "targets": [{"label": "x"}]})",
       "t.json: target 1: needs an id (string)"},
      {R"({"schema": "sxbench.targets/1", "targets": [{"id": "a", "label": "x", "metric": "speed", "comparator": ">", "threshold": 1, "unit": "%"}]})",
       "t.json: target 'a': unknown metric 'speed'"},
      {R"({"schema": "sxbench.targets/1", "targets": [{"id": "a", "label": "x", "metric": "gpu_utilization", "comparator": "=>", "threshold": 1, "unit": "%"}]})",
       "t.json: target 'a': comparator '=>' is not one of >, >=, <, <="},
      {R"({"schema": "sxbench.targets/1", "targets": [{"id": "a", "label": "x", "metric": "gpu_utilization", "comparator": ">", "unit": "%"}]})",
       "t.json: target 'a': threshold must be a number"},
      {R"({"schema": "sxbench.targets/1", "targets": [{"id": "a", "label": "x", "metric": "scaling_efficiency", "comparator": ">", "threshold": 1, "unit": "%"}]})",
       "t.json: target 'a': nodes must be given and above baseline_nodes (1)"},
      {R"({"schema": "sxbench.targets/1", "targets": [{"id": "a", "label": "x", "metric": "nccl_busbw", "comparator": ">", "threshold": 1, "unit": "Gbps"}]})",
       "t.json: target 'a': unit 'Gbps' does not fit metric nccl_busbw (use Gbit/s or GB/s)"},
      {R"({"schema": "sxbench.targets/1", "targets": [{"id": "a", "label": "x", "metric": "gpu_utilization", "nodes": 2, "comparator": ">", "threshold": 1, "unit": "%"}]})",
       "t.json: target 'a': unknown key 'nodes' for metric gpu_utilization"},
      {R"({"schema": "sxbench.targets/1", "targets": [{"id": "a", "label": "x", "metric": "nccl_busbw", "collective": "allsum", "comparator": ">", "threshold": 1, "unit": "GB/s"}]})",
       "t.json: target 'a': unknown collective 'allsum'"},
      {R"({"schema": "sxbench.targets/1", "targets": [{"id": "a", "label": "x", "metric": "gpu_utilization", "comparator": ">", "threshold": 1, "unit": "%"},
                                                       {"id": "a", "label": "x", "metric": "gpu_utilization", "comparator": ">", "threshold": 1, "unit": "%"}]})",
       "t.json: target 'a': id used twice"},
  };
  for (const auto& c : cases) {
    try {
      parse_targets(nlohmann::json::parse(c.json), "t.json");
      ADD_FAILURE() << "accepted: " << c.json;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(c.message, 0), 0u) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  const auto dir = fresh_dir("tgt_file");
  write_file_atomic(dir / "bad.json", "{\"schema\": ");
  EXPECT_THROW(load_targets(dir / "bad.json"), Error);
  EXPECT_THROW(load_targets(dir / "missing.json"), Error);
}

TEST(ReportTargets, ReachabilityOfThresholdsAgainstLimits) {
  auto one = [](const std::string& target) {
    return parse_targets(
        nlohmann::json::parse(R"({"schema": "sxbench.targets/1", "targets": [)" + target + "]}"),
        "t.json");
  };
  const Aggregate a;
  const Figures f;
  auto reach = [&](const std::string& target) {
    return evaluate_targets(one(target), a, f, specs())[0].reachability;
  };
  EXPECT_TRUE(
      reach(
          R"({"id": "a", "label": "x", "metric": "nccl_busbw", "comparator": ">", "threshold": 700, "unit": "Gbit/s"})")
          .reachable);
  EXPECT_FALSE(
      reach(
          R"({"id": "a", "label": "x", "metric": "nccl_busbw", "comparator": ">=", "threshold": 800, "unit": "Gbit/s"})")
          .reachable);
  EXPECT_TRUE(
      reach(
          R"({"id": "a", "label": "x", "metric": "nccl_busbw", "comparator": ">", "threshold": 99, "unit": "GB/s"})")
          .reachable);
  const auto gb = reach(
      R"({"id": "a", "label": "x", "metric": "nccl_busbw", "comparator": ">", "threshold": 100, "unit": "GB/s"})");
  EXPECT_FALSE(gb.reachable);
  EXPECT_DOUBLE_EQ(gb.limit, 100);
  EXPECT_FALSE(
      reach(
          R"({"id": "a", "label": "x", "metric": "gpu_utilization", "comparator": ">", "threshold": 100, "unit": "%"})")
          .reachable);
  EXPECT_FALSE(
      reach(
          R"({"id": "a", "label": "x", "metric": "scaling_efficiency", "nodes": 2, "comparator": ">", "threshold": 101, "unit": "%"})")
          .reachable);
  // Intra-node bandwidth targets (min_nodes 1) are not checked against the NIC.
  EXPECT_FALSE(
      reach(
          R"({"id": "a", "label": "x", "metric": "nccl_busbw", "min_nodes": 1, "comparator": ">", "threshold": 9000, "unit": "Gbit/s"})")
          .checked);
}

TEST(ReportPredictions, MeasuredConfigurationsNextToThePerformanceModel) {
  const auto c = make_cluster("pred");
  const auto sp = specs();
  const PredictionRow* one = nullptr;
  std::vector<int> projected;
  for (const auto& p : c.figures.predictions) {
    if (p.model != "meta-llama/Llama-2-7b-hf") continue;
    if (!p.projection && p.nodes == 1) one = &p;
    if (p.projection) projected.push_back(p.nodes);
  }
  ASSERT_NE(one, nullptr);
  // The same prediction, made here directly: datasheet figures, assumed MFU, the measured
  // 1-node all_reduce busbw at the largest size (median of r1a and r1b, which are equal).
  const RunRecord* r1a = nullptr;
  for (const auto& run : c.aggregate.runs) {
    if (run.name == "r1a") r1a = &run;
  }
  ASSERT_NE(r1a, nullptr);
  const auto& r = *r1a->training;
  const HardwareSpec gpu = *find_gpu_spec(sp, "NVIDIA H200");
  Cluster cl;
  cl.nodes = 1;
  cl.gpus_per_node = 8;
  cl.peak_bf16_tflops = gpu.figure("dense_bf16_tflops").value;
  cl.gpu_memory_bytes = gpu.figure("hbm_capacity_gb").value * 1e9;
  cl.hbm_gb_per_s = gpu.figure("hbm_bandwidth_gb_per_s").value;
  cl.intra_node_busbw_gb_per_s = 300.0 * (1 << 29) / ((1 << 29) + 4194304.0);
  TrainSetup setup;
  setup.zero_stage = 1;
  setup.micro_batch = 1;
  setup.grad_accum = 1;
  setup.seq_len = 4096;
  const StepPrediction expect = predict_step(r.shape, setup, cl, Calibration{});
  EXPECT_DOUBLE_EQ(one->predicted_tokens_per_s_per_gpu, expect.tokens_per_s_per_gpu);
  ASSERT_TRUE(one->measured_tokens_per_s_per_gpu);
  EXPECT_DOUBLE_EQ(*one->measured_tokens_per_s_per_gpu, 3050);
  ASSERT_TRUE(one->ratio);
  EXPECT_DOUBLE_EQ(*one->ratio, 3050 / expect.tokens_per_s_per_gpu);
  ASSERT_TRUE(one->error);
  EXPECT_DOUBLE_EQ(*one->error, (expect.tokens_per_s_per_gpu - 3050) / 3050);
  // No compute.json in these results: the datasheet figures at their stated efficiencies.
  EXPECT_EQ(one->basis, "datasheet");
  double categories = 0;
  for (const auto& cat : one->categories) categories += cat.seconds;
  EXPECT_NEAR(categories, one->predicted_step_s, 1e-12);
  bool measured_busbw = false, datasheet_gemm = false;
  for (const auto& a : one->assumptions) {
    measured_busbw = measured_busbw ||
                     (a.name == "intra_node_allreduce_busbw" && a.source.rfind("measured", 0) == 0);
    datasheet_gemm = datasheet_gemm || a.name == "gemm_datasheet_efficiency";
  }
  EXPECT_TRUE(measured_busbw);
  EXPECT_TRUE(datasheet_gemm);
  // 1, 2 and 4 nodes were measured for 7B: only 8 is projected, and it has no measured value.
  EXPECT_EQ(projected, std::vector<int>{8});
  for (const auto& p : c.figures.predictions) {
    if (p.projection) {
      EXPECT_FALSE(p.measured_tokens_per_s_per_gpu);
      EXPECT_FALSE(p.ratio);
      EXPECT_EQ(p.basis, "calibrated");
    }
  }
}

TEST(ReportPredictions, CpuRunsHaveNoPredictionAndSayWhy) {
  const auto results = fresh_dir("pred_cpu");
  SyntheticRun s;
  s.gpu_name = "CPU: AMD EPYC";
  s.util_pct = -1;
  s.allreduce_peak_busbw_gb_per_s = 0;
  write_synthetic_run(results, "cpu", s);
  const auto f = compute_figures(aggregate_results(results), specs());
  EXPECT_TRUE(f.predictions.empty());
  ASSERT_EQ(f.prediction_gaps.size(), 1u);
  EXPECT_EQ(f.prediction_gaps[0].device_name, "CPU: AMD EPYC");
}

TEST(ReportCharts, ChartsHoldTheFiguresProjectionsDashedInBothLanguages) {
  const auto c = make_cluster("charts");
  const auto rs = evaluate_targets(seed_targets(), c.aggregate, c.figures, specs());
  const auto en = build_report_charts(c.aggregate, c.figures, rs, ReportLang::en);
  const auto ja = build_report_charts(c.aggregate, c.figures, rs, ReportLang::ja);
  std::map<std::string, const LineChart*> by;
  for (const auto& n : en.charts) by[n.stem] = &std::get<LineChart>(n.chart);
  ASSERT_TRUE(by.count("scaling_efficiency"));
  ASSERT_TRUE(by.count("throughput"));
  ASSERT_TRUE(by.count("busbw_all_reduce"));
  ASSERT_TRUE(by.count("gpu_utilization"));
  ASSERT_TRUE(by.count("gpu_power"));
  const LineChart& eff = *by["scaling_efficiency"];
  bool measured = false, dashed = false;
  for (const auto& s : eff.series) {
    if (!s.dashed && s.label == "meta-llama/Llama-2-7b-hf (seq 4096)") {
      measured = true;
      EXPECT_EQ(s.x, (std::vector<double>{1, 2, 4}));
      EXPECT_DOUBLE_EQ(s.y[2], 100 * 2800.0 / 3050.0);
    }
    dashed = dashed || s.dashed;
  }
  EXPECT_TRUE(measured);
  EXPECT_TRUE(dashed);                   // the 8-node projection
  EXPECT_EQ(eff.references.size(), 2u);  // the two scaling targets
  EXPECT_TRUE(by["busbw_all_reduce"]->x.log2_scale);
  EXPECT_TRUE(by["busbw_all_reduce"]->x.byte_ticks);
  EXPECT_EQ(by["busbw_all_reduce"]->series.size(), 4u);
  // Utilisation over time: the mean over GPUs per sample.
  const auto& util = by["gpu_utilization"]->series[0];
  EXPECT_DOUBLE_EQ(util.y[0], 0);
  EXPECT_DOUBLE_EQ(util.y[1], 95);
  ASSERT_EQ(ja.charts.size(), en.charts.size());
  for (const auto& n : ja.charts) {
    const std::string& title = chart_title(n.chart);
    EXPECT_TRUE(std::any_of(title.begin(), title.end(),
                            [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; }))
        << "not Japanese: " << title;
  }
}

TEST(ReportDocument, JapaneseReportHasJapaneseHeadingsAndEnglishHasNone) {
  const auto c = make_cluster("doc_lang");
  const auto targets = seed_targets();
  const auto rs = evaluate_targets(targets, c.aggregate, c.figures, specs());
  ReportContext ctx;
  ctx.aggregate = &c.aggregate;
  ctx.figures = &c.figures;
  ctx.targets = &targets;
  ctx.target_results = &rs;
  ctx.charts_absent = "test";
  const std::string ja = render_markdown(build_comprehensive_report(ctx, ReportLang::ja));
  const std::string en = render_markdown(build_comprehensive_report(ctx, ReportLang::en));
  for (const char* h : {"# H200 ベンチマーク総合レポート", "## 目標", "## 実行とインベントリ",
                        "## 学習スループット", "## スケール効率", "## 集団通信のバス帯域",
                        "## GPU 利用率と消費電力", "## 検証結果", "## 予測値と測定値",
                        "| 目標 | 要件 | 測定値 | 判定 |", "**未達**", "**達成**", "**未測定**"}) {
    EXPECT_NE(ja.find(h), std::string::npos) << h;
  }
  for (const char* h :
       {"# H200 benchmark comprehensive report", "## Targets", "## Scaling efficiency",
        "**not met**", "**met**", "**not measured**", "no 1-node baseline",
        "projection (not measured)", "2 ports x 400 Gbit/s = 800 Gbit/s"}) {
    EXPECT_NE(en.find(h), std::string::npos) << h;
  }
  EXPECT_EQ(en.find("目標"), std::string::npos);
  // The failed run is listed, with its error, but appears in no figure table.
  EXPECT_NE(en.find("`zz_failed`: phase failed: sft: boom"), std::string::npos);
  EXPECT_EQ(en.find("99999"), std::string::npos);
  const auto j = report_json(ctx, ReportLang::en);
  EXPECT_EQ(j["schema"], "sxbench.report/1");
  EXPECT_EQ(j["targets"].size(), 4u);
  EXPECT_EQ(j["runs"].size(), 6u);
  EXPECT_EQ(j["charts_absent"], "test");
}

TEST(ReportDocument, MarkdownAndHtmlRenderers) {
  Document d;
  d.title = "T <&>";
  d.lang = "ja";
  d.heading(2, "Section **one**");
  d.paragraph("a `code|x` and **bold** <tag>");
  d.table({{"h1", "h|2"}, {{"a|b", ""}, {"line\nbreak", "x"}}});
  d.bullets({"i1", "i2"});
  d.image({"charts/x.png", "X chart", "<svg/>", "image/svg+xml"});
  const std::string md = render_markdown(d);
  EXPECT_NE(md.find("# T <&>\n"), std::string::npos);
  EXPECT_NE(md.find("| h1 | h\\|2 |\n|---|---|\n| a\\|b | - |\n| line break | x |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("![X chart](charts/x.png)"), std::string::npos);
  const std::string html = render_html(d);
  EXPECT_NE(html.find("<html lang=\"ja\">"), std::string::npos);
  EXPECT_NE(html.find("<title>T &lt;&amp;&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("<p>a <code>code|x</code> and <strong>bold</strong> &lt;tag&gt;</p>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<h2 id=\"s0\">Section <strong>one</strong></h2>"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"#s0\">"), std::string::npos);
  EXPECT_NE(html.find("src=\"data:image/svg+xml;base64,PHN2Zy8+\""), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);  // nothing external
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\x00\x10", 3)), "/wAQ");
  EXPECT_EQ(format_figure(27994.3), "27994");
  EXPECT_EQ(format_figure(1e299), "1.000e+299");  // an edited file cannot widen a table
  EXPECT_EQ(format_figure(-2.5e15), "-2.500e+15");
  EXPECT_EQ(format_figure(437.33), "437.3");
  EXPECT_EQ(format_figure(5.4321), "5.43");
  EXPECT_EQ(format_figure(0.0022889), "0.00229");
  EXPECT_EQ(format_figure(std::nan("")), "-");
}

}  // namespace
}  // namespace sxb::report
