#pragma once
// gpu_metrics_summary.json: per-GPU aggregates of the samples, built incrementally (a long run
// keeps no sample history in memory). Shares are shares of samples, which equal shares of time
// because samples are evenly spaced; energy comes from the driver's counter, and the trapezoid
// integral of sampled power is reported next to it as a cross-check.
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "monitor/samples.hpp"

namespace sxb {

struct Stat {
  size_t count = 0;
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  void add(const std::optional<double>& v);
  std::optional<double> mean() const;
  nlohmann::json to_json() const;  // {"mean","min","max","samples"}; nulls when count == 0
};

// First and last value of a counter over the run.
struct CounterSpan {
  std::optional<double> first, last;
  void add(const std::optional<double>& v);
  std::optional<double> delta() const;
};

struct GpuSummary {
  unsigned int index = 0;
  std::string uuid, name;
  size_t samples = 0;
  Stat gpu_util_pct, mem_util_pct, mem_used_mib, power_w, power_instant_w, temperature_c,
      sm_clock_mhz, mem_clock_mhz, pcie_tx_mib_per_s, pcie_rx_mib_per_s;
  Stat gpm_sm_activity_pct, gpm_sm_occupancy_pct, gpm_tensor_activity_pct, gpm_dram_bw_util_pct,
      gpm_pcie_tx_mib_per_s, gpm_pcie_rx_mib_per_s, gpm_nvlink_tx_mib_per_s,
      gpm_nvlink_rx_mib_per_s;
  // Energy: counter difference between the first and last sample that had it, over elapsed time.
  CounterSpan energy_j, energy_elapsed_s;
  // Trapezoid integral of power_w over consecutive samples that both had power.
  double power_integral_j = 0;
  std::optional<double> power_integral_first_s, power_integral_last_s;
  std::optional<std::pair<double, double>> previous_power;  // (elapsed_s, W)
  size_t throttle_samples = 0;                              // samples with a reason mask
  size_t throttled_samples = 0;  // ... in which a reason other than gpu_idle was active
  std::map<std::string, size_t> reason_samples;
  CounterSpan ecc_corrected, ecc_uncorrected, nvlink_replay_errors, nvlink_recovery_errors,
      nvlink_crc_errors;
  std::optional<uint64_t> xid_count;
  std::set<uint64_t> xids_seen;
  Stat pcie_link_gen, pcie_link_width;
  std::optional<unsigned int> pcie_link_gen_max, pcie_link_width_max;
  std::optional<unsigned int> remapped_rows_correctable, remapped_rows_uncorrectable;
  bool remap_pending_seen = false, remap_failure_seen = false;

  void add(double elapsed_s, const GpuSample& s);
  nlohmann::json to_json() const;
};

struct MetricsSummary {
  std::string tool_version = SXB_VERSION;
  std::string started_utc, finished_utc, host;
  double interval_s = 0;
  bool gpu_metrics = false;  // NVML answered with at least one GPU
  std::string gpu_note;      // why not, when gpu_metrics is false
  std::string driver_version;
  std::vector<std::pair<std::string, bool>> capabilities;
  size_t samples = 0;
  std::optional<double> first_elapsed_s, last_elapsed_s;
  Stat host_cpu_util_pct, host_mem_used_mib;
  std::vector<GpuSummary> gpus;
  nlohmann::json extra;  // what the caller adds (command, exit code)

  void add(const Tick& tick);
  nlohmann::json to_json() const;
};

}  // namespace sxb
