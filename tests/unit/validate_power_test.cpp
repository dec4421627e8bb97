// gpu.power_vs_board_limit on gpu_metrics_summary.json: each GPU's highest mean power (NVML mean
// or energy-counter mean, whole run or a phase window) against the board limit within NVML's
// reading tolerance, on the H200 fixture and on edited copies of it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/atomic_file.hpp"
#include "core/hardware.hpp"
#include "validate/findings.hpp"

namespace sxb {
namespace {

const std::filesystem::path kQuick = std::filesystem::path(SXB_TEST_SOURCE_DIR) / "tests" /
                                     "fixtures" / "gpu" / "h200_quick_7b" /
                                     "gpu_metrics_summary.json";

JobLimits h200() {
  return job_limits(load_hardware_specs(find_config_dir() / "hardware"), "NVIDIA H200", 1, 1, {});
}

nlohmann::json* training_gpu(nlohmann::json& summary) {
  for (auto& w : summary["phase_windows"]["windows"]) {
    if (w["name"] == "training") return &w["gpus"][0];
  }
  return nullptr;
}

TEST(ValidateGpuPower, TheRecordedH200RunIsWithinTheBoardLimit) {
  const auto f = validate_gpu_power(read_json_file(kQuick), h200());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "gpu.power_vs_board_limit");
  EXPECT_EQ(f[0].verdict, Verdict::ok) << f[0].arithmetic;
  EXPECT_DOUBLE_EQ(*f[0].limit, 700);
  // The highest mean is the training window's (the whole run includes idle phases).
  EXPECT_NE(f[0].arithmetic.find("window training"), std::string::npos) << f[0].arithmetic;
  EXPECT_GT(*f[0].measured, 680);
  EXPECT_LE(*f[0].measured, 700);
  EXPECT_NE(f[0].subject.find("gpu 0 (NVIDIA H200)"), std::string::npos) << f[0].subject;
}

TEST(ValidateGpuPower, AtUnderAndAboveTheToleratedBound) {
  // 700 W x 1.05 = 735 W: a mean at or under it is ok, above it impossible.
  for (const auto& [watts, verdict] : std::vector<std::pair<double, Verdict>>{
           {700.0, Verdict::ok}, {734.9, Verdict::ok}, {735.0, Verdict::ok},
           {735.1, Verdict::impossible}, {900.0, Verdict::impossible}}) {
    auto s = read_json_file(kQuick);
    (*training_gpu(s))["power_w"]["mean"] = watts;
    const auto f = validate_gpu_power(s, h200());
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].verdict, verdict) << watts << ": " << f[0].arithmetic;
    EXPECT_DOUBLE_EQ(*f[0].measured, watts);
    EXPECT_NE(f[0].arithmetic.find(fmt::format("{:.1f} W (NVML power mean, window training)",
                                               watts)),
              std::string::npos)
        << f[0].arithmetic;
  }
  // The energy counter's mean is held to the same bound, over the whole run too.
  auto s = read_json_file(kQuick);
  s["gpus"][0]["energy"]["mean_power_from_counter_w"] = 760.0;
  const auto f = validate_gpu_power(s, h200());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].verdict, Verdict::impossible);
  EXPECT_NE(f[0].arithmetic.find("energy-counter mean, whole run"), std::string::npos)
      << f[0].arithmetic;
  EXPECT_NE(f[0].arithmetic.find("impossible: the board cannot draw it"), std::string::npos);
}

TEST(ValidateGpuPower, EveryHostOfAMultiNodeSummaryAndNoLimitWithoutAKnownGpu) {
  const auto one = read_json_file(kQuick);
  nlohmann::json s = one;
  s["hosts"] = {{"node-a", one}, {"node-b", one}};
  s["hosts"]["node-b"]["gpus"][0]["power_w"]["mean"] = 800.0;
  const auto f = validate_gpu_power(s, h200());
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_NE(f[0].subject.find("node-a"), std::string::npos);
  EXPECT_EQ(f[1].verdict, Verdict::impossible);
  EXPECT_NE(f[1].subject.find("node-b"), std::string::npos);
  // No GPU spec (a CPU run, an unknown device): no board limit, no finding.
  EXPECT_TRUE(validate_gpu_power(one, JobLimits{}).empty());
}

}  // namespace
}  // namespace sxb
