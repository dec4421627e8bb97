#pragma once
// One sampling instant: host-level readings plus one reading per GPU. A field is empty
// (std::nullopt) when the GPU, driver or OS did not provide it; the CSV then has an empty cell.
// Values are never estimated or filled in.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sxb {

struct GpuSample {
  unsigned int index = 0;  // NVML device index
  std::string uuid;
  std::string name;
  std::optional<double> gpu_util_pct;  // nvmlDeviceGetUtilizationRates: a kernel ran
  std::optional<double> mem_util_pct;  // same call: memory controller busy
  std::optional<double> mem_used_mib;
  std::optional<double> mem_total_mib;
  std::optional<double> power_w;          // nvmlDeviceGetPowerUsage
  std::optional<double> power_instant_w;  // field NVML_FI_DEV_POWER_INSTANT
  std::optional<double> energy_j;         // nvmlDeviceGetTotalEnergyConsumption, since driver load
  std::optional<double> temperature_c;
  std::optional<double> sm_clock_mhz;
  std::optional<double> mem_clock_mhz;
  std::optional<uint64_t> throttle_mask;    // nvmlClocksEventReason* bits
  std::optional<double> pcie_tx_mib_per_s;  // from the PCIe byte counters, over the last interval
  std::optional<double> pcie_rx_mib_per_s;
  std::optional<unsigned int> pcie_link_gen;
  std::optional<unsigned int> pcie_link_gen_max;
  std::optional<unsigned int> pcie_link_width;
  std::optional<unsigned int> pcie_link_width_max;
  std::optional<uint64_t> ecc_corrected;  // volatile (since driver load), all memories
  std::optional<uint64_t> ecc_uncorrected;
  std::optional<uint64_t> xid_count;             // XID events seen since the sampler started
  std::optional<uint64_t> xid_last;              // the latest XID number seen
  std::optional<uint64_t> nvlink_replay_errors;  // summed over active links, since load
  std::optional<uint64_t> nvlink_recovery_errors;
  std::optional<uint64_t> nvlink_crc_errors;  // flit + data CRC
  std::optional<unsigned int> remapped_rows_correctable;
  std::optional<unsigned int> remapped_rows_uncorrectable;
  std::optional<unsigned int> remap_pending;  // 1: a remap waits for a GPU reset
  std::optional<unsigned int> remap_failure;  // 1: a remap failed
  // NVML GPM (Hopper and newer), computed over the interval since the previous sample.
  std::optional<double> gpm_sm_activity_pct;
  std::optional<double> gpm_sm_occupancy_pct;
  std::optional<double> gpm_tensor_activity_pct;
  std::optional<double> gpm_dram_bw_util_pct;
  std::optional<double> gpm_pcie_tx_mib_per_s;
  std::optional<double> gpm_pcie_rx_mib_per_s;
  std::optional<double> gpm_nvlink_tx_mib_per_s;
  std::optional<double> gpm_nvlink_rx_mib_per_s;
};

struct HostSample {
  std::optional<double> cpu_util_pct;  // all CPUs, since the previous sample, from /proc/stat
  std::optional<double> mem_used_mib;  // MemTotal - MemAvailable, from /proc/meminfo
  std::optional<double> mem_total_mib;
};

struct Tick {
  std::string timestamp_utc;  // ISO-8601 with milliseconds
  double elapsed_s = 0;       // monotonic clock, since the sampler started
  std::string host;
  HostSample host_sample;
  std::vector<GpuSample> gpus;  // empty when no GPU is visible through NVML
};

}  // namespace sxb
