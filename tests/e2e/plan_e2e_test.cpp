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
  EXPECT_NE(md.find("achieved TFLOP/s: no sft_metrics.json"), std::string::npos);
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

TEST(PlanE2E, ARealSftRunCalibratesTheAchievedRate) {
  const fs::path d = scratch_dir("plan_calibrated");
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

  const std::string before = read_file(d / "before" / "benchmark_execution_plan.md");
  const std::string after = read_file(d / "after" / "benchmark_execution_plan.md");
  EXPECT_NE(before.find("| gemm_datasheet_efficiency |"), std::string::npos);
  EXPECT_EQ(after.find("| gemm_datasheet_efficiency |"), std::string::npos);
  // The source line of the figure names the run directory and the file it came from.
  const std::string line_start = "| achieved_tflops_per_gpu |";
  const auto at = after.find(line_start);
  ASSERT_NE(at, std::string::npos) << after;
  const std::string line = after.substr(at, after.find('\n', at) - at);
  EXPECT_NE(line.find("measured: "), std::string::npos) << line;
  EXPECT_NE(line.find("h200_benchmark_cpu_tiny_1n/sft_metrics.json"), std::string::npos)
      << line;
  EXPECT_NE(line.find("not on an NVIDIA H200 SXM"), std::string::npos) << line;  // a CPU run
  const nlohmann::json j = read_json_file(d / "after" / "plan.json");
  bool found = false;
  for (const auto& f : j["measured"]) {
    if (f["name"] == "achieved_tflops_per_gpu") {
      found = true;
      EXPECT_EQ(f["run_dir"], "h200_benchmark_cpu_tiny_1n");
      EXPECT_GT(f["value"].get<double>(), 0);
    }
  }
  EXPECT_TRUE(found) << j["measured"].dump();
  // An sft run has no collective sweep: the communication figures stay assumptions.
  EXPECT_EQ(j["measured"].size(), 1u) << j["measured"].dump();
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb::e2e
