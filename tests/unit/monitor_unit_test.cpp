// GPU monitor: CSV schema and its reader, windows of a run's time, throttle-reason decoding,
// summary math on synthetic samples, /proc parsing, and the sampler's no-GPU path (CI has no
// driver).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <memory>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/env_config.hpp"
#include "core/error.hpp"
#include "monitor/host_sampler.hpp"
#include "monitor/metrics_csv.hpp"
#include "monitor/sampler.hpp"
#include "monitor/summary.hpp"
#include "monitor/throttle.hpp"
#include "monitor/windows.hpp"
#include "core/utc_time.hpp"

namespace sxb {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  return lines;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path temp_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("sxb_monitor_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

int column_index(const std::string& name) {
  const auto& cols = metrics_csv_columns();
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

GpuSample full_gpu_sample() {
  GpuSample g;
  g.index = 1;
  g.uuid = "GPU-1234";
  g.name = "NVIDIA H200, test";
  g.gpu_util_pct = 97;
  g.mem_util_pct = 40;
  g.mem_used_mib = 1024;
  g.mem_total_mib = 143771;
  g.power_w = 650.25;
  g.energy_j = 1234.5;
  g.temperature_c = 61;
  g.sm_clock_mhz = 1980;
  g.throttle_mask = 0x4 | 0x20;
  g.pcie_link_gen = 5;
  g.pcie_link_gen_max = 5;
  g.ecc_uncorrected = 0;
  g.gpm_tensor_activity_pct = 88.5;
  return g;
}

// ---- CSV schema -------------------------------------------------------------------------------

TEST(MetricsCsv, HeaderIsTheDocumentedSchema) {
  const std::vector<std::string> expected = {"timestamp_utc",
                                             "elapsed_s",
                                             "host",
                                             "gpu_index",
                                             "gpu_uuid",
                                             "gpu_name",
                                             "gpu_util_pct",
                                             "mem_util_pct",
                                             "mem_used_mib",
                                             "mem_total_mib",
                                             "power_w",
                                             "power_instant_w",
                                             "energy_j",
                                             "temperature_c",
                                             "sm_clock_mhz",
                                             "mem_clock_mhz",
                                             "throttle_reasons",
                                             "throttle_mask",
                                             "pcie_tx_mib_per_s",
                                             "pcie_rx_mib_per_s",
                                             "pcie_link_gen",
                                             "pcie_link_gen_max",
                                             "pcie_link_width",
                                             "pcie_link_width_max",
                                             "ecc_corrected",
                                             "ecc_uncorrected",
                                             "xid_count",
                                             "xid_last",
                                             "nvlink_replay_errors",
                                             "nvlink_recovery_errors",
                                             "nvlink_crc_errors",
                                             "remapped_rows_correctable",
                                             "remapped_rows_uncorrectable",
                                             "remap_pending",
                                             "remap_failure",
                                             "gpm_sm_activity_pct",
                                             "gpm_sm_occupancy_pct",
                                             "gpm_tensor_activity_pct",
                                             "gpm_dram_bw_util_pct",
                                             "gpm_pcie_tx_mib_per_s",
                                             "gpm_pcie_rx_mib_per_s",
                                             "gpm_nvlink_tx_mib_per_s",
                                             "gpm_nvlink_rx_mib_per_s",
                                             "host_cpu_util_pct",
                                             "host_mem_used_mib",
                                             "host_mem_total_mib"};
  const std::string header = metrics_csv_header();
  ASSERT_FALSE(header.empty());
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(split_csv_line(header.substr(0, header.size() - 1)), expected);
  for (const auto& c : metrics_csv_columns()) EXPECT_FALSE(c.meaning.empty()) << c.name;
}

TEST(MetricsCsv, OneRowPerGpuWithEmptyCellsForMissingValues) {
  Tick t;
  t.timestamp_utc = "2026-11-25T12:00:00.000Z";
  t.elapsed_s = 1.5;
  t.host = "node01";
  t.host_sample.cpu_util_pct = 12.34;
  t.host_sample.mem_used_mib = 2048;
  t.host_sample.mem_total_mib = 4096;
  t.gpus.push_back(full_gpu_sample());
  GpuSample bare;
  bare.index = 2;
  t.gpus.push_back(bare);
  const auto lines = lines_of(metrics_csv_rows(t));
  ASSERT_EQ(lines.size(), 2u);
  const size_t width = metrics_csv_columns().size();
  const auto full = split_csv_line(lines[0]);
  const auto empty = split_csv_line(lines[1]);
  ASSERT_EQ(full.size(), width);
  ASSERT_EQ(empty.size(), width);
  EXPECT_EQ(full[column_index("gpu_name")], "NVIDIA H200, test");  // quoted, comma kept
  EXPECT_EQ(full[column_index("elapsed_s")], "1.500");
  EXPECT_EQ(full[column_index("gpu_util_pct")], "97");
  EXPECT_EQ(full[column_index("power_w")], "650.250");
  EXPECT_EQ(full[column_index("energy_j")], "1234.500");
  EXPECT_EQ(full[column_index("throttle_reasons")], "sw_power_cap|sw_thermal_slowdown");
  EXPECT_EQ(full[column_index("throttle_mask")], "0x24");
  EXPECT_EQ(full[column_index("ecc_uncorrected")], "0");  // zero is a value, not a gap
  EXPECT_EQ(full[column_index("gpm_tensor_activity_pct")], "88.50");
  EXPECT_EQ(full[column_index("gpm_dram_bw_util_pct")], "");
  EXPECT_EQ(full[column_index("host_cpu_util_pct")], "12.3");
  EXPECT_EQ(empty[column_index("gpu_index")], "2");
  for (const char* c : {"gpu_util_pct", "power_w", "energy_j", "throttle_reasons", "xid_count"}) {
    EXPECT_EQ(empty[column_index(c)], "") << c;
  }
  EXPECT_EQ(empty[column_index("host_mem_total_mib")], "4096");
}

TEST(MetricsCsv, WithoutGpuOneHostRowPerSample) {
  Tick t;
  t.timestamp_utc = "2026-11-25T12:00:00.000Z";
  t.host = "cpu-only";
  t.host_sample.mem_total_mib = 100;
  const auto lines = lines_of(metrics_csv_rows(t));
  ASSERT_EQ(lines.size(), 1u);
  const auto cells = split_csv_line(lines[0]);
  ASSERT_EQ(cells.size(), metrics_csv_columns().size());
  EXPECT_EQ(cells[column_index("gpu_index")], "");
  EXPECT_EQ(cells[column_index("host")], "cpu-only");
  EXPECT_EQ(cells[column_index("host_mem_total_mib")], "100");
}

TEST(MetricsCsv, WriterPutsHeaderFirstAndEveryRowOnDiskAtOnce) {
  const fs::path dir = temp_dir("csv");
  const fs::path path = dir / "sub" / "gpu_metrics.csv";
  MetricsCsvWriter w(path);
  EXPECT_EQ(slurp(path), metrics_csv_header());  // before any sample
  Tick t;
  t.timestamp_utc = "x";
  t.gpus.push_back(full_gpu_sample());
  w.write(t);
  const std::string after_one = slurp(path);  // read back without closing the writer
  EXPECT_EQ(after_one, metrics_csv_header() + metrics_csv_rows(t));
  w.write(t);
  EXPECT_EQ(lines_of(slurp(path)).size(), 3u);
  fs::remove_all(dir);
}

TEST(MetricsCsv, WriterReportsAnUnwritablePath) {
  try {
    MetricsCsvWriter w("/proc/sxb_no_such_dir/gpu_metrics.csv");
    FAIL() << "opened an unwritable path";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("gpu_metrics.csv"), std::string::npos);
  }
}

// A disk that fills part-way through a sample: the writer passes `budget` bytes on, cutting a
// write short at the budget, then fails with ENOSPC. The file must end with a whole row.
struct FillingDisk {
  size_t budget;
  ssize_t operator()(int fd, const void* data, size_t size) {
    if (budget == 0) {
      errno = ENOSPC;
      return -1;
    }
    const size_t n = std::min(size, budget);
    const ssize_t written = ::write(fd, data, n);
    if (written > 0) budget -= static_cast<size_t>(written);
    return written;
  }
};

TEST(MetricsCsv, AWriteThatFailsPartWayLeavesWholeRowsOnly) {
  const fs::path dir = temp_dir("csv_full");
  const fs::path path = dir / "gpu_metrics.csv";
  Tick t;
  t.timestamp_utc = "x";
  t.gpus.push_back(full_gpu_sample());
  t.gpus.push_back(full_gpu_sample());
  const std::string header = metrics_csv_header();
  const std::string rows = metrics_csv_rows(t);
  // Room for the header, one sample and half of the next sample's first row.
  auto disk = std::make_shared<FillingDisk>(FillingDisk{header.size() + rows.size() + rows.size() / 4});
  MetricsCsvWriter w(path, [disk](int fd, const void* d, size_t n) { return (*disk)(fd, d, n); });
  w.write(t);
  try {
    w.write(t);
    FAIL() << "a full disk was not reported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::runtime);
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("gpu_metrics.csv"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(path), header + rows);  // the half-written sample is gone
  // The header itself is never left half written either.
  const fs::path second = dir / "second.csv";
  try {
    MetricsCsvWriter h(second, FillingDisk{header.size() / 2});
    FAIL() << "a full disk was not reported";
  } catch (const Error&) {
  }
  EXPECT_EQ(slurp(second), "");
  fs::remove_all(dir);
}

TEST(MetricsCsv, AppendedRowsAreWholeOrAbsent) {
  const fs::path dir = temp_dir("csv_append");
  const fs::path path = dir / "gpu_metrics.csv";
  { MetricsCsvWriter w(path); }
  const std::string rows = "a,b\nc,d\n";
  EXPECT_THROW(append_csv_rows(path, rows, FillingDisk{5}), Error);
  EXPECT_EQ(slurp(path), metrics_csv_header());
  append_csv_rows(path, rows);
  EXPECT_EQ(slurp(path), metrics_csv_header() + rows);
  fs::remove_all(dir);
}

// ---- throttle reasons ---------------------------------------------------------------------

TEST(ThrottleReasons, EachNvmlBitHasItsName) {
  const std::vector<std::pair<uint64_t, std::string>> table = {
      {0x1, "gpu_idle"},
      {0x2, "applications_clocks_setting"},
      {0x4, "sw_power_cap"},
      {0x8, "hw_slowdown"},
      {0x10, "sync_boost"},
      {0x20, "sw_thermal_slowdown"},
      {0x40, "hw_thermal_slowdown"},
      {0x80, "hw_power_brake_slowdown"},
      {0x100, "display_clock_setting"},
  };
  ASSERT_EQ(throttle_reasons().size(), table.size());
  for (const auto& [bit, name] : table) {
    EXPECT_EQ(decode_throttle_reasons(bit), std::vector<std::string>{name}) << std::hex << bit;
    EXPECT_EQ(throttle_reasons_text(bit), name);
  }
}

TEST(ThrottleReasons, MasksDecodeInBitOrderAndUnknownBitsStayVisible) {
  EXPECT_TRUE(decode_throttle_reasons(0).empty());
  EXPECT_EQ(throttle_reasons_text(0), "");
  EXPECT_EQ(throttle_reasons_text(0x4 | 0x40 | 0x1), "gpu_idle|sw_power_cap|hw_thermal_slowdown");
  EXPECT_EQ(throttle_reasons_text(0x8 | 0x400), "hw_slowdown|unknown_0x400");
  EXPECT_EQ(throttle_reasons_text(uint64_t{1} << 63), "unknown_0x8000000000000000");
}

TEST(ThrottleReasons, IdleAloneIsNotThrottling) {
  EXPECT_FALSE(is_throttled(0));
  EXPECT_FALSE(is_throttled(0x1));
  EXPECT_TRUE(is_throttled(0x4));
  EXPECT_TRUE(is_throttled(0x1 | 0x80));
  EXPECT_TRUE(is_throttled(0x1000));
}

// ---- summary math -----------------------------------------------------------------------------

Tick tick_at(double t, std::optional<double> power_w, std::optional<double> energy_j,
             std::optional<double> util, std::optional<uint64_t> mask) {
  Tick k;
  k.elapsed_s = t;
  GpuSample g;
  g.index = 0;
  g.uuid = "GPU-a";
  g.name = "test";
  g.power_w = power_w;
  g.energy_j = energy_j;
  g.gpu_util_pct = util;
  g.throttle_mask = mask;
  g.temperature_c = 40 + t;
  k.gpus.push_back(g);
  return k;
}

TEST(MetricsSummary, EnergyFromCounterAndTrapezoidIntegral) {
  MetricsSummary s;
  s.add(tick_at(0.0, 100, 1000, 50, 0x1));
  s.add(tick_at(1.0, 200, 1150, 100, 0x4));
  s.add(tick_at(2.0, 300, 1400, 100, 0x4 | 0x20));
  s.add(tick_at(4.0, 300, 2000, 90, 0x0));
  const auto j = s.to_json();
  ASSERT_EQ(j["gpus"].size(), 1u);
  const auto& g = j["gpus"][0];
  EXPECT_EQ(j["samples"], 4);
  EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 4.0);
  // 0.5*(100+200)*1 + 0.5*(200+300)*1 + 0.5*(300+300)*2 = 150 + 250 + 600
  EXPECT_DOUBLE_EQ(g["energy"]["power_integral_j"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(g["energy"]["counter_j"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(g["energy"]["counter_span_s"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(g["energy"]["mean_power_from_counter_w"].get<double>(), 250.0);
  EXPECT_DOUBLE_EQ(g["energy"]["integral_vs_counter_pct"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(g["utilization_gpu_pct"]["mean"].get<double>(), 85.0);
  EXPECT_DOUBLE_EQ(g["utilization_gpu_pct"]["max"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(g["power_w"]["mean"].get<double>(), 225.0);
  EXPECT_DOUBLE_EQ(g["power_w"]["max"].get<double>(), 300.0);
  EXPECT_DOUBLE_EQ(g["temperature_c"]["max"].get<double>(), 44.0);
  EXPECT_DOUBLE_EQ(g["throttle"]["throttled_share"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(g["throttle"]["reason_share"]["sw_power_cap"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(g["throttle"]["reason_share"]["sw_thermal_slowdown"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(g["throttle"]["reason_share"]["gpu_idle"].get<double>(), 0.25);
}

TEST(MetricsSummary, GapsAreNeitherBridgedNorInvented) {
  MetricsSummary s;
  s.add(tick_at(0.0, 100, std::nullopt, std::nullopt, std::nullopt));
  s.add(tick_at(1.0, 100, std::nullopt, std::nullopt, std::nullopt));
  s.add(tick_at(2.0, std::nullopt, std::nullopt, std::nullopt, std::nullopt));
  s.add(tick_at(3.0, 500, std::nullopt, std::nullopt, std::nullopt));
  s.add(tick_at(4.0, 500, std::nullopt, std::nullopt, std::nullopt));
  const auto g = s.to_json()["gpus"][0];
  // 100 W for 1 s, the gap from 1 s to 3 s left out, 500 W for 1 s.
  EXPECT_DOUBLE_EQ(g["energy"]["power_integral_j"].get<double>(), 600.0);
  EXPECT_TRUE(g["energy"]["counter_j"].is_null());
  EXPECT_TRUE(g["energy"]["integral_vs_counter_pct"].is_null());
  EXPECT_TRUE(g["utilization_gpu_pct"]["mean"].is_null());
  EXPECT_EQ(g["utilization_gpu_pct"]["samples"], 0);
  EXPECT_TRUE(g["throttle"]["throttled_share"].is_null());
  EXPECT_TRUE(g["health"]["xid_events"].is_null());
  EXPECT_TRUE(g["health"]["pcie_width_downtrained"].is_null());
}

TEST(MetricsSummary, HealthCountersReportChangesDuringTheRun) {
  MetricsSummary s;
  for (int i = 0; i < 3; ++i) {
    Tick k;
    k.elapsed_s = i;
    GpuSample g;
    g.ecc_corrected = 10 + i * 2;
    g.ecc_uncorrected = 1;
    g.nvlink_crc_errors = 5;
    g.xid_count = i;
    if (i > 0) g.xid_last = 79;
    g.pcie_link_gen = i == 0 ? 1 : 5;
    g.pcie_link_gen_max = 5;
    g.pcie_link_width = 8;
    g.pcie_link_width_max = 16;
    g.remapped_rows_correctable = 0;
    g.remapped_rows_uncorrectable = 0;
    g.remap_pending = 0;
    g.remap_failure = 0;
    k.gpus.push_back(g);
    s.add(k);
  }
  const auto h = s.to_json()["gpus"][0]["health"];
  EXPECT_DOUBLE_EQ(h["ecc_corrected_during_run"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(h["ecc_uncorrected_during_run"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(h["ecc_corrected_since_driver_load"].get<double>(), 14.0);
  EXPECT_DOUBLE_EQ(h["nvlink_crc_errors_during_run"].get<double>(), 0.0);
  EXPECT_EQ(h["xid_events"], 2);
  EXPECT_EQ(h["xids_seen"], nlohmann::json::array({79}));
  EXPECT_EQ(h["pcie_width_downtrained"], true);
  EXPECT_EQ(h["pcie_gen_never_at_max"], false);
  EXPECT_EQ(h["remap_pending_seen"], false);
}

// ---- host sampler ---------------------------------------------------------------------------

TEST(HostSampler, ParsesProcStatAndMeminfo) {
  const auto t =
      parse_proc_stat("cpu  100 5 50 800 20 3 2 10 7 0\ncpu0 50 2 25 400 10 1 1 5 3 0\nintr 123\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->busy_ticks, 100u + 5 + 50 + 3 + 2 + 10);  // guest time is inside user
  EXPECT_EQ(t->total_ticks, t->busy_ticks + 800 + 20);
  EXPECT_FALSE(parse_proc_stat("cpu0 1 2 3 4\n"));
  EXPECT_FALSE(parse_proc_stat("cpu  1 x 3 4 5\n"));
  const auto m =
      parse_meminfo("MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:   4000 kB\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->total_kib, 16000u);
  EXPECT_EQ(m->available_kib, 4000u);
  EXPECT_FALSE(parse_meminfo("MemTotal: 10 kB\n"));
  const auto pct = cpu_util_pct({100, 1000}, {175, 1100});
  ASSERT_TRUE(pct);
  EXPECT_DOUBLE_EQ(*pct, 75.0);
  EXPECT_FALSE(cpu_util_pct({100, 1000}, {100, 1000}));
}

TEST(HostSampler, ReadsThisMachine) {
  HostSampler h;
  ::usleep(20000);
  const HostSample s = h.sample();
  ASSERT_TRUE(s.mem_total_mib);
  ASSERT_TRUE(s.mem_used_mib);
  EXPECT_GT(*s.mem_total_mib, 0);
  EXPECT_LE(*s.mem_used_mib, *s.mem_total_mib);
  if (s.cpu_util_pct) {
    EXPECT_GE(*s.cpu_util_pct, 0);
    EXPECT_LE(*s.cpu_util_pct, 100);
  }
}

// ---- sampler ----------------------------------------------------------------------------------

TEST(MetricsSampler, IntervalComesFromMetricsIntervalAndIsChecked) {
  EXPECT_DOUBLE_EQ(metrics_interval_s(EnvConfig::from_string("METRICS_INTERVAL=0.25\n", "t")),
                   0.25);
  EXPECT_DOUBLE_EQ(metrics_interval_s(EnvConfig::from_string("", "t")), 1.0);
  EXPECT_THROW(check_metrics_interval(0.001, "--interval"), Error);
  EXPECT_THROW(check_metrics_interval(-1, "--interval"), Error);
  EXPECT_NO_THROW(check_metrics_interval(0.01, "--interval"));
}

TEST(MetricsSampler, WithoutNvmlRecordsHostColumnsAndSaysWhy) {
  const fs::path dir = temp_dir("sampler");
  SamplerOptions o;
  o.interval_s = 0.02;
  o.csv_path = dir / "gpu_metrics.csv";
  o.nvml_library = "libsxb-no-such-nvml.so.1";
  MetricsSampler sampler(o);
  EXPECT_FALSE(sampler.has_gpu());
  EXPECT_NE(sampler.gpu_note().find("libsxb-no-such-nvml.so.1"), std::string::npos);
  sampler.start();
  ::usleep(150000);
  const MetricsSummary summary = sampler.stop();
  EXPECT_GE(summary.samples, 3u);
  EXPECT_FALSE(summary.gpu_metrics);
  EXPECT_TRUE(summary.gpus.empty());
  const auto lines = lines_of(slurp(o.csv_path));
  ASSERT_EQ(lines.size(), summary.samples + 1);  // header + one host row per sample
  EXPECT_EQ(lines[0] + "\n", metrics_csv_header());
  double previous = -1;
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto cells = split_csv_line(lines[i]);
    ASSERT_EQ(cells.size(), metrics_csv_columns().size());
    EXPECT_FALSE(cells[column_index("host_mem_total_mib")].empty());
    const double t = std::stod(cells[column_index("elapsed_s")]);
    EXPECT_GT(t, previous);
    previous = t;
  }
  const auto j = summary.to_json();
  EXPECT_EQ(j["gpu_metrics"], false);
  EXPECT_FALSE(j["gpu_note"].get<std::string>().empty());
  fs::remove_all(dir);
}

TEST(MetricsSampler, RequireGpuWithoutNvmlIsAnEnvironmentError) {
  SamplerOptions o;
  o.nvml_library = "libsxb-no-such-nvml.so.1";
  o.require_gpu = true;
  try {
    MetricsSampler sampler(o);
    FAIL() << "no error without a GPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::environment);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

// ---- the NVML path, against the scripted stand-in library ---------------------------------

TEST(MetricsSampler, ReadsEveryNvmlSignalThroughTheLoadedLibrary) {
  const fs::path dir = temp_dir("fake_nvml");
  SamplerOptions o;
  o.interval_s = 0.02;
  o.csv_path = dir / "gpu_metrics.csv";
  o.nvml_library = SXB_FAKE_NVML;
  o.require_gpu = true;
  MetricsSampler sampler(o);
  ASSERT_TRUE(sampler.has_gpu()) << sampler.gpu_note();
  sampler.start();
  ::usleep(150000);
  const MetricsSummary s = sampler.stop();
  ASSERT_GE(s.samples, 3u);
  EXPECT_EQ(s.driver_version, "999.1-fake");
  ASSERT_EQ(s.gpus.size(), 2u);
  const auto j = s.to_json();
  EXPECT_EQ(j["capabilities"]["gpm"], false);         // GPU 1 has no GPM
  EXPECT_EQ(j["capabilities"]["xid_events"], false);  // GPU 1 refused registration
  const auto& g0 = j["gpus"][0];
  const auto& g1 = j["gpus"][1];
  const double n = static_cast<double>(s.samples);
  EXPECT_EQ(g0["name"], "Fake H200");
  EXPECT_EQ(g0["uuid"], "GPU-fake-0");
  EXPECT_DOUBLE_EQ(g0["utilization_gpu_pct"]["mean"].get<double>(), 97.0);
  EXPECT_DOUBLE_EQ(g0["power_w"]["mean"].get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(g0["power_instant_w"]["mean"].get<double>(), 510.0);
  EXPECT_DOUBLE_EQ(g0["memory_used_mib"]["max"].get<double>(), 256.0);
  EXPECT_DOUBLE_EQ(g0["sm_clock_mhz"]["max"].get<double>(), 1980.0);
  // The stand-in adds 1 J per read: n reads, n - 1 differences.
  EXPECT_DOUBLE_EQ(g0["energy"]["counter_j"].get<double>(), n - 1);
  EXPECT_DOUBLE_EQ(g1["energy"]["counter_j"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(g0["throttle"]["throttled_share"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(g0["throttle"]["reason_share"]["sw_power_cap"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(g1["throttle"]["throttled_share"].get<double>(), 0.0);
  // GPM values appear from the second sample on (a metric needs two GPM samples).
  EXPECT_EQ(g0["gpm"]["sm_activity_pct"]["samples"].get<size_t>(), s.samples - 1);
  EXPECT_DOUBLE_EQ(g0["gpm"]["sm_activity_pct"]["mean"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(g0["gpm"]["tensor_activity_pct"]["mean"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(g0["gpm"]["dram_bw_util_pct"]["mean"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(g0["gpm"]["nvlink_tx_mib_per_s"]["mean"].get<double>(), 610.0);
  EXPECT_EQ(g1["gpm"]["sm_activity_pct"]["samples"], 0);
  // PCIe: 1 MiB more per sample over ~20 ms, so tens of MiB/s; receive stays at zero.
  EXPECT_GT(g0["pcie_counters"]["tx_mib_per_s"]["min"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(g0["pcie_counters"]["rx_mib_per_s"]["max"].get<double>(), 0.0);
  EXPECT_EQ(g0["health"]["xid_events"], 1);
  EXPECT_EQ(g0["health"]["xids_seen"], nlohmann::json::array({79}));
  EXPECT_TRUE(g1["health"]["xid_events"].is_null());
  EXPECT_TRUE(g0["health"]["nvlink_crc_errors_during_run"].is_null());
  EXPECT_DOUBLE_EQ(g0["health"]["ecc_corrected_since_driver_load"].get<double>(), 2.0);
  EXPECT_EQ(g0["health"]["remapped_rows_correctable"], 1);
  EXPECT_EQ(g0["health"]["pcie_width_downtrained"], false);
  EXPECT_EQ(g1["health"]["pcie_width_downtrained"], true);

  const auto lines = lines_of(slurp(o.csv_path));
  ASSERT_EQ(lines.size(), 1 + 2 * s.samples);
  const auto second_gpu = split_csv_line(lines[2]);
  ASSERT_EQ(second_gpu.size(), metrics_csv_columns().size());
  EXPECT_EQ(second_gpu[column_index("gpu_name")], "Fake, Old GPU");
  EXPECT_EQ(second_gpu[column_index("throttle_reasons")], "gpu_idle");
  EXPECT_EQ(second_gpu[column_index("nvlink_crc_errors")], "");
  const auto first_gpu = split_csv_line(lines[1]);
  EXPECT_EQ(first_gpu[column_index("gpm_sm_activity_pct")], "");  // no previous GPM sample yet
  EXPECT_EQ(first_gpu[column_index("pcie_tx_mib_per_s")], "");    // no previous counter yet
  EXPECT_EQ(first_gpu[column_index("xid_last")], "79");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sxb

namespace sxb {
namespace {

namespace fs = std::filesystem;

TEST(UtcTime, ParsesWholeSecondsAndFractionsOnOneTimeLine) {
  const auto a = parse_utc_iso8601("2026-12-04T21:28:24Z");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->whole_seconds);
  EXPECT_DOUBLE_EQ(a->epoch_s, 1796419704.0);
  const auto b = parse_utc_iso8601("2026-12-04T21:28:24.453Z");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->whole_seconds);
  EXPECT_NEAR(b->epoch_s - a->epoch_s, 0.453, 1e-6);  // a double holds ~0.2 us at this epoch
  EXPECT_EQ(utc_iso8601_ms(std::chrono::system_clock::time_point(std::chrono::milliseconds(
                int64_t(1796419704453)))),
            "2026-12-04T21:28:24.453Z");
  for (const char* bad : {"", "2026-12-04", "2026-12-04T21:28:24", "2026-12-04T21:28:24+01:00",
                          "2026-13-04T21:28:24Z", "2026-12-04T21:28:24.Z", "2026-12-04T21:28:24Zx",
                          "2026-12-04 21:28:24Z", "x026-12-04T21:28:24Z"}) {
    EXPECT_FALSE(parse_utc_iso8601(bad)) << bad;
  }
}

Tick sample_tick(int second, double util, const std::string& host = "node0", int gpus = 2) {
  Tick t;
  t.timestamp_utc = fmt::format("2026-12-04T10:00:{:02}.500Z", second);
  t.elapsed_s = second;
  t.host = host;
  t.host_sample.cpu_util_pct = 12.5;
  t.host_sample.mem_used_mib = 1000;
  t.host_sample.mem_total_mib = 2000;
  for (int g = 0; g < gpus; ++g) {
    GpuSample s;
    s.index = unsigned(g);
    s.uuid = fmt::format("GPU-{}", g);
    s.name = "NVIDIA H200";
    s.gpu_util_pct = util;
    s.power_w = 100 + util * 5;
    s.energy_j = 1000.0 * second;
    s.throttle_mask = 0x4;
    s.pcie_link_gen = 5;
    s.gpm_sm_activity_pct = util * 0.9;
    t.gpus.push_back(s);
  }
  return t;
}

fs::path write_csv(const std::string& name, const std::vector<Tick>& ticks) {
  const fs::path p = fs::temp_directory_path() / fmt::format("sxb_{}_{}.csv", name, ::getpid());
  std::string text = metrics_csv_header();
  for (const auto& t : ticks) text += metrics_csv_rows(t);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

TEST(MetricsCsvReader, ReadsBackWhatTheWriterWrote) {
  std::vector<Tick> ticks = {sample_tick(1, 50), sample_tick(2, 100, "host, \"b\""),
                             sample_tick(3, 0, "node0", 0)};
  const fs::path p = write_csv("roundtrip", ticks);
  std::vector<Tick> back;
  read_metrics_csv(p, [&](const Tick& t) { back.push_back(t); });
  fs::remove(p);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[1].host, "host, \"b\"");
  EXPECT_EQ(back[2].gpus.size(), 0u);  // a host-only row
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back[i].timestamp_utc, ticks[i].timestamp_utc);
    EXPECT_DOUBLE_EQ(back[i].elapsed_s, ticks[i].elapsed_s);
    EXPECT_EQ(metrics_csv_rows(back[i]), metrics_csv_rows(ticks[i])) << i;  // every column
  }
}

TEST(MetricsCsvReader, NamesFileLineAndColumnOfWhatTheWriterCannotHaveWritten) {
  const std::string header = metrics_csv_header();
  const std::string row = metrics_csv_rows(sample_tick(1, 50, "node0", 1));
  struct Case {
    std::string text, expect;
  };
  std::string bad_number = row;
  bad_number.replace(bad_number.find(",50,"), 4, ",5x,");
  const Case cases[] = {
      {"", "empty file"},
      {"timestamp_utc,bogus\n", "line 1: unknown column 'bogus'"},
      {header + "a,b\n", "line 2: 2 cells"},
      {header + bad_number, "line 2: column gpu_util_pct: '5x'"},
      {header + row.substr(0, row.size() - 1), "line 2: incomplete last line"},
  };
  for (const auto& c : cases) {
    const fs::path p = fs::temp_directory_path() / fmt::format("sxb_badcsv_{}.csv", ::getpid());
    std::ofstream(p, std::ios::binary) << c.text;
    try {
      read_metrics_csv(p, [](const Tick&) {});
      ADD_FAILURE() << "accepted: " << c.expect;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(c.expect), std::string::npos) << what;
      EXPECT_NE(what.find(p.filename().string()), std::string::npos) << what;
    }
    fs::remove(p);
  }
}

TEST(MetricsWindows, ASampleCountsWhenItsWholeIntervalLiesInsideTheWindow) {
  // One sample per second at hh:mm:SS.500, GPU utilisation 10 x the second.
  std::vector<Tick> ticks;
  for (int s = 0; s < 10; ++s) ticks.push_back(sample_tick(s, 10.0 * s));
  const fs::path p = write_csv("windows", ticks);
  const std::vector<MetricsWindow> windows = {
      // Millisecond times: samples at 3.5 (interval [2.5, 3.5]) through 6.5.
      {"training", "2026-12-04T10:00:02.400Z", "2026-12-04T10:00:06.600Z", "test"},
      // Whole seconds: the start counts from 03 + 1 s, so the first sample is 5.5; end 07.
      {"sft", "2026-12-04T10:00:03Z", "2026-12-04T10:00:07Z", "test"},
      // Shorter than the interval: no sample, and a note saying why.
      {"nccl", "2026-12-04T10:00:08.000Z", "2026-12-04T10:00:08.900Z", "test"}};
  const auto j = summarize_windows(p, windows, 1.0);
  fs::remove(p);
  ASSERT_EQ(j["windows"].size(), 3u);
  const auto& training = j["windows"][0];
  EXPECT_EQ(training["samples"], 4);
  ASSERT_EQ(training["gpus"].size(), 2u);
  EXPECT_EQ(training["gpus"][0]["host"], "node0");
  EXPECT_DOUBLE_EQ(training["gpus"][0]["utilization_gpu_pct"]["mean"].get<double>(), 45.0);
  EXPECT_DOUBLE_EQ(training["gpus"][1]["gpm"]["sm_activity_pct"]["mean"].get<double>(), 40.5);
  // Energy over the window: the counter from the first to the last sample inside it.
  EXPECT_DOUBLE_EQ(training["gpus"][0]["energy"]["counter_j"].get<double>(), 3000.0);
  const auto& sft = j["windows"][1];
  EXPECT_EQ(sft["samples"], 2);
  EXPECT_DOUBLE_EQ(sft["gpus"][0]["utilization_gpu_pct"]["mean"].get<double>(), 55.0);
  const auto& nccl = j["windows"][2];
  EXPECT_EQ(nccl["samples"], 0);
  EXPECT_TRUE(nccl["gpus"].empty());
  EXPECT_NE(nccl["note"].get<std::string>().find("sampling interval"), std::string::npos);
}

TEST(MetricsWindows, WindowsComeFromRunPhasesAndTheTimedSteps) {
  const nlohmann::json run = {
      {"phases",
       {{{"name", "nccl"}, {"started_utc", "2026-12-04T10:00:00.000Z"},
         {"finished_utc", "2026-12-04T10:00:02.000Z"}},
        {{"name", "sft"}, {"started_utc", "2026-12-04T10:00:02.000Z"}}}}};  // still running
  const nlohmann::json sft = {
      {"measured_window_utc",
       {{"started", "2026-12-04T10:00:03.000Z"}, {"finished", "2026-12-04T10:00:09.000Z"}}}};
  const auto w = run_windows(run, sft);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].name, "nccl");
  EXPECT_EQ(w[0].source, "run.json /phases/0");
  EXPECT_EQ(w[1].name, kTrainingWindow);
  EXPECT_TRUE(run_windows(nullptr, nullptr).empty());
  nlohmann::json broken = sft;
  broken["measured_window_utc"]["finished"] = "yesterday";
  try {
    run_windows(run, broken);
    ADD_FAILURE() << "accepted a time that does not parse";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'yesterday'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sxb
