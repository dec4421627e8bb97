#pragma once
// The performance model: from a model's shape, the training setup and hardware figures, predict
// memory per GPU, step time (compute, exposed communication, optimizer), tokens/s, samples/s and
// scaling efficiency. Pure functions, no I/O. Every input that is not a measurement is an
// Assumption with its value and reason, and predictions list the assumptions they used.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/model_shape.hpp"
#include "model/recompute.hpp"

namespace sxb {



struct TrainSetup {
  int zero_stage = 0;        // 0..3
  int64_t micro_batch = 1;   // sequences per GPU per micro-step
  int64_t grad_accum = 1;    // micro-steps per optimizer step
  int64_t seq_len = 4096;
  Recompute recompute = Recompute::none;
};

struct Cluster {
  int nodes = 1;
  int gpus_per_node = 8;
  double gpu_memory_bytes = 141e9;
  double peak_bf16_tflops = 989.4;            // dense, per GPU
  double hbm_gb_per_s = 4800;
  double intra_node_busbw_gb_per_s = 0;       // all_reduce busbw inside a node
  double inter_node_busbw_gb_per_s = 0;       // all_reduce busbw across nodes
  int world() const { return nodes * gpus_per_node; }
};

// A figure the model uses that was not measured in this prediction's inputs.
struct Assumption {
  std::string name;
  double value = 0;
  std::string unit;
  std::string source;  // why this value: datasheet, reference run, rule of thumb with its origin
};

struct Calibration {
  // Achieved model TFLOP/s per GPU (PaLM count, no recompute) from a measured run; when absent an
  // assumed MFU applies.
  std::optional<double> achieved_tflops_per_gpu;
  std::string achieved_source;
  double assumed_mfu = 0.45;  // used only without a measurement
  double comm_overlap_fraction = 0.66;  // share of backward time that can hide communication
};

struct MemoryPlan {
  double weights_bytes = 0;       // bf16 working copy (sharded in ZeRO-3, plus gathered layers)
  double gradients_bytes = 0;     // bf16, or fp32 with accumulation (sharded from ZeRO-2)
  double optimizer_bytes = 0;     // fp32 master + AdamW m and v (sharded from ZeRO-1)
  double activations_bytes = 0;   // saved for backward, given recomputation
  double logits_bytes = 0;        // output head: bf16 logits + fp32 softmax for the loss
  double buffers_bytes = 0;       // communication buckets, workspace, CUDA/NCCL context
  double total_bytes = 0;
  double capacity_bytes = 0;
  bool fits = false;
  std::string verdict;            // one line: fits with X GiB free, or exceeds by Y GiB: biggest term
};

struct StepPrediction {
  MemoryPlan memory;
  double flops_per_token = 0;        // PaLM 6N + 12 L d T (model FLOPs, no recompute)
  double executed_flops_per_token = 0;  // with the recomputation's extra forward work
  double tokens_per_step = 0;        // global
  double compute_s = 0;
  double comm_s = 0;                 // total gradient/parameter communication per step
  double exposed_comm_s = 0;
  double optimizer_s = 0;
  double step_s = 0;
  double tokens_per_s = 0;
  double tokens_per_s_per_gpu = 0;
  double samples_per_s = 0;
  double mfu = 0;                    // model FLOPs / (peak x GPUs x time)
  std::vector<Assumption> assumptions;
};

MemoryPlan plan_memory(const ModelShape& m, const TrainSetup& t, const Cluster& c);
StepPrediction predict_step(const ModelShape& m, const TrainSetup& t, const Cluster& c,
                            const Calibration& cal);
// The lightest recomputation that fits (none, then selective, then full); nullopt when even full
// recomputation does not fit.
std::optional<Recompute> choose_recompute(const ModelShape& m, TrainSetup t, const Cluster& c);

// Default communication figures when no measurement exists, with their sources.
Assumption default_intra_node_busbw(double nvlink_per_direction_gb_per_s);
Assumption default_inter_node_busbw(double nic_gb_per_s_per_port, double ports_per_node);

}  // namespace sxb
