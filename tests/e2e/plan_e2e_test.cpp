// `sxbench plan` run as a user would: both files written, English and Japanese, one-line errors,
// and calibration from a real run directory made by `sxbench run --mode sft` on the CPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/atomic_file.hpp"
#include "e2e_util.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;

// The plan must not pick up a results/ directory or .env of the working directory, nor settings
// of the caller's environment.
std::string plan(const fs::path& work, const std::string& args) {
  return "cd " + work.string() + " && env -u REPORT_LANG -u SEQ_LEN -u GPUS_PER_NODE " +
         sxbench("plan " + args);
}

TEST(PlanE2E, WritesThePlanAndItsJsonWithPredictionsLabelled) {
  const fs::path d = scratch_dir("plan_default");
  fs::create_directories(d / "results");
  const auto r = run_command(plan(d, "--results results --out docs"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote docs/benchmark_execution_plan.md and docs/plan.json"),
            std::string::npos)
      << r.output;
  const std::string md = read_file(d / "docs" / "benchmark_execution_plan.md");
  EXPECT_NE(md.find("Every figure in this document is a prediction"), std::string::npos);
  EXPECT_NE(md.find("scripts/run_h200_benchmark.sh meta-llama/Llama-2-70b-hf 8 sft --ds-config "
                    "configs/ds_config_70b.json"),
            std::string::npos);
  EXPECT_NE(md.find("achieved TFLOP/s: no GPU training run (sft_metrics.json)"), std::string::npos);
  const nlohmann::json j = read_json_file(d / "docs" / "plan.json");
  EXPECT_EQ(j["kind"], "prediction");
  EXPECT_EQ(j["entries"].size(), 12u);  // 3 models x 4 node counts
  EXPECT_TRUE(j["measured"].empty());
  double sum = 0;
  for (const auto& p : j["schedule"]) sum += p["duration_s"].get<double>();
  EXPECT_NEAR(sum, j["total_s"].get<double>(), 1e-6 * sum);
  fs::remove_all(d);
}

TEST(PlanE2E, JapaneseByFlagAndByReportLang) {
  const fs::path d = scratch_dir("plan_ja");
  fs::create_directories(d / "results");
  auto r = run_command(plan(d, "--results results --out ja --lang ja --models 7b --nodes 1,2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string md = read_file(d / "ja" / "benchmark_execution_plan.md");
  EXPECT_NE(md.find("ベンチマーク実行計画"), std::string::npos);
  EXPECT_NE(md.find("この文書の数値はすべて予測値"), std::string::npos);
  EXPECT_EQ(md.find("## Schedule"), std::string::npos);
  r = run_command("cd " + d.string() + " && REPORT_LANG=ja " +
                  sxbench("plan --results results --out env --models 7b --nodes 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  md = read_file(d / "env" / "benchmark_execution_plan.md");
  EXPECT_NE(md.find("## スケジュール"), std::string::npos);
  fs::remove_all(d);
}

TEST(PlanE2E, BadInputIsOneLineError) {
  const fs::path d = scratch_dir("plan_bad");
  write_file_atomic(d / "broken.json", "{\"train_micro_batch_size_per_gpu\": ");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--models 7b,gpt-9", "unknown model \"gpt-9\""},
      {"--nodes 1,two", "--nodes '1,two': 'two' is not a whole number"},
      {"--nodes 2,2", "--nodes '2,2': 2 is given twice"},
      {"--nodes 0", "is outside 1..1024"},
      {"--ds-config " + (d / "broken.json").string(), "broken.json"},
      {"--ds-config " + (d / "missing.json").string(), "no such file"},
      {"--results " + (d / "nowhere").string(), "no such directory"},
      {"--lang fr", "unknown report language 'fr'"},
      {"--models tiny --seq-len 4096", "exceeds tiny's max_position_embeddings 512"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = run_command(plan(d, args + " --out out"));
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_EQ(count_lines(r.output), 1) << args << ": " << r.output;
    EXPECT_NE(r.output.find("sxbench: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << ": " << r.output;
  }
  EXPECT_FALSE(fs::exists(d / "out" / "benchmark_execution_plan.md"));
  fs::remove_all(d);
}

// A GPU run calibrating the plan is GpuFixturesE2E.PlanIsCalibratedByTheGpuRun; a CPU run on the
// same results directory is named and left out: its rate is not an H200's.
TEST(PlanE2E, ACpuSftRunNeverCalibratesTheGpuPlan) {
  const fs::path d = scratch_dir("plan_cpu_run");
  fs::create_directories(d / "results");
  const std::string args = "--models tiny --nodes 1,2 --seq-len 64 --results results";
  auto r = run_command(plan(d, args + " --out before"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path run = d / "results" / "h200_benchmark_cpu_tiny_1n";
  r = run_command(mpirun(2,
                         "run --model tiny --nodes 1 --mode sft --backend mpi --seq-len 64 "
                         "--steps 4 --out " +
                             run.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(plan(d, args + " --out after"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const nlohmann::json before = read_json_file(d / "before" / "plan.json");
  const nlohmann::json after = read_json_file(d / "after" / "plan.json");
  for (const auto& f : after["measured"]) {
    EXPECT_NE(f["name"], "achieved_tflops_per_gpu") << f.dump();
  }
  // The predictions are those of the plan without the run.
  ASSERT_EQ(before["entries"].size(), after["entries"].size());
  for (size_t i = 0; i < after["entries"].size(); ++i) {
    EXPECT_EQ(before["entries"][i]["predicted"], after["entries"][i]["predicted"]) << i;
  }
  bool named = false;
  for (const auto& n : after["calibration_notes"]) {
    const std::string text = n.get<std::string>();
    named = named || (text.find("h200_benchmark_cpu_tiny_1n/sft_metrics.json: measured on CPU") !=
                          std::string::npos &&
                      text.find("never calibrates a GPU's prediction") != std::string::npos);
  }
  EXPECT_TRUE(named) << after["calibration_notes"].dump(1);
  const std::string md = read_file(d / "after" / "benchmark_execution_plan.md");
  EXPECT_NE(md.find("measured on CPU"), std::string::npos);
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb::e2e
