#pragma once
// `sxbench train --plan-only`: the CUDA engine's per-GPU memory plan of a training job, resolved
// as a real run resolves it (model, ds_config, micro-batch, sequence length, recomputation,
// gradient storage), for the job's world size and optionally for several node counts. Allocates
// nothing and needs no GPU: the capacity comes from configs/hardware or --gpu-memory-gib.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands/train_job.hpp"

namespace sxb {

struct TrainPlanOptions {
  std::string nodes;          // "1,2,4,8"; empty: the launch's own world
  int gpus_per_node = 8;
  bool gpu_memory_set = false;  // --gpu-memory-gib given: the memory of one GPU in GiB,
  double gpu_memory_gib = 0;    // instead of configs/hardware
  std::string gpu = "H200";   // configs/hardware match string
};

// Checks the options (usage errors), prints the plan on stdout when `print`, writes
// out_dir/plan.json (atomically) when out_dir is not empty, and returns that JSON. The job's
// world: the first node count x gpus_per_node with --nodes, else `launch_world`. Throws an
// environment error (exit 4) with the verdict when the job's own configuration does not fit,
// after printing and writing.
nlohmann::json run_train_plan(const TrainJob& job, const TrainPlanOptions& o, int launch_world,
                              const std::filesystem::path& out_dir, bool print);

}  // namespace sxb
