#pragma once
// The host facts sft_metrics.json records for the CPU device. Its FLOP counts are
// model/flops.hpp's and its step-time statistics core/stats.hpp's.
#include <cstdint>
#include <optional>
#include <string>

namespace sxb {

// Host facts for the CPU device.
std::string host_cpu_model_name();                   // /proc/cpuinfo "model name", or "unknown CPU"
std::optional<uint64_t> host_mem_available_bytes();  // /proc/meminfo MemAvailable
uint64_t peak_rss_bytes();                           // getrusage ru_maxrss of this process

}  // namespace sxb
