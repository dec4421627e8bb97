// The run directories recorded on one H200 (tests/fixtures/gpu/, see its README) through every
// reader a user runs after `run`: `report` (no directory skipped, the GPU run's throughput in
// the figures and the documents), `plan` (calibrated by the GPU run) and `validate` (nothing
// failed or impossible). CI has no GPU; this is how the CUDA engine's sft_metrics.json, a real
// compute.json and NVML columns reach the readers on every run.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <map>
#include <set>

#include "core/atomic_file.hpp"
#include "e2e_util.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(SXB_TEST_SOURCE_DIR) / "tests" / "fixtures" / "gpu";

std::set<std::string> fixture_names() {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(kFixtures)) {
    if (e.is_directory()) names.insert(e.path().filename().string());
  }
  return names;
}

class GpuFixturesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = scratch_dir("gpu_fixtures");
    results_ = root_ / "results";
    fs::create_directories(results_);
    for (const auto& n : fixture_names()) {
      fs::copy(kFixtures / n, results_ / n, fs::copy_options::recursive);
    }
    ASSERT_GE(fixture_names().size(), 2u) << "no GPU fixtures under " << kFixtures;
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_, results_;
};

TEST_F(GpuFixturesE2E, ReportReadsEveryFixtureAndShowsTheGpuRun) {
  const fs::path out = root_ / "docs";
  const auto r = run_command(
      sxbench("report --results " + results_.string() + " --out " + out.string() + " --lang en"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(" 0 skipped"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("sxbench report: skipped"), std::string::npos) << r.output;
  const auto j = read_json_file(out / "report.json");
  EXPECT_TRUE(j["skipped"].empty()) << j["skipped"].dump();
  std::set<std::string> read;
  for (const auto& run : j["runs"]) read.insert(run["name"].get<std::string>());
  EXPECT_EQ(read, fixture_names());

  // One throughput row per model and setup: the quick and full runs (no recomputation) are one
  // row at the median of their own figures; the full-recomputation run and Mistral-7B are rows
  // of their own. Every training fixture is in exactly one row.
  const auto quick = read_json_file(results_ / "h200_quick_7b" / "sft_metrics.json");
  const auto full = read_json_file(results_ / "h200_full_7b" / "sft_metrics.json");
  const auto& rows = j["figures"]["throughput"];
  ASSERT_EQ(rows.size(), 3u) << rows.dump();
  const nlohmann::json* none_7b = nullptr;
  std::multiset<std::string> in_rows;
  std::set<std::string> setups_7b;
  for (const auto& row : rows) {
    EXPECT_EQ(row["device_name"], "NVIDIA H200");
    for (const auto& run : row["runs"]) in_rows.insert(run.get<std::string>());
    if (row["model"] != "meta-llama/Llama-2-7b-hf") continue;
    setups_7b.insert(row["setup"].get<std::string>());
    if (row["setup"].get<std::string>().find("recomputation off") != std::string::npos) {
      none_7b = &row;
    }
  }
  EXPECT_EQ(in_rows, (std::multiset<std::string>{"h200_full_7b", "h200_full_recompute_7b",
                                                  "h200_mistral_7b", "h200_quick_7b"}));
  EXPECT_EQ(setups_7b, (std::set<std::string>{
                           "micro-batch 1 x accumulation 1, ZeRO 0, recomputation full",
                           "micro-batch 1 x accumulation 1, ZeRO 0, recomputation off"}));
  ASSERT_NE(none_7b, nullptr) << rows.dump();
  EXPECT_EQ((*none_7b)["runs"], (nlohmann::json{"h200_full_7b", "h200_quick_7b"}));
  const double a = quick["tokens_per_s_per_device"], b = full["tokens_per_s_per_device"];
  const double reported = (*none_7b)["tokens_per_s_per_device"];
  EXPECT_NEAR(reported, (a + b) / 2, 1e-6 * reported) << "median of the two runs";

  // The GPU-utilisation target is judged on each run's training window (the timed steps, from
  // the summary's phase_windows): the GPU ran kernels the whole time, while the whole-run mean
  // also covers the collectives and ceilings. The training-only fixtures have no GPU samples.
  bool judged = false;
  for (const auto& t : j["targets"]) {
    if (t["id"] != "gpu_utilization") continue;
    judged = true;
    EXPECT_EQ(t["verdict"], "met") << t.dump(1);
    ASSERT_EQ(t["contributions"].size(), 2u) << t.dump(1);
    for (const auto& c : t["contributions"]) {
      EXPECT_NE(c["subject"].get<std::string>().find("timed steps"), std::string::npos) << c;
      EXPECT_GE(c["value"].get<double>(), 95.0) << c;
    }
  }
  EXPECT_TRUE(judged);
  int gpu_rows = 0;
  for (const auto& g : j["figures"]["gpu"]) {
    ++gpu_rows;
    ASSERT_TRUE(g["training_window"].is_object()) << g.dump(1);
    EXPECT_EQ(g["training_window"]["name"], "training") << g.dump(1);
    EXPECT_GT(g["training_window"]["samples"].get<int>(), 0) << g.dump(1);
    EXPECT_NE(g["training_window"]["source"].get<std::string>().find(
                  "gpu_metrics_summary.json /phase_windows"),
              std::string::npos)
        << g.dump(1);
    // GPM SM activity is reported next to NVML utilisation, and reads lower (the stronger figure).
    ASSERT_TRUE(g["sm_activity_mean_pct"].is_number()) << g.dump(1);
    EXPECT_LT(g["training_window"]["sm_activity_mean_pct"].get<double>(),
              g["training_window"]["util_mean_pct"].get<double>());
    // The whole run covers collectives and ceilings too: it reads lower than the training window.
    EXPECT_LT(g["util_mean_pct"].get<double>(), g["training_window"]["util_mean_pct"].get<double>())
        << g.dump(1);
  }
  EXPECT_EQ(gpu_rows, 2);

  // The performance model beside each measurement: uncalibrated, from the fixtures' own compute
  // phase (the full run's, which measured the model's shapes, or the training fixture's own),
  // within 10 % of the measured rate and 5 % of the measured device peak; the categories add up
  // to the predicted step. One prediction per throughput row.
  int measured_predictions = 0;
  for (const auto& p : j["figures"]["predictions"]) {
    if (p["kind"] != "prediction") continue;
    ++measured_predictions;
    EXPECT_EQ(p["basis"], "measured_ceilings") << p.dump();
    const double measured = p["measured_tokens_per_s_per_gpu"];
    const double error = p["error_fraction"];
    EXPECT_NEAR(error, (double(p["predicted_tokens_per_s_per_gpu"]) - measured) / measured, 1e-12);
    EXPECT_LE(std::abs(error), 0.10) << p.dump();
    EXPECT_LE(std::abs(double(p["memory_error_fraction"])), 0.05) << p.dump();
    double step = 0;
    for (const auto& c : p["step_categories"]) step += double(c["seconds"]);
    EXPECT_NEAR(step, double(p["predicted_step_s"]), 1e-12);
    if (p["runs"] != nlohmann::json{"h200_full_7b", "h200_quick_7b"}) continue;
    const double peak_q = quick["peak_memory_bytes"]["device_used_peak_bytes"];
    const double peak_f = full["peak_memory_bytes"]["device_used_peak_bytes"];
    EXPECT_NEAR(double(p["measured_memory_peak_bytes"]), (peak_q + peak_f) / 2, 1);
    bool own_ceilings = false;
    for (const auto& a : p["assumptions"]) {
      own_ceilings = own_ceilings || (a["name"] == "gemm_model_shapes_bf16" &&
                                      a["source"].get<std::string>().find(
                                          "h200_full_7b/compute.json") != std::string::npos);
    }
    EXPECT_TRUE(own_ceilings) << p["assumptions"].dump();
  }
  EXPECT_EQ(measured_predictions, 3);

  const std::string md = read_file(out / "h200_benchmark_comprehensive_report.md");
  EXPECT_NE(md.find("NVIDIA H200"), std::string::npos);
  EXPECT_NE(md.find("SM activity, GPM"), std::string::npos);
  EXPECT_NE(md.find("meta-llama/Llama-2-7b-hf"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "sales_presentation_h200_spectrumx.md"));
  const std::string sales = read_file(out / "sales_presentation_h200_spectrumx.md");
  EXPECT_NE(sales.find("NVIDIA H200"), std::string::npos);
}

// A summary written before phase windows existed (no phase_windows): the report cuts the same
// windows out of gpu_metrics.csv itself, with the one inclusion rule the run uses, and says so.
TEST_F(GpuFixturesE2E, ReportCutsTheWindowsFromTheCsvWhenTheSummaryHasNone) {
  const auto report = [&](const std::string& name) {
    const fs::path out = root_ / name;
    const auto r = run_command(sxbench("report --results " + results_.string() + " --out " +
                                       out.string() + " --lang en"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, nlohmann::json> windows;
    const nlohmann::json j = read_json_file(out / "report.json");
    for (const auto& g : j["figures"]["gpu"]) {
      windows[g["run"].get<std::string>()] = g["training_window"];
    }
    return windows;
  };
  const auto recorded = report("docs_recorded");
  for (const char* run : {"h200_quick_7b", "h200_full_7b"}) {
    const fs::path summary = results_ / run / "gpu_metrics_summary.json";
    nlohmann::json j = read_json_file(summary);
    ASSERT_TRUE(j.contains("phase_windows")) << run;
    j.erase("phase_windows");
    write_json_atomic(summary, j);
  }
  const auto computed = report("docs_computed");
  ASSERT_EQ(computed.size(), 2u);
  for (const auto& [run, w] : computed) {
    const auto& r = recorded.at(run);
    EXPECT_NE(w["source"].get<std::string>().find("computed by the report"), std::string::npos)
        << w;
    EXPECT_EQ(w["name"], r["name"]) << run;
    EXPECT_EQ(w["samples"], r["samples"]) << run;
    EXPECT_NEAR(w["util_mean_pct"].get<double>(), r["util_mean_pct"].get<double>(), 1e-9) << run;
  }
}

TEST_F(GpuFixturesE2E, PlanIsCalibratedByTheGpuRun) {
  const fs::path out = root_ / "plan";
  const auto r = run_command(
      sxbench("plan --results " + results_.string() + " --out " + out.string() + " --lang en"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = read_json_file(out / "plan.json");
  ASSERT_FALSE(j["measured"].empty()) << j.dump(1);
  bool from_fixture = false;
  for (const auto& m : j["measured"]) {
    if (m["name"] != "achieved_tflops_per_gpu") continue;
    const std::string dir = fs::path(m["run_dir"].get<std::string>()).filename();
    from_fixture = fixture_names().count(dir) > 0;
    EXPECT_GT(m["value"].get<double>(), 100.0) << m.dump();  // a GPU's rate, not a CPU's
  }
  EXPECT_TRUE(from_fixture) << j["measured"].dump(1);
  EXPECT_TRUE(j["unused_runs"].empty()) << j["unused_runs"].dump();
}

TEST_F(GpuFixturesE2E, ValidateFindsNothingFailedOrImpossible) {
  for (const auto& n : fixture_names()) {
    const auto r = run_command(sxbench("validate " + (results_ / n).string()));
    EXPECT_EQ(r.exit_code, 0) << n << "\n" << r.output;
    EXPECT_NE(r.output.find(" 0 failed, 0 impossible"), std::string::npos) << n << "\n" << r.output;
  }
}

// A healthy default GPU run gives no warning. The quick run trains 30 steps with its own
// defaults (AdamW lr 1e-4) and its loss falls by at least 0.2 nats, beyond the curve's noise
// (recorded: 11.1541 -> 10.8004); the full run's 20 steps at the default lr 1e-5 and the
// 10-step training fixtures at lr 1e-5 move each weight too little, so train.loss_decreasing
// says why it does not apply (learning rate x steps below 1e-3) instead of warning.
TEST_F(GpuFixturesE2E, ValidateGivesNoWarningAndJudgesTheLossTrend) {
  for (const auto& n : fixture_names()) {
    const auto r = run_command(sxbench("validate " + (results_ / n).string()));
    EXPECT_EQ(r.exit_code, 0) << n << "\n" << r.output;
    EXPECT_NE(r.output.find(" 0 warning(s), 0 failed, 0 impossible"), std::string::npos)
        << n << "\n"
        << r.output;
    const auto at = r.output.find("train.loss_decreasing");
    ASSERT_NE(at, std::string::npos) << n << "\n" << r.output;
    // The finding's two lines: verdict, check and subject; then its arithmetic.
    const std::string line =
        r.output.substr(at, r.output.find('\n', r.output.find('\n', at) + 1) - at);
    EXPECT_NE(line.find("residual sd"), std::string::npos) << line;
    if (n == "h200_quick_7b") {
      EXPECT_NE(line.find("falls beyond the noise"), std::string::npos) << line;
      const auto m = read_json_file(results_ / n / "sft_metrics.json");
      EXPECT_EQ(m["loss_curve"].size(), 30u);
      EXPECT_GE(m["initial_loss"].get<double>() - m["final_loss"].get<double>(), 0.2)
          << m["loss_curve"].dump();
    } else {
      EXPECT_NE(line.find("not applicable: learning rate x steps"), std::string::npos) << line;
      EXPECT_NE(line.find("(sum of per-step lr) < 0.001"), std::string::npos) << line;
    }
  }
}

}  // namespace
}  // namespace sxb::e2e
