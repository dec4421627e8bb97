#pragma once
// Training with the CUDA engine, one GPU per process: the same loop, batch plan, data order,
// loss objective and step records as the CPU reference trainer (train/trainer.hpp), with bf16
// compute, fp32 master weights and AdamW state, bf16 or fp32 gradients. Several ranks train data
// parallel at the ds_config's ZeRO stage 0-3 (the table in train/zero.hpp): each parameter
// unit's gradients are summed over the ranks through a Communicator as the backward finishes the
// unit (train/gpu_exchange.hpp). Declared in every build; defined in CUDA builds only (callers
// check built_with_cuda() first).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "perfmodel/gpu_memory.hpp"
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

// What choose_gpu_memory (below) decides for a job.
struct GpuMemoryChoice {
  Recompute recompute = Recompute::none;
  std::string recompute_reason;
  GradStorage grads = GradStorage::fp32;
  std::string grads_reason;
  GpuMemoryPlan plan;
  MemoryVerdict verdict;
  bool auto_found_none = false;  // auto and not even full recomputation fits
};

struct GpuTrainReport {
  TrainRun run;
  std::string device_name;
  int device_index = 0;
  uint64_t device_total_bytes = 0;
  uint64_t device_free_before_bytes = 0;  // cudaMemGetInfo before the engine allocated
  uint64_t device_used_peak_bytes = 0;    // total - min(free) seen after allocation and steps
  // Recomputation, gradient storage, plan and its verdict against the free memory measured
  // before allocation.
  GpuMemoryChoice memory;
  std::vector<double> compute_ms;    // per step: forward + backward of every micro-batch
  std::vector<double> optimizer_ms;  // per step: end of the backward to the end of AdamW
  bool overlap_optimizer = false;    // AdamW overlapped the next step's forward
  bool norm_in_backward = false;     // the gradient norm was summed during the backward
  std::string cuda_runtime, cuda_driver, cublaslt;
  double init_seconds = 0;                   // allocation and weight initialisation
  std::map<std::string, double> profile_ms;  // last step, per category (settings.profile)
  std::string exchange_method;               // empty without a communicator
  int zero_stage = 0;                        // applied: 0, or the ds_config's with several ranks
};

// Parses --recompute; throws a usage error naming the value otherwise.
std::string check_recompute_setting(const std::string& value);

// Parses --grad-dtype; throws a usage error naming the value otherwise.
std::string check_grad_dtype_setting(const std::string& value);

// Gradient storage for a --grad-dtype setting (auto | fp32 | bf16): auto is bf16 with one
// micro-batch per step and no gradient exchange, fp32 otherwise (micro-batches are summed; an
// exchange between ranks sums fp32 gradients). `exchange`: gradients are summed over ranks (more
// than one rank, or an explicit --comm-backend). Throws a usage error for bf16 with accumulation
// or an exchange.
GradStorage resolve_grad_storage(const std::string& setting, int64_t accumulation_steps,
                                 bool exchange, std::string* reason);

// Recomputation, gradient storage, plan and verdict of a job, decided as the engine decides them
// (`exchange` as for resolve_grad_storage): an explicit --recompute; `auto` with the ds_config's
// activation checkpointing: full; `auto` otherwise: the lightest mode whose plan fits `capacity`
// (full, not fitting, when none does). The caller refuses the job when !verdict.fits.
GpuMemoryChoice choose_gpu_memory(const ModelConfig& m, int64_t micro_batch, int64_t seq_len,
                                  int64_t accumulation_steps, bool ds_activation_checkpointing,
                                  const std::string& recompute_setting,
                                  const std::string& grad_setting, bool exchange,
                                  const ZeroLayout& zero, const GpuCapacity& capacity,
                                  uint64_t workspace_bytes = kCublasLtWorkspaceBytes);

// Runs o.steps optimizer steps on the GPU. With job.world_size() > 1, s.comm must span the same
// ranks. Throws sxb::Error with the memory plan's numbers when the job cannot fit, before
// allocating.
GpuTrainReport train_gpu(const TrainOptions& o, GradientReducer& job, const GpuTrainSettings& s);

}  // namespace sxb
