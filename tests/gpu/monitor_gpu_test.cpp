// The monitor on a real GPU: NVML loads, every GPU answers, and the core readings are physical.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../e2e/e2e_util.hpp"
#include "platform/gpu_probe.hpp"
#include "monitor/metrics_csv.hpp"
#include "monitor/sampler.hpp"

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(MonitorGpu, SamplesEveryGpuWithPhysicalReadings) {
  if (sxb::visible_cuda_devices() == 0) GTEST_SKIP() << "no GPU";
  const fs::path dir = fs::temp_directory_path() / ("sxb_monitor_gpu_" + std::to_string(getpid()));
  fs::remove_all(dir);
  sxb::SamplerOptions o;
  o.interval_s = 0.05;
  o.csv_path = dir / "gpu_metrics.csv";
  o.require_gpu = true;
  sxb::MetricsSampler sampler(o);
  ASSERT_TRUE(sampler.has_gpu()) << sampler.gpu_note();
  sampler.start();
  ::usleep(600000);
  const sxb::MetricsSummary s = sampler.stop();
  ASSERT_GE(s.gpus.size(), static_cast<size_t>(sxb::visible_cuda_devices()));
  EXPECT_FALSE(s.driver_version.empty());
  for (const auto& g : s.gpus) {
    SCOPED_TRACE("GPU " + std::to_string(g.index));
    EXPECT_FALSE(g.name.empty());
    EXPECT_EQ(g.uuid.rfind("GPU-", 0), 0u) << g.uuid;
    EXPECT_EQ(g.samples, s.samples);
    ASSERT_GT(g.power_w.count, 0u);
    EXPECT_GT(g.power_w.min, 10.0);  // an H200 board idles near 100 W
    EXPECT_LT(g.power_w.max, 2000.0);
    ASSERT_GT(g.temperature_c.count, 0u);
    EXPECT_GT(g.temperature_c.max, 0.0);
    EXPECT_LT(g.temperature_c.max, 120.0);
    ASSERT_GT(g.sm_clock_mhz.count, 0u);
    EXPECT_GT(g.sm_clock_mhz.max, 0.0);
    ASSERT_GT(g.mem_used_mib.count, 0u);
    ASSERT_TRUE(g.energy_j.delta().has_value());
    EXPECT_GE(*g.energy_j.delta(), 0.0);
  }
  const auto j = s.to_json();
  std::printf("%s\n", j.dump(1).c_str());  // the device log shows what this driver provides
  const std::string csv = slurp(o.csv_path);
  size_t rows = 0;
  for (char c : csv) rows += c == '\n';
  EXPECT_EQ(rows, 1 + s.samples * s.gpus.size());
  fs::remove_all(dir);
}

TEST(MonitorGpu, CommandWithRequireGpuSucceeds) {
  if (sxb::visible_cuda_devices() == 0) GTEST_SKIP() << "no GPU";
  const fs::path dir =
      fs::temp_directory_path() / ("sxb_monitor_gpu_cmd_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const std::string cmd = sxb::e2e::binary_path() + " monitor --require-gpu --interval 0.1 --out " +
                          (dir / "gpu_metrics.csv").string() + " -- sleep 0.5";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto j = nlohmann::json::parse(slurp(dir / "gpu_metrics_summary.json"));
  EXPECT_EQ(j["gpu_metrics"], true);
  EXPECT_GE(j["gpus"].size(), 1u);
  fs::remove_all(dir);
}

}  // namespace
