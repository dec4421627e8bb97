// The run directories recorded on one H200 (tests/fixtures/gpu/, see its README) through every
// reader a user runs after `run`: `report` (no directory skipped, the GPU run's throughput in
// the figures and the documents), `plan` (calibrated by the GPU run) and `validate` (nothing
// failed or impossible). CI has no GPU; this is how the CUDA engine's sft_metrics.json, a real
// compute.json and NVML columns reach the readers on every run.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
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

  // The throughput row is the GPU engine's, at the fixture's own figure.
  const auto quick = read_json_file(results_ / "h200_quick_7b" / "sft_metrics.json");
  const auto full = read_json_file(results_ / "h200_full_7b" / "sft_metrics.json");
  ASSERT_EQ(j["figures"]["throughput"].size(), 1u) << j["figures"]["throughput"].dump();
  const auto& row = j["figures"]["throughput"][0];
  EXPECT_EQ(row["device_name"], "NVIDIA H200");
  EXPECT_EQ(row["model"], "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(row["runs"].size(), 2u);
  const double a = quick["tokens_per_s_per_device"], b = full["tokens_per_s_per_device"];
  const double reported = row["tokens_per_s_per_device"];
  EXPECT_NEAR(reported, (a + b) / 2, 1e-6 * reported) << "median of the two runs";

  // The GPU-utilisation target is judged on each run's training window (these summaries predate
  // phase_windows, so the report cuts the sft phase out of gpu_metrics.csv itself): the GPU ran
  // kernels the whole time, while the whole-run mean also covers the collectives and ceilings.
  bool judged = false;
  for (const auto& t : j["targets"]) {
    if (t["id"] != "gpu_utilization") continue;
    judged = true;
    EXPECT_EQ(t["verdict"], "met") << t.dump(1);
    ASSERT_EQ(t["contributions"].size(), 2u) << t.dump(1);
    for (const auto& c : t["contributions"]) {
      EXPECT_NE(c["subject"].get<std::string>().find("sft phase"), std::string::npos) << c;
      EXPECT_GE(c["value"].get<double>(), 95.0) << c;
    }
  }
  EXPECT_TRUE(judged);
  for (const auto& g : j["figures"]["gpu"]) {
    ASSERT_TRUE(g["training_window"].is_object()) << g.dump(1);
    EXPECT_GT(g["training_window"]["samples"].get<int>(), 0) << g.dump(1);
    EXPECT_NE(g["training_window"]["source"].get<std::string>().find("computed by the report"),
              std::string::npos);
    // GPM SM activity is reported next to NVML utilisation, and reads lower (the stronger figure).
    ASSERT_TRUE(g["sm_activity_mean_pct"].is_number()) << g.dump(1);
    EXPECT_LT(g["training_window"]["sm_activity_mean_pct"].get<double>(),
              g["training_window"]["util_mean_pct"].get<double>());
  }

  // The performance model beside the measurement: uncalibrated, from the fixtures' own compute
  // phase (the full run's, which measured the model's shapes), within 10 % of the measured rate
  // and 5 % of the measured device peak; the categories add up to the predicted step.
  const nlohmann::json* predicted = nullptr;
  for (const auto& p : j["figures"]["predictions"]) {
    if (p["kind"] == "prediction") predicted = &p;
  }
  ASSERT_NE(predicted, nullptr) << j["figures"]["predictions"].dump();
  const auto& p = *predicted;
  EXPECT_EQ(p["basis"], "measured_ceilings");
  const double measured = p["measured_tokens_per_s_per_gpu"];
  const double error = p["error_fraction"];
  EXPECT_NEAR(error, (double(p["predicted_tokens_per_s_per_gpu"]) - measured) / measured, 1e-12);
  EXPECT_LE(std::abs(error), 0.10) << p.dump();
  EXPECT_LE(std::abs(double(p["memory_error_fraction"])), 0.05) << p.dump();
  const double peak_q = quick["peak_memory_bytes"]["device_used_peak_bytes"];
  const double peak_f = full["peak_memory_bytes"]["device_used_peak_bytes"];
  EXPECT_NEAR(double(p["measured_memory_peak_bytes"]), (peak_q + peak_f) / 2, 1);
  double step = 0;
  for (const auto& c : p["step_categories"]) step += double(c["seconds"]);
  EXPECT_NEAR(step, double(p["predicted_step_s"]), 1e-12);
  bool own_ceilings = false;
  for (const auto& a : p["assumptions"]) {
    own_ceilings = own_ceilings || (a["name"] == "gemm_model_shapes_bf16" &&
                                    a["source"].get<std::string>().find(
                                        "h200_full_7b/compute.json") != std::string::npos);
  }
  EXPECT_TRUE(own_ceilings) << p["assumptions"].dump();

  const std::string md = read_file(out / "h200_benchmark_comprehensive_report.md");
  EXPECT_NE(md.find("NVIDIA H200"), std::string::npos);
  EXPECT_NE(md.find("SM activity, GPM"), std::string::npos);
  EXPECT_NE(md.find("meta-llama/Llama-2-7b-hf"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "sales_presentation_h200_spectrumx.md"));
  const std::string sales = read_file(out / "sales_presentation_h200_spectrumx.md");
  EXPECT_NE(sales.find("NVIDIA H200"), std::string::npos);
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

// A healthy default GPU run gives no warning: 6 (quick) or 20 (full) steps of AdamW at lr 1e-5
// move each weight by at most 6e-5 or 2e-4, so train.loss_decreasing says why it does not apply
// (learning rate x steps below 1e-3, the fitted change inside its noise band) instead of warning.
TEST_F(GpuFixturesE2E, ValidateGivesNoWarningAndSaysWhyTheLossTrendDoesNotApply) {
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
    EXPECT_NE(line.find("not applicable: learning rate x steps"), std::string::npos) << line;
    EXPECT_NE(line.find("(sum of per-step lr) < 0.001"), std::string::npos) << line;
    EXPECT_NE(line.find("residual sd"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace sxb::e2e
