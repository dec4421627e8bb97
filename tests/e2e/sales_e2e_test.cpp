// `sxbench report` writes the sales summary: without a GPU training run it shows no figure, with
// one it prices it using the .env inputs, each listed with its origin; bad inputs stop the report
// before anything is written.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "../unit/report_fixtures.hpp"
#include "core/atomic_file.hpp"
#include "e2e_util.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;

// Without the caller's settings: the ROI keys and the language come from the test alone.
std::string report(const fs::path& work, const std::string& args) {
  return "cd " + work.string() +
         " && env -u REPORT_LANG -u CURRENCY -u GPU_HOUR_PRICE -u ELECTRICITY_PRICE_PER_KWH -u PUE "
         "-u NODE_POWER_OVERHEAD -u FINE_TUNE_TOKEN_BUDGET -u BASELINE_NAME "
         "-u BASELINE_TOKENS_PER_S_PER_GPU -u BASELINE_MODEL -u BASELINE_SEQ_LEN "
         "-u BASELINE_GPU_HOUR_PRICE " +
         sxbench(args);
}

TEST(SalesE2E, CpuRunOnlyMeansNoMeasuredFigure) {
  const fs::path d = scratch_dir("sales_cpu");
  auto r = run_command(mpirun(2,
                              "run --model tiny --nodes 1 --mode sft --backend mpi --seq-len 64 "
                              "--steps 4 --out " +
                                  (d / "results" / "cpu_tiny").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(report(d, "report --results results --out docs"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote docs/sales_presentation_h200_spectrumx.md"), std::string::npos)
      << r.output;
  const std::string md = read_file(d / "docs" / "sales_presentation_h200_spectrumx.md");
  EXPECT_NE(md.find("no measured figure and no projection"), std::string::npos) << md;
  EXPECT_NE(md.find("cpu_tiny: measured by the cpu-reference-fp32 engine"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("## Measured"), std::string::npos) << "priced without a measured run";
  EXPECT_EQ(md.find("## Projections"), std::string::npos) << "projected without a measured run";
  r = run_command(report(d, "report --results results --out ja --lang ja"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string ja = read_file(d / "ja" / "sales_presentation_h200_spectrumx.md");
  EXPECT_NE(ja.find("測定済みの学習実行なし"), std::string::npos);
  fs::remove_all(d);
}

TEST(SalesE2E, GpuRunIsPricedWithTheEnvInputs) {
  const fs::path d = scratch_dir("sales_gpu");
  report::testing::SyntheticRun s;
  s.tokens_per_s_per_gpu = 3000;
  report::testing::write_synthetic_run(d / "results", "h200_benchmark_20261130T100000Z_7b_1n", s);
  write_file_atomic(d / "site.env", "# site prices\nGPU_HOUR_PRICE=3.5\nPUE=1.25\n");
  const auto r = run_command(report(d, "--env site.env report --results results --out docs"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string md = read_file(d / "docs" / "sales_presentation_h200_spectrumx.md");
  EXPECT_NE(md.find("## Measured: cost, time and energy"), std::string::npos) << md;
  // 3.5 USD x 8 / (24,000 tokens/s x 3600) x 1e6 = 0.324 USD per million tokens.
  EXPECT_NE(md.find("| 0.324 USD |"), std::string::npos) << md;
  EXPECT_NE(md.find("| GPU_HOUR_PRICE | 3.5 | USD per GPU-hour | site.env line 2 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| PUE | 1.25 | facility power / IT power | site.env line 3 |"),
            std::string::npos);
  EXPECT_NE(md.find("| BASELINE_GPU_HOUR_PRICE | 3.00 | USD per GPU-hour | built-in default |"),
            std::string::npos);
  EXPECT_NE(md.find("**Projections, not measurements**"), std::string::npos);
  EXPECT_NE(md.find("GPU board power only"), std::string::npos);
  fs::remove_all(d);
}

TEST(SalesE2E, PricesInTheWrongCurrencyStopTheReportBeforeItWrites) {
  const fs::path d = scratch_dir("sales_currency");
  report::testing::SyntheticRun s;
  report::testing::write_synthetic_run(d / "results", "h200_benchmark_20261130T100000Z_7b_1n", s);
  const auto r = run_command("cd " + d.string() + " && CURRENCY=JPY GPU_HOUR_PRICE=600 " +
                             sxbench("report --results results --out docs"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("CURRENCY is JPY but ELECTRICITY_PRICE_PER_KWH is the built-in USD "
                          "default"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(d / "docs" / "h200_benchmark_comprehensive_report.md"));
  EXPECT_FALSE(fs::exists(d / "docs" / "sales_presentation_h200_spectrumx.md"));
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb::e2e
