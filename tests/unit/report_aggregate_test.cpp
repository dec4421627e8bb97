// Aggregation of results directories: every kind of directory read into its structs, broken and
// partial directories listed with their reason and skipped, failed runs kept out of figures,
// grouping, the GPU metrics time series, validation filled in where a run lacks it, the
// language helper, and the time 1,000 directories take.
#include <gtest/gtest.h>

#include <limits>

#include <ctime>

#include <chrono>

#include "core/compute_results.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "report/results/aggregate.hpp"
#include "report/results/result_files.hpp"
#include "report/doc/lang.hpp"
#include "report_fixtures.hpp"

namespace sxb::report {
namespace {

namespace fs = std::filesystem;
using testing::fresh_dir;
using testing::SyntheticRun;
using testing::write_synthetic_run;

const SkippedDirectory* skipped_named(const Aggregate& a, const std::string& name) {
  for (const auto& s : a.skipped) {
    if (s.dir.filename() == name) return &s;
  }
  return nullptr;
}

const RunRecord* run_named(const Aggregate& a, const std::string& name) {
  for (const auto& r : a.runs) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

TEST(ReportAggregate, ReadsEveryFileOfAMultiNodeRun) {
  const auto results = fresh_dir("agg_full");
  SyntheticRun s;
  s.nodes = 2;
  s.tokens_per_s_per_gpu = 2500;
  s.util_pct = 93;
  s.power_w = 612;
  write_synthetic_run(results, "h200_benchmark_a_2n", s);
  const Aggregate a = aggregate_results(results);
  ASSERT_EQ(a.runs.size(), 1u) << (a.skipped.empty() ? "" : a.skipped[0].reason);
  const RunRecord& r = a.runs[0];
  EXPECT_EQ(r.kind, RunKind::run);
  EXPECT_EQ(r.model, "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(r.nodes, 2);
  EXPECT_EQ(r.world_size, 16);
  EXPECT_EQ(r.ranks_per_node, 8);
  EXPECT_EQ(r.gpus_per_node, 8);
  EXPECT_EQ(r.status, "complete");
  ASSERT_EQ(r.hosts.size(), 2u);
  EXPECT_EQ(r.hosts[1].hostname, "node1");
  EXPECT_EQ(r.hosts[0].nvidia_driver_version, "570.124.06");
  EXPECT_EQ(r.hosts[0].nccl_version, "2.28.3");
  EXPECT_EQ(r.hosts[0].nics[0], "mlx5_0 (rdma, Ethernet, 400 Gbit/s, up)");
  EXPECT_EQ(r.gpu_names, std::vector<std::string>{"NVIDIA H200"});

  ASSERT_TRUE(r.training);
  EXPECT_DOUBLE_EQ(r.training->tokens_per_s_per_device, 2500);
  EXPECT_DOUBLE_EQ(r.training->tokens_per_s, 2500 * 16);
  EXPECT_EQ(r.training->seq_len, 4096);
  EXPECT_EQ(r.training->shape.params, 6738415616);
  EXPECT_EQ(r.training->shape.layers, 32);
  EXPECT_EQ(r.training->zero_stage_applied, 1);
  ASSERT_TRUE(r.training->mfu);
  EXPECT_NEAR(*r.training->mfu, *r.training->model_tflops_per_device / 989.4, 1e-12);
  EXPECT_DOUBLE_EQ(*r.training->loss_start, 9.0);
  EXPECT_DOUBLE_EQ(*r.training->loss_end, 6.0);
  EXPECT_GT(r.training->step_time_s.p90, r.training->step_time_s.median);

  ASSERT_TRUE(r.collectives);
  const CollectiveOp* ar = r.collectives->find("all_reduce");
  ASSERT_NE(ar, nullptr);
  EXPECT_EQ(ar->sizes.front().size_bytes, 8u);
  EXPECT_EQ(ar->sizes.back().size_bytes, 1ull << 29);  // 8 B x 4^13: the last size <= 1 GiB
  EXPECT_NEAR(ar->sizes.back().out_of_place.busbw_gb_per_s,
              80.0 * double(1ull << 29) / (double(1ull << 29) + 4194304.0), 1e-9);
  EXPECT_EQ(r.collectives->node_count, 2);

  ASSERT_TRUE(r.gpu_metrics);
  EXPECT_TRUE(r.gpu_metrics->gpu_metrics);
  ASSERT_EQ(r.gpu_metrics->gpus.size(), 16u);  // both hosts
  EXPECT_EQ(r.gpu_metrics->gpus[8].host, "node1");
  // Mean over 5 samples, the first of which is idle (0 %, 100 W).
  EXPECT_NEAR(*r.gpu_metrics->gpus[0].util_mean_pct, 93.0 * 4 / 5, 1e-9);
  EXPECT_DOUBLE_EQ(*r.gpu_metrics->gpus[0].power_max_w, 612);
  EXPECT_DOUBLE_EQ(*r.gpu_metrics->gpus[0].energy_j, 4000);
  ASSERT_TRUE(r.validation);
  EXPECT_EQ(r.validation->source, "validation.json");
  EXPECT_TRUE(r.validation->passed);
  EXPECT_TRUE(a.skipped.empty());
}

TEST(ReportAggregate, TimeSeriesComesFromTheCsvPerGpu) {
  const auto results = fresh_dir("agg_series");
  SyntheticRun s;
  s.gpus_per_node = 2;
  s.util_pct = 88;
  s.power_w = 450;
  s.samples = 4;
  write_synthetic_run(results, "r", s);
  const auto a = aggregate_results(results);
  ASSERT_EQ(a.runs.size(), 1u);
  const auto series = read_gpu_timeseries(a.runs[0].gpu_metrics->csv);
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[1].index, 1u);
  EXPECT_EQ(series[1].host, "node0");
  EXPECT_EQ(series[1].elapsed_s, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(series[1].util_pct, (std::vector<double>{0, 88, 88, 88}));
  EXPECT_EQ(series[0].power_w, (std::vector<double>{100, 450, 450, 450}));
}

TEST(ReportAggregate, StandaloneNcclTrainAndMonitorDirectoriesAreRecognised) {
  const auto results = fresh_dir("agg_standalone");
  SyntheticRun s;
  s.nodes = 2;
  fs::create_directories(results / "nccl_1");
  write_json_atomic(results / "nccl_1" / "nccl.json", testing::synthetic_nccl(s));
  fs::create_directories(results / "train_1");
  write_json_atomic(results / "train_1" / "sft_metrics.json", testing::synthetic_sft_metrics(s));
  fs::create_directories(results / "monitor_1");
  SyntheticRun one;
  testing::write_synthetic_gpu_metrics(results / "monitor_1", one);

  const auto a = aggregate_results(results);
  ASSERT_EQ(a.runs.size(), 3u);
  const RunRecord* nccl = run_named(a, "nccl_1");
  ASSERT_NE(nccl, nullptr);
  EXPECT_EQ(nccl->kind, RunKind::nccl);
  EXPECT_EQ(nccl->nodes, 2);
  EXPECT_EQ(nccl->world_size, 16);
  EXPECT_TRUE(nccl->model.empty());
  ASSERT_EQ(nccl->hosts.size(), 2u);
  EXPECT_EQ(nccl->hosts[0].nccl_version, "NCCL 2.28.3");
  EXPECT_EQ(nccl->gpu_names.size(), 8u);  // rank device descriptions, one per local GPU
  const RunRecord* train = run_named(a, "train_1");
  ASSERT_NE(train, nullptr);
  EXPECT_EQ(train->kind, RunKind::train);
  EXPECT_EQ(train->model, "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(train->nodes, 2);
  EXPECT_EQ(train->gpu_names, std::vector<std::string>{"NVIDIA H200"});
  const RunRecord* mon = run_named(a, "monitor_1");
  ASSERT_NE(mon, nullptr);
  EXPECT_EQ(mon->kind, RunKind::monitor);
  EXPECT_EQ(mon->gpu_metrics->gpus.size(), 8u);
  // No validation.json and no limits given: no validation summary.
  EXPECT_FALSE(nccl->validation);
}

TEST(ReportAggregate, RunsWithoutValidationAreCheckedWhenLimitsAreGiven) {
  const auto results = fresh_dir("agg_validate");
  SyntheticRun s;
  s.nodes = 1;
  s.allreduce_peak_busbw_gb_per_s = 600;  // above NVLink's 450 GB/s per direction
  fs::create_directories(results / "nccl_x");
  write_json_atomic(results / "nccl_x" / "nccl.json", testing::synthetic_nccl(s));
  const auto specs = load_hardware_specs(fs::path(SXB_TEST_SOURCE_DIR) / "configs" / "hardware");
  ReadOptions o;
  o.specs = &specs;
  const auto a = aggregate_results(results, o);
  ASSERT_EQ(a.runs.size(), 1u);
  ASSERT_TRUE(a.runs[0].validation);
  EXPECT_EQ(a.runs[0].validation->source, "sxbench report");
  EXPECT_FALSE(a.runs[0].validation->passed);
  EXPECT_GE(a.runs[0].validation->impossible, 1);
  bool nvlink = false;
  for (const auto& f : a.runs[0].validation->findings) {
    nvlink = nvlink || (f.check == "nccl.busbw_vs_nvlink" && f.verdict == "impossible");
  }
  EXPECT_TRUE(nvlink);
}

TEST(ReportAggregate, BrokenAndPartialDirectoriesAreListedWithTheirReasonAndSkipped) {
  const auto results = fresh_dir("agg_broken");
  SyntheticRun s;
  write_synthetic_run(results, "good", s);

  // Missing run.json beside the other files of a run.
  write_synthetic_run(results, "h200_benchmark_lost", s);
  fs::remove(results / "h200_benchmark_lost" / "run.json");
  // Malformed JSON.
  write_synthetic_run(results, "bad_json", s);
  write_file_atomic(results / "bad_json" / "sft_metrics.json", "{\"tokens_per_s\": 12,");
  // A field the writer always writes is missing.
  write_synthetic_run(results, "no_field", s);
  {
    auto m = testing::synthetic_sft_metrics(s);
    m.erase("tokens_per_s_per_device");
    write_json_atomic(results / "no_field" / "sft_metrics.json", m);
  }
  // Truncated CSV: the last line cut in the middle.
  write_synthetic_run(results, "cut_csv", s);
  {
    std::string csv = read_file(results / "cut_csv" / "gpu_metrics.csv");
    csv.resize(csv.size() - 7);
    write_file_atomic(results / "cut_csv" / "gpu_metrics.csv", csv);
  }
  // A phase recorded ok whose file is gone.
  write_synthetic_run(results, "lost_file", s);
  fs::remove(results / "lost_file" / "nccl.json");
  // Still marked running (killed with SIGKILL).
  SyntheticRun running = s;
  running.status = "running";
  write_synthetic_run(results, "killed", running);
  // Nothing sxbench wrote.
  fs::create_directories(results / "empty");
  // A field of the wrong type inside an array: the pointer names the element.
  write_synthetic_run(results, "bad_gpu_name", s);
  {
    auto run = read_json_file(results / "bad_gpu_name" / "run.json");
    run["hosts"][0]["gpus"][0]["name"] = 5;
    write_json_atomic(results / "bad_gpu_name" / "run.json", run);
  }
  // A number too large for a double.
  write_synthetic_run(results, "huge_number", s);
  {
    std::string text = read_file(results / "huge_number" / "sft_metrics.json");
    const size_t at = text.find("\"tokens_per_s\"");
    const size_t colon = text.find(':', at), end = text.find_first_of(",\n}", colon);
    text.replace(colon + 1, end - colon - 1, " 1e999");
    write_file_atomic(results / "huge_number" / "sft_metrics.json", text);
  }
  // A type error inside a file read through the library's own conversions.
  write_synthetic_run(results, "bad_row", s);
  {
    auto n = read_json_file(results / "bad_row" / "nccl.json");
    n["rows"][0]["size_bytes"] = "eight";
    write_json_atomic(results / "bad_row" / "nccl.json", n);
  }
  // A negative size: refused, not wrapped to 16 EiB.
  write_synthetic_run(results, "negative_size", s);
  {
    auto n = read_json_file(results / "negative_size" / "nccl.json");
    n["rows"][0]["size_bytes"] = -5;
    write_json_atomic(results / "negative_size" / "nccl.json", n);
  }
  // Integers beyond what the reader narrows to (a world size of 10^15, an unsigned 2^64 - 1
  // that would wrap to -1): refused with the range, never wrapped.
  write_synthetic_run(results, "huge_world", s);
  {
    auto j = read_json_file(results / "huge_world" / "run.json");
    j["world_size"] = int64_t{1000000000000000};
    write_json_atomic(results / "huge_world" / "run.json", j);
  }
  write_synthetic_run(results, "wrapping_seq", s);
  {
    auto j = read_json_file(results / "wrapping_seq" / "sft_metrics.json");
    j["seq_len"] = std::numeric_limits<uint64_t>::max();
    write_json_atomic(results / "wrapping_seq" / "sft_metrics.json", j);
  }
  // A bad number nested in a later row: the message locates it.
  write_synthetic_run(results, "bad_nested", s);
  {
    auto n = read_json_file(results / "bad_nested" / "nccl.json");
    n["rows"][1]["out_of_place"]["busbw_gb_per_s"] = "x";
    write_json_atomic(results / "bad_nested" / "nccl.json", n);
  }
  // Two links that point at each other: listed, the rest of the report goes on.
  fs::create_directory_symlink(results / "loop_b", results / "loop_a");
  fs::create_directory_symlink(results / "loop_a", results / "loop_b");
  // Files from another version of the format.
  write_synthetic_run(results, "no_schema", s);
  {
    auto run = read_json_file(results / "no_schema" / "run.json");
    run.erase("schema");
    write_json_atomic(results / "no_schema" / "run.json", run);
  }
  write_synthetic_run(results, "newer_schema", s);
  {
    auto m = read_json_file(results / "newer_schema" / "sft_metrics.json");
    m["schema"] = "sxbench.sft_metrics/2";
    write_json_atomic(results / "newer_schema" / "sft_metrics.json", m);
  }
  // A failed run: listed as failed, not skipped, not used.
  SyntheticRun failed = s;
  failed.status = "failed";
  write_synthetic_run(results, "failed_run", failed);
  // A standalone sweep that did not finish.
  {
    auto r = testing::synthetic_nccl(s);
    r.status = "partial";
    fs::create_directories(results / "nccl_partial");
    write_json_atomic(results / "nccl_partial" / "nccl.json", r);
  }

  const Aggregate a = aggregate_results(results);  // never throws for a bad run directory
  EXPECT_EQ(a.runs.size(), 2u);
  ASSERT_NE(run_named(a, "good"), nullptr);
  const RunRecord* f = run_named(a, "failed_run");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->status, "failed");
  EXPECT_EQ(f->error, "phase failed: sft: boom");
  EXPECT_FALSE(f->usable());
  EXPECT_FALSE(f->training);  // not read: never used for figures
  ASSERT_EQ(a.usable().size(), 1u);
  EXPECT_EQ(a.usable()[0]->name, "good");

  struct Expect {
    const char* dir;
    const char* reason_part;
  };
  const Expect expected[] = {
      {"h200_benchmark_lost", "run.json is missing"},
      {"bad_json", "sft_metrics.json"},
      {"no_field", "sft_metrics.json: /tokens_per_s_per_device: missing (expected a number)"},
      {"cut_csv", "gpu_metrics.csv: truncated"},
      {"lost_file", "run.json: /phases/0: phase nccl ok with nccl.json, which is missing"},
      {"killed", "run.json: /status: 'running' with no finish"},
      {"empty", "no result files"},
      {"nccl_partial", "the sweep did not finish"},
      {"bad_gpu_name", "run.json: /hosts/0/gpus/0/name: expected a string, found number 5"},
      {"huge_number", "sft_metrics.json: malformed JSON: number overflow parsing '1e999'"},
      {"bad_row", "nccl.json: key \"size_bytes\": expected an integer from 0 to 9223372036854775807, got \"eight\" (at /rows/0)"},
      {"no_schema", "run.json: /schema: missing (expected \"sxbench.run/1\")"},
      {"newer_schema", "sft_metrics.json: written by a newer sxbench (sxbench.sft_metrics/2"},
      {"negative_size", "nccl.json: key \"size_bytes\": expected an integer from 0 to"},
      {"bad_nested", "nccl.json: key \"busbw_gb_per_s\": expected a number"},
      {"bad_nested", "(at /rows/1/out_of_place)"},
      {"huge_world", "run.json: /world_size: expected an integer from 1 to 16777216, found"},
      {"wrapping_seq", "sft_metrics.json: /seq_len: expected an integer"},
      {"loop_a", "cannot read: Too many levels of symbolic links"},
      {"loop_b", "cannot read: Too many levels of symbolic links"},
  };
  EXPECT_EQ(a.skipped.size(), std::size(expected) - 1);  // bad_nested is named twice
  for (const auto& e : expected) {
    const SkippedDirectory* sk = skipped_named(a, e.dir);
    ASSERT_NE(sk, nullptr) << e.dir;
    EXPECT_NE(sk->reason.find(e.reason_part), std::string::npos) << e.dir << ": " << sk->reason;
    EXPECT_EQ(sk->reason.find('\n'), std::string::npos) << "one line: " << sk->reason;
  }
}

TEST(ReportAggregate, TrainingWindowFromTheSummaryOrCutFromTheCsvAlike) {
  const auto results = fresh_dir("agg_windows");
  SyntheticRun s;
  s.util_pct = 97;
  write_synthetic_run(results, "with_windows", s);
  s.phase_windows = false;
  write_synthetic_run(results, "older_summary", s);
  const Aggregate a = aggregate_results(results);
  ASSERT_EQ(a.runs.size(), 2u) << (a.skipped.empty() ? "" : a.skipped[0].reason);
  const GpuWindow* w[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    const RunRecord* r = run_named(a, i == 0 ? "with_windows" : "older_summary");
    ASSERT_TRUE(r && r->gpu_metrics);
    w[i] = r->gpu_metrics->training_window();
    ASSERT_NE(w[i], nullptr);
    EXPECT_EQ(w[i]->name, "sft");  // no timed-steps window recorded: the phase
    EXPECT_EQ(w[i]->samples, 4u);  // the sample before the phase is outside it
    EXPECT_EQ(w[i]->gpus, 8);
    ASSERT_TRUE(w[i]->util_mean_pct);
    EXPECT_DOUBLE_EQ(*w[i]->util_mean_pct, 97.0);
    // The whole-run mean includes the idle first sample.
    EXPECT_NEAR(*r->gpu_metrics->gpus[0].util_mean_pct, 97.0 * 4 / 5, 1e-9);
    EXPECT_EQ(r->gpu_metrics->windows_source.find(i == 0 ? "gpu_metrics_summary.json"
                                                         : "computed by the report"),
              0u)
        << r->gpu_metrics->windows_source;
  }
  EXPECT_EQ(w[0]->power_mean_w, w[1]->power_mean_w);
  EXPECT_EQ(w[0]->energy_j, w[1]->energy_j);
}

TEST(ReportAggregate, SchemaVersionsOlderNewerAndForeignAreToldApart) {
  using sxb::check_schema_version;
  auto message = [](const nlohmann::json& j, int absent_is = 0) {
    try {
      check_schema_version(j, "x.json", "x", 3, absent_is);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message({{"schema", "sxbench.x/3"}}), "accepted");
  EXPECT_EQ(message({{"schema", "sxbench.x/2"}}),
            "x.json: written by an older sxbench (sxbench.x/2; this version reads sxbench.x/3): "
            "re-run with this version");
  EXPECT_NE(message({{"schema", "sxbench.x/4"}}).find("written by a newer sxbench"),
            std::string::npos);
  EXPECT_EQ(message({{"schema", "sxbench.y/3"}}),
            "x.json: /schema: expected \"sxbench.x/3\", found \"sxbench.y/3\"");
  EXPECT_NE(message({{"schema", "sxbench.x/3b"}}).find("/schema: expected"), std::string::npos);
  EXPECT_NE(message({{"schema", 3}}).find("/schema: expected"), std::string::npos);
  EXPECT_NE(message(nlohmann::json::object()).find("/schema: missing"), std::string::npos);
  // A file kind that had no field at first: its absence is that version.
  EXPECT_EQ(message(nlohmann::json::object(), 3), "accepted");
  EXPECT_NE(message(nlohmann::json::object(), 2).find("older sxbench (sxbench.x/2"),
            std::string::npos);
  EXPECT_NE(message(nlohmann::json::array()).find("x.json: /: expected an object"),
            std::string::npos);
}

TEST(ReportAggregate, FieldErrorsNameThePointerAndWhatWasExpected) {
  using result_files::Fields;
  const nlohmann::json j = {{"a/b", {{"x~y", {1, "two"}}}}, {"n", nullptr}};
  const Fields f(j, "f.json");
  try {
    (void)f.at("a/b").items("x~y")[1].raw().get<int>();
    ADD_FAILURE();
  } catch (const nlohmann::json::exception& e) {
    EXPECT_EQ(json_error_line("f.json", e),
              "f.json: type must be number, but is string");
  }
  auto message = [&](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message([&] { f.num("n"); }), "f.json: /n: expected a number, found null null");
  EXPECT_EQ(message([&] { f.str("missing"); }), "f.json: /missing: missing (expected a string)");
  EXPECT_EQ(message([&] { f.at("a/b").at("x~y").num("k"); }),
            "f.json: /a~1b/x~0y: expected an object, found array");
  EXPECT_FALSE(f.opt_num("n"));  // null is "not recorded" for optional fields
}

TEST(ReportAggregate, ComputeHeadlinesAreTheBestFigurePerTypeAndTest) {
  const auto results = fresh_dir("agg_compute");
  ComputeReport c;
  c.tool_version = "0.1.0";
  c.status = "complete";
  c.devices = {
      {0, "NVIDIA H200", "0000:1b:00.0", 132, 9, 0, 50331648, 150754820096ull, "h200_sxm"}};
  auto gemm = [](int device, const char* dtype, const char* group, int64_t n, double tflops) {
    GemmResult g;
    g.device = device;
    g.dtype = dtype;
    g.layout = "tn";
    g.group = group;
    g.name = std::to_string(n);
    g.phase = "-";
    g.m = g.n = g.k = n;
    g.tflop_per_s = tflops;
    g.spec = compare_with_spec(tflops, "dense_bf16_tflops", 989.4);
    return g;
  };
  // The square-shape maximum is the headline even where a model shape ran faster.
  c.gemm = {gemm(0, "bf16", "square", 4096, 610), gemm(1, "bf16", "square", 8192, 702),
            gemm(0, "bf16", "llama2-7b", 4096, 720), gemm(0, "fp8", "llama2-7b", 4096, 1200)};
  BandwidthResult hbm;
  hbm.test = "hbm";
  hbm.variant = "copy";
  hbm.src_device = hbm.dst_device = 0;
  hbm.gb_per_s = 4100;
  hbm.spec = compare_with_spec(4100, "hbm_bandwidth_gb_per_s", 4800);
  BandwidthResult p2p = hbm;
  p2p.test = "p2p";
  p2p.variant = "ce_unidir";
  p2p.dst_device = 1;
  p2p.gb_per_s = 380;
  p2p.spec = {};
  c.bandwidth = {hbm, p2p};
  c.gemm_checks = {{0, "bf16", "tn", 64, 64, 64, 1e-3, 1e-2, true, false},
                   {0, "fp8", "tn", 64, 64, 64, 0.5, 1e-1, false, false}};
  c.skipped = {{"h2d", "no pinned memory"}};
  fs::create_directories(results / "compute_1");
  write_json_atomic(results / "compute_1" / "compute.json", c);
  const auto a = aggregate_results(results);
  ASSERT_EQ(a.runs.size(), 1u) << (a.skipped.empty() ? "" : a.skipped[0].reason);
  const RunRecord& r = a.runs[0];
  EXPECT_EQ(r.kind, RunKind::compute);
  ASSERT_TRUE(r.compute);
  const auto& h = r.compute->headlines;
  ASSERT_EQ(h.size(), 4u);  // bf16, fp8, hbm copy, p2p ce_unidir
  EXPECT_EQ(h[0].what, "GEMM bf16 8192x8192x8192 (square 8192)");
  EXPECT_EQ(h[0].device, 1);
  EXPECT_DOUBLE_EQ(h[0].value, 702);
  EXPECT_NEAR(*h[0].spec_fraction, 702 / 989.4, 1e-12);
  EXPECT_EQ(h[1].what, "GEMM fp8 4096x4096x4096 (llama2-7b 4096)");
  EXPECT_EQ(h[2].what, "hbm copy");
  EXPECT_DOUBLE_EQ(*h[2].spec_value, 4800);
  EXPECT_EQ(h[3].what, "p2p ce_unidir gpu0->gpu1");
  EXPECT_FALSE(h[3].spec_value);
  EXPECT_EQ(r.compute->gemm_checks, 2);
  EXPECT_EQ(r.compute->gemm_checks_failed, 1);
  EXPECT_EQ(r.compute->skipped, std::vector<std::string>{"h2d: no pinned memory"});
  EXPECT_EQ(r.gpu_names, std::vector<std::string>{"NVIDIA H200"});
}

TEST(ReportAggregate, CsvChecksNameTheProblem) {
  // The report reads gpu_metrics.csv through the monitor's own reader (monitor/metrics_csv), so
  // the columns and rules are those the monitor writes with.
  const auto dir = fresh_dir("agg_csv");
  const std::string header =
      "timestamp_utc,elapsed_s,host,gpu_index,gpu_name,gpu_util_pct,power_w\n";
  write_file_atomic(dir / "a.csv", header +
                                       "2026-12-05T00:00:00.000Z,0.0,h,0,G,50,100\n"
                                       "2026-12-05T00:00:01.000Z,1.0,h,0,G,50\n");
  EXPECT_THROW(check_gpu_metrics_csv(dir / "a.csv"), Error);
  try {
    read_gpu_timeseries(dir / "a.csv");
    FAIL() << "a short row must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.csv: line 3: 6 cells, the header has 7"),
              std::string::npos)
        << e.what();
  }
  write_file_atomic(dir / "b.csv", "elapsed_s,host,gpu_util_pct\n1,h,2\n");
  EXPECT_THROW(check_gpu_metrics_csv(dir / "b.csv"), Error);
  write_file_atomic(dir / "c.csv",
                    header + "2026-12-05T00:00:00.000Z,0.5,\"h,1\",0,\"NVIDIA \"\"H200\"\"\",,250.5\n");
  check_gpu_metrics_csv(dir / "c.csv");
  const auto s = read_gpu_timeseries(dir / "c.csv");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].host, "h,1");
  EXPECT_EQ(s[0].name, "NVIDIA \"H200\"");
  EXPECT_TRUE(std::isnan(s[0].util_pct[0]));  // empty cell: not measured, not zero
  EXPECT_DOUBLE_EQ(s[0].power_w[0], 250.5);
  // A GPU index that is not a whole number from 0 (it would not convert to unsigned int),
  // numbers that are not finite and a column the monitor never writes are refused in one line
  // (tests/fuzz/fuzz_run_dir reads it too).
  const std::string t = "2026-12-05T00:00:00.000Z,";
  for (const std::string row : {t + "0.5,h,-1,G,1,2\n", t + "0.5,h,1e20,G,1,2\n",
                                t + "0.5,h,nan,G,1,2\n", t + "0.5,h,0.5,G,1,2\n",
                                t + "inf,h,0,G,1,2\n", t + "0.5,h,0,G,nan,2\n",
                                t + "0.5,h,0,G,1,1e999\n", t + "0.5,h,0,G,1,\"2\r\"\n"}) {
    write_file_atomic(dir / "d.csv", header + row);
    try {
      read_gpu_timeseries(dir / "d.csv");
      ADD_FAILURE() << "accepted " << row;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("d.csv: line 2: "), std::string::npos) << m;
      EXPECT_EQ(m.find_first_of("\r\n"), std::string::npos) << m;
    }
  }
  write_file_atomic(dir / "e.csv", "timestamp_utc,elapsed_s,host,watts\n");
  try {
    read_gpu_timeseries(dir / "e.csv");
    ADD_FAILURE() << "accepted an unknown column";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("e.csv: line 1: unknown column 'watts'"),
              std::string::npos)
        << e.what();
  }
}

TEST(ReportAggregate, GroupsByModelAndNodeCount) {
  const auto results = fresh_dir("agg_groups");
  SyntheticRun s;
  s.util_pct = -1;
  s.allreduce_peak_busbw_gb_per_s = 0;
  write_synthetic_run(results, "a", s);
  write_synthetic_run(results, "b", s);  // a repeat of a
  s.nodes = 2;
  write_synthetic_run(results, "c", s);
  s.model = "meta-llama/Llama-2-13b-hf";
  write_synthetic_run(results, "d", s);
  s.status = "failed";
  write_synthetic_run(results, "e", s);  // failed: not in any group
  // The groups point into the Aggregate, which must outlive them.
  const Aggregate aggregate = aggregate_results(results);
  const auto groups = aggregate.training_groups();
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].model, "meta-llama/Llama-2-13b-hf");
  EXPECT_EQ(groups[0].nodes, 2);
  EXPECT_EQ(groups[0].runs.size(), 1u);
  EXPECT_EQ(groups[1].model, "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(groups[1].nodes, 1);
  ASSERT_EQ(groups[1].runs.size(), 2u);
  EXPECT_EQ(groups[1].runs[0]->name, "a");
  EXPECT_EQ(groups[2].nodes, 2);
}

TEST(ReportAggregate, MissingResultsDirectoryIsAOneLineError) {
  try {
    aggregate_results("/nonexistent/sxb_results");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "results directory /nonexistent/sxb_results does not exist");
  }
  const auto empty = fresh_dir("agg_empty");
  EXPECT_TRUE(aggregate_results(empty).runs.empty());
}

TEST(ReportAggregate, ARunDirectoryGivenAsTheResultsDirectoryIsRead) {
  const auto results = fresh_dir("agg_self");
  const auto dir = write_synthetic_run(results, "one", SyntheticRun{});
  const auto a = aggregate_results(dir);
  ASSERT_EQ(a.runs.size(), 1u);
  EXPECT_EQ(a.runs[0].name, "one");
}

#if defined(__SANITIZE_ADDRESS__)
#define SXB_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SXB_UNDER_ASAN 1
#endif
#endif

TEST(ReportAggregate, AThousandRunDirectoriesAggregateInUnderFiveSeconds) {
#ifdef SXB_UNDER_ASAN
  GTEST_SKIP() << "a CPU-time budget, measured by the regular builds; AddressSanitizer's "
                  "instrumentation makes it several times slower";
#endif
  const auto results = fresh_dir("agg_thousand");
  SyntheticRun s;
  s.gpus_per_node = 8;
  s.nccl_max_bytes = 1ull << 28;
  const auto first = write_synthetic_run(results, "run_0000", s);
  for (int i = 1; i < 1000; ++i) {
    const fs::path dir = results / fmt::format("run_{:04d}", i);
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(first))
      fs::copy_file(e.path(), dir / e.path().filename());
  }
  // CPU time of this process, not wall time: the bound is on the reader's own work, which other
  // test processes sharing the cores (ctest -j) must not be able to push over it.
  const auto cpu_seconds = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
  };
  const double t0 = cpu_seconds();
  const auto a = aggregate_results(results);
  const double seconds = cpu_seconds() - t0;
  EXPECT_EQ(a.runs.size(), 1000u);
  EXPECT_TRUE(a.skipped.empty());
  EXPECT_LT(seconds, 5.0) << "1,000 run directories took " << seconds << " s of CPU time";
  RecordProperty("aggregate_1000_runs_s", fmt::format("{:.3f}", seconds));
  std::printf("aggregated 1000 run directories in %.3f s of CPU time\n", seconds);
  fs::remove_all(results);
}

TEST(ReportLang, ParsesTheTwoLanguagesAndRefusesOthers) {
  EXPECT_EQ(parse_report_lang("en"), ReportLang::en);
  EXPECT_EQ(parse_report_lang("ja"), ReportLang::ja);
  try {
    parse_report_lang("de", "--lang");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--lang: unknown report language 'de' (known: en, ja)");
  }
  const Text t{"{} runs", "{} 件の実行"};
  EXPECT_EQ(tr(ReportLang::en, t, 3), "3 runs");
  EXPECT_EQ(tr(ReportLang::ja, t, 3), "3 件の実行");
  EXPECT_EQ(tr(ReportLang::ja, Text{"Targets", "目標"}), "目標");
}

TEST(ReportLang, FlagWinsOverReportLangSetting) {
  const EnvConfig env = EnvConfig::from_string("REPORT_LANG=ja\n", "test.env");
  ::unsetenv("REPORT_LANG");
  EXPECT_EQ(resolve_report_lang(env), ReportLang::ja);
  EXPECT_EQ(resolve_report_lang(env, "en"), ReportLang::en);
  EXPECT_EQ(resolve_report_lang(EnvConfig{}), ReportLang::en);
  EXPECT_THROW(resolve_report_lang(env, "fr"), Error);
}

}  // namespace
}  // namespace sxb::report
