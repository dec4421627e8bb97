#pragma once
// Training with the CUDA engine, one GPU per process: the same loop, batch plan, data order,
// loss objective and step records as the CPU reference trainer (train/trainer.hpp), with bf16
// compute, fp32 master weights and AdamW state, bf16 or fp32 gradients. Several ranks train data
// parallel with full replicas (ZeRO stage 0): gradients are summed over ranks through a
// Communicator as the backward finishes each parameter unit (train/gpu_exchange.hpp). Declared
// in every build; defined in CUDA builds only (callers check built_with_cuda() first).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dist/communicator.hpp"
#include "train/gpu_memory.hpp"
#include "train/trainer.hpp"

namespace sxb {

struct GpuTrainSettings {
  // auto: full when the ds_config asks for activation checkpointing, otherwise the lightest
  // mode whose memory plan fits the GPU; or none | selective | full.
  std::string recompute = "auto";
  // Gradient storage: auto (bf16 without gradient accumulation, fp32 with it), fp32 or bf16.
  std::string grad_dtype = "auto";
  int device = 0;
  // Gradient exchange over the job's ranks (required with more than one rank; with one rank it
  // runs anyway and measures its own cost). Gradients are then fp32.
  Communicator* comm = nullptr;
  // Time every operation of the last step by category with CUDA events (GpuTrainReport.profile).
  bool profile = false;
};

struct GpuTrainReport {
  TrainRun run;
  std::string device_name;
  int device_index = 0;
  uint64_t device_total_bytes = 0;
  uint64_t device_free_before_bytes = 0;  // cudaMemGetInfo before the engine allocated
  uint64_t device_used_peak_bytes = 0;    // total - min(free) seen after allocation and steps
  Recompute recompute = Recompute::none;
  std::string recompute_reason;
  GradStorage grads = GradStorage::fp32;
  std::string grads_reason;
  GpuMemoryPlan plan;
  std::vector<double> compute_ms;    // per step: forward + backward of every micro-batch
  std::vector<double> optimizer_ms;  // per step: norm, clipping, AdamW
  std::string cuda_runtime, cuda_driver, cublaslt;
  double init_seconds = 0;                   // allocation and weight initialisation
  std::map<std::string, double> profile_ms;  // last step, per category (settings.profile)
  std::string exchange_method;               // empty without a communicator
};

// Parses --recompute; throws a usage error naming the value otherwise.
std::string check_recompute_setting(const std::string& value);

// Parses --grad-dtype; throws a usage error naming the value otherwise.
std::string check_grad_dtype_setting(const std::string& value);

// Runs o.steps optimizer steps on the GPU. With job.world_size() > 1, s.comm must span the same
// ranks. Throws sxb::Error with the memory plan's numbers when the job cannot fit, before
// allocating.
GpuTrainReport train_gpu(const TrainOptions& o, GradientReducer& job, const GpuTrainSettings& s);

}  // namespace sxb
