#pragma once
// The micro-benchmarks of `sxbench compute`, as a registry of named tests (nvbandwidth style):
// each entry has a name, a one-line description, the GPUs it needs, how its figures are measured,
// and its run function. `--list` prints the table; `--tests` picks entries by name. Adding a test
// is one function plus one entry in compute_tests.cpp.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/gemm_shapes.hpp"
#include "core/compute_results.hpp"
#include "core/hardware.hpp"

namespace sxb {

struct ComputeOptions {
  // gemm
  std::vector<GemmDtype> dtypes;
  GemmLayout layout = GemmLayout::tn;  // fp8 always runs tn (Hopper's fp8 kernels need it)
  std::vector<GemmShape> shapes;
  int gemm_warmup_iters = 10;
  int gemm_iters = 50;
  int max_algos = 4;
  uint64_t workspace_bytes = 64ull << 20;
  double rotate_l2_multiple = 4;  // input sets together exceed this many L2 sizes
  bool fp8_fast_accum = true;
  bool check = true;
  int64_t check_m = 384, check_n = 640, check_k = 512;
  // bandwidth
  int bw_warmup_iters = 3;
  int bw_iters = 20;
  uint64_t hbm_bytes = 4ull << 30;
  uint64_t host_bytes = 256ull << 20;
  uint64_t p2p_bytes = 256ull << 20;
  uint64_t chase_bytes = 256ull << 20;
  int chase_loads = 20000;
  // attention (commands/compute_attention.hpp)
  std::vector<AttentionBenchShape> attention_shapes;
  int attention_warmup_iters = 5;
  int attention_iters = 20;
};

// What a test's run function works on.
struct ComputeRun {
  const ComputeOptions& options;
  std::vector<int> devices;                        // the GPUs chosen, CUDA indices
  std::vector<ComputeDevice> all_devices;          // indexed by CUDA index
  std::vector<std::optional<HardwareSpec>> specs;  // datasheet per CUDA index, if matched
  std::vector<GpuPairLink> links;                  // classified pairs (both orders)
  ComputeReport& report;
  std::function<void(const std::string&)> print;  // one line of live output
  std::function<void()> checkpoint;               // writes compute.json as it stands
  std::vector<std::string> errors;                // failures that let the other parts go on

  std::optional<double> spec_value(int device, const std::string& key) const;
  const GpuPairLink* link(int a, int b) const;
};

struct ComputeTestSpec {
  std::string_view name;
  std::string_view description;
  int min_gpus;
  std::string_view method;  // copied into compute.json's methods
  void (*run)(ComputeRun& run);
};

// The tests of this layer. `sxbench compute` adds the attention test (which runs the training
// engine's kernels, a layer above) after them; the lookups below take the registry they search.
const std::vector<ComputeTestSpec>& compute_tests();
const ComputeTestSpec& find_compute_test(const std::vector<ComputeTestSpec>& registry,
                                         std::string_view name);  // sxb::Error listing names
// "all" or a comma-separated list -> specs in the registry's order, duplicates removed.
std::vector<const ComputeTestSpec*> parse_compute_test_list(
    const std::vector<ComputeTestSpec>& registry, std::string_view list);

// GPU list: "all" (every visible GPU) or comma-separated CUDA indices below `visible`.
std::vector<int> parse_device_list(std::string_view list, int visible);

}  // namespace sxb
