#pragma once
// Host CPU and memory from /proc: what a GPU monitor can still report on a machine without GPUs,
// and what tells a GPU-starved run (data loading, host-side bottleneck) from a GPU-bound one.
#include <cstdint>
#include <optional>
#include <string_view>

#include "monitor/samples.hpp"

namespace sxb {

struct CpuTimes {
  uint64_t busy_ticks = 0;   // user + nice + system + irq + softirq + steal
  uint64_t total_ticks = 0;  // busy + idle + iowait
};
struct HostMemory {
  uint64_t total_kib = 0;
  uint64_t available_kib = 0;
};

// Parse the aggregate "cpu " line of /proc/stat; nullopt when absent or malformed.
std::optional<CpuTimes> parse_proc_stat(std::string_view text);
// MemTotal and MemAvailable of /proc/meminfo; nullopt when either is missing.
std::optional<HostMemory> parse_meminfo(std::string_view text);
// Busy share of the CPU time between two readings, in percent; nullopt when no time passed.
std::optional<double> cpu_util_pct(const CpuTimes& before, const CpuTimes& after);

class HostSampler {
 public:
  HostSampler();  // takes the baseline for the first CPU reading
  HostSample sample();

 private:
  std::optional<CpuTimes> previous_;
};

}  // namespace sxb
