#pragma once
// The collective sweep of `sxbench run`'s nccl phase, as data: commands/run.cpp runs it, and the
// execution plan (report/plan) predicts its duration and describes it from the same figures.
// Sizes go from min_bytes to the mode's largest size, multiplying by size_factor (nccl-tests'
// -b/-e/-f), each size run warmup_iters untimed and iters timed times per placement.
#include <cstdint>
#include <string_view>

namespace sxb {

struct RunSweepDefaults {
  std::string_view collectives;    // a parse_collective_list() argument
  uint64_t min_bytes;              // the first size
  double size_factor;              // each next size is the previous one times this
  std::string_view max_bytes_gpu;  // the last size on GPUs (nccl backend), as --nccl-max-bytes
  std::string_view max_bytes_cpu;  // the last size on CPUs (mpi backend), which move far less
  int warmup_iters;                // untimed iterations per size
  int iters;                       // timed iterations per size
};

// `run --mode full` (and nccl, sft, compute) and `run --mode quick`.
inline constexpr RunSweepDefaults kFullRunSweep{"all", 8, 2, "8G", "16M", 5, 20};
inline constexpr RunSweepDefaults kQuickRunSweep{"all", 8, 2, "256M", "1M", 5, 10};

// The sweep of `run --mode <mode>`.
constexpr const RunSweepDefaults& run_sweep_defaults(std::string_view mode) {
  return mode == "quick" ? kQuickRunSweep : kFullRunSweep;
}

}  // namespace sxb
