#pragma once
// The device-specific half of a training job (commands/train_job.cpp runs it): each engine
// runner trains on every rank and describes its engine, device, communication, precision, ZeRO
// stage, recomputation and memory in the words sft_metrics.json records them.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "comm/mpi_context.hpp"
#include "commands/train_job.hpp"
#include "train/trainer.hpp"

namespace sxb {

// What the device-specific part of a run contributes to sft_metrics.json.
struct EngineRun {
  TrainRun run;
  std::string engine, device_kind, device_name, device_unit, device_note;
  nlohmann::json communication, precision, zero, recomputation, peak_memory, extra, profile;
  std::optional<double> peak_tflops;  // per device, dense bf16, from configs/hardware
  std::string peak_source, mfu_note, comm_method, timing_method, short_name;
  // How the engine measures each rank's busy time (sft_metrics.json per_rank_method).
  std::string busy_method;
  double executed_flops_per_token = 0;  // model FLOPs plus recomputation
};

// The statistics object of sft_metrics.json over per-step values: {median, p10, p90, mean, min,
// max, count}; null for no values.
nlohmann::json stats_json(const std::vector<double>& v);

// The fp32 CPU reference over the mpi Communicator. per_rank: the host bytes planned per rank
// (cpu_training_bytes), recorded next to the measured peak RSS.
EngineRun run_cpu_engine(TrainJob& job, const MpiContext& mpi, const TrainOptions& topt,
                         uint64_t per_rank);

#ifdef SXB_HAVE_CUDA
// The CUDA engine on this rank's GPU; gradients over nccl, or host-staged over mpi.
EngineRun run_cuda_engine(TrainJob& job, const MpiContext& mpi, const TrainOptions& topt);
#endif

}  // namespace sxb
