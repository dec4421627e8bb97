#pragma once
// GPU ceilings as a building block: `sxbench compute` and the compute phase of `sxbench run`.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench/compute_tests.hpp"

namespace sxb {

// Flags of `sxbench compute` (see docs/compute.md); the defaults are the full measurement.
struct ComputeCliOptions {
  std::string tests = "all";
  bool list = false;
  std::string devices = "all";
  std::string dtypes = "all";
  std::string shapes = "square,llama2";
  int64_t square_min = 1024;
  int64_t square_max = 16384;
  int64_t seq = 4096;
  int64_t micro_batch = 1;
  bool backward = false;
  std::string layout = "tn";
  int gemm_iters = 50;
  int gemm_warmup = 10;
  int algos = 4;
  std::string workspace = "64M";
  double rotate_l2 = 4;
  int fp8_fast_accum = 1;
  int check = 1;
  int bw_iters = 20;
  int bw_warmup = 3;
  std::string hbm_bytes = "4G";
  std::string host_bytes = "256M";
  std::string p2p_bytes = "256M";
  std::string attention_shapes = "default";
  int attention_iters = 20;
  std::string out_dir;
};

// Validates the options, measures the chosen GPUs of this process and writes compute.json into
// out_dir_for() (called once the input is known to be good). Returns 0, or throws sxb::Error
// (environment when there is no CUDA build or GPU; failure when a GEMM check failed).
// bench/'s tests, then the attention test (commands/compute_attention.hpp).
const std::vector<ComputeTestSpec>& all_compute_tests();

int run_compute_job(const ComputeCliOptions& options, const std::vector<std::string>& argv,
                    const std::function<std::filesystem::path()>& out_dir_for);

}  // namespace sxb
