#pragma once
// Throughput arithmetic of sft_metrics.json (SPEC section 4) and the host facts it records. The
// FLOP counts it reports are model/flops.hpp's.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/stats.hpp"  // quantile() of the step times these figures summarize

namespace sxb {

// Host facts for the CPU device.
std::string host_cpu_model_name();                   // /proc/cpuinfo "model name", or "unknown CPU"
std::optional<uint64_t> host_mem_available_bytes();  // /proc/meminfo MemAvailable
uint64_t peak_rss_bytes();                           // getrusage ru_maxrss of this process

}  // namespace sxb
