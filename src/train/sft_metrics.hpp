#pragma once
// Throughput arithmetic of sft_metrics.json (SPEC section 4) and the host facts it records.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/stats.hpp"  // quantile() of the step times these figures summarize
#include "model/model_config.hpp"

namespace sxb {

// PaLM (Chowdhery et al. 2022, appendix B) model FLOPs per trained token, forward + backward:
//   6 N + 12 L d T,  N = param_count() (all parameters, embedding table and output head
//   included, the same N as the performance model and the PyTorch reference), L layers,
//   d = hidden size, T = sequence length. Recomputation is not counted (model FLOPs, not
//   hardware FLOPs); the attention term is the full T x T product, as in PaLM, not halved for
//   the causal mask.
double palm_flops_per_token(const ModelConfig& m, int64_t seq_len);

// Host facts for the CPU device.
std::string host_cpu_model_name();                   // /proc/cpuinfo "model name", or "unknown CPU"
std::optional<uint64_t> host_mem_available_bytes();  // /proc/meminfo MemAvailable
uint64_t peak_rss_bytes();                           // getrusage ru_maxrss of this process

}  // namespace sxb
