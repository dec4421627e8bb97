// Published records end to end: `sxbench validate` on claims and on a run directory, and
// `sxbench report`, show a figure above a record as implausible (a warning naming the record),
// without failing the run; the seed's claims still fail.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "e2e_util.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = fs::path(SXB_TEST_SOURCE_DIR);

void write_json(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(2); }
nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(std::ifstream(p)); }

TEST(RecordsE2E, IssueClaimIsImplausibleNotOkAndDoesNotFail) {
  const fs::path dir = scratch_dir("records_claims");
  const fs::path claims = dir / "claims.json";
  write_json(claims, {{"schema", "sxbench.claims/1"},
                      {"cluster", {{"gpu", "h200_sxm"}, {"gpus_per_node", 8}}},
                      {"claims",
                       {{{"id", "llama2-7b-1n"}, {"kind", "training_tokens_per_s"},
                         {"model", "meta-llama/Llama-2-7b-hf"}, {"nodes", 1}, {"seq_len", 4096},
                         {"value", 160000}}}}});
  const auto r = run_command(sxbench("validate " + claims.string() + " --json " +
                                     (dir / "v.json").string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("implausible claim.training_flops_vs_peak"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("31.6% above the best published record"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("record mfu_bf16_flashattention2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 warning(s) (1 implausible: above a published record)"),
            std::string::npos)
      << r.output;
  const auto v = read_json(dir / "v.json");
  EXPECT_EQ(v["counts"]["implausible"], 1);
  EXPECT_EQ(v["findings"][0]["verdict"], "warning");
  EXPECT_EQ(v["findings"][0]["implausible"], true);
  EXPECT_EQ(v["findings"][0]["record"], "mfu_bf16_flashattention2");
}

TEST(RecordsE2E, SeedClaimsStillFail) {
  const auto r = run_command(sxbench("validate " + (kSource / "configs/claims/seed_claims.json").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("validation FAILED: 3 ok, 0 warning(s), 0 failed, 4 impossible"),
            std::string::npos)
      << r.output;
}

// A real H200 run with its fp8 GEMM edited to 1700 TFLOP/s (above DeepGEMM's 1550, under the
// 1978.9 datasheet figure): validate shows it as implausible and the run still passes; report
// (here checking the directory itself, its validation.json removed) shows it as such.
TEST(RecordsE2E, RunDirectoryAboveARecordIsImplausibleInValidateAndReport) {
  const fs::path root = scratch_dir("records_run");
  const fs::path results = root / "results";
  const fs::path run = results / "h200_quick_7b";
  fs::create_directories(results);
  fs::copy(kSource / "tests/fixtures/gpu/h200_quick_7b", run, fs::copy_options::recursive);
  fs::remove(run / "validation.json");
  auto c = read_json(run / "compute.json");
  bool edited = false;
  for (auto& g : c["gemm"]) {
    if (g["dtype"] != "fp8_e4m3" || edited) continue;
    const double t = 1700.0, scale = g["tflop_per_s"].get<double>() / t;
    for (const char* k : {"time_us_median", "time_us_p10", "time_us_p90"}) {
      g[k] = g[k].get<double>() * scale;
    }
    g["tflop_per_s"] = t;
    g["spec"]["fraction"] = t / g["spec"]["value"].get<double>();
    edited = true;
  }
  ASSERT_TRUE(edited);
  write_json(run / "compute.json", c);
  const auto v = run_command(sxbench("validate " + run.string()));
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find("implausible compute.gemm_vs_peak"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("record gemm_fp8_deepgemm"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("(1 implausible: above a published record), 0 failed, 0 impossible"),
            std::string::npos)
      << v.output;
  const fs::path out = root / "report";
  const auto r = run_command(sxbench("report --results " + results.string() + " --out " +
                                     out.string() + " --lang en"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string md;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (e.path().extension() == ".md") {
      std::ifstream in(e.path());
      md += std::string(std::istreambuf_iterator<char>(in), {});
    }
  }
  EXPECT_NE(md.find("**warning: implausible (above a published record)**"), std::string::npos)
      << md.substr(0, 2000);
  EXPECT_NE(md.find("1 (1 implausible)"), std::string::npos);
}

}  // namespace
}  // namespace sxb::e2e
