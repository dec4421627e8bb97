#pragma once
// The performance model: from a model's shape, the training setup and hardware figures, predict
// memory per GPU, step time, tokens/s, samples/s and scaling efficiency. Pure functions, no I/O.
// Every input that is not a measurement is an Assumption with its value and reason, and
// predictions list the assumptions they used.
//
// Memory is the CUDA engine's own buffer list (perfmodel/gpu_memory.hpp) plus its reserve and
// the CUDA context. The step time is a sum of categories, each from a ceiling of the node
// (NodeCeilings: the `compute` phase's compute.json, else the datasheet at a stated efficiency):
//   matrix products   every linear layer's forward, backward-input and backward-weight product
//                     (and full recomputation's repeated forward ones) at the bf16 rate measured
//                     at that product's own shape (bench/gemm_shapes.hpp);
//   attention         causal FLOPs (forward 2 d T per token and layer, backward 2.5x) at the
//                     engine's attention kernel efficiency;
//   elementwise       RMSNorm, RoPE, SwiGLU, embedding and the fused loss: bytes moved at the
//                     HBM copy rate;
//   optimizer         AdamW and the gradient norm: bytes per parameter of the shard at the HBM
//                     copy rate;
//   communication     the part of the gradient exchange the backward does not hide.
// The sum is the step: on one GPU the engine's AdamW overlaps the next forward, but both are
// bound by the same HBM and SMs, so the overlap hides little (bench/RESULTS.md, 2026-12-01: 0.0-
// 0.8 %) and the model counts it in full. With a Calibration's achieved rate (projections, the
// plan) the compute categories are replaced by executed FLOPs at that rate.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/compute_results.hpp"
#include "model/flops.hpp"
#include "model/model_shape.hpp"
#include "model/recompute.hpp"

namespace sxb {

struct TrainSetup {
  int zero_stage = 0;       // 0..3
  int64_t micro_batch = 1;  // sequences per GPU per micro-step
  int64_t grad_accum = 1;   // micro-steps per optimizer step
  int64_t seq_len = 4096;
  Recompute recompute = Recompute::none;
};

// Ceilings measured on the node by `sxbench compute` (compute.json), which the step-time
// categories run at. Empty: the datasheet figures of Cluster at the efficiencies below.
struct NodeCeilings {
  struct Gemm {
    int64_t m = 0, n = 0, k = 0;  // C[m,n] = A[m,k] B (bench/gemm_shapes.hpp)
    std::string phase;            // fwd, dgrad, wgrad, "-" for square shapes
    double tflop_per_s = 0;
  };
  std::vector<Gemm> gemm;                   // bf16 products, model shapes and square
  std::optional<double> hbm_copy_gb_per_s;  // copy kernel, read + write counted
  std::string source;                       // where they were measured ("<run>/compute.json")
};
// The bf16 products and the best HBM copy figure of one device of a compute.json (the first
// device that has any when `device` is negative).
NodeCeilings node_ceilings(const ComputeReport& r, int device = -1);

struct Cluster {
  int nodes = 1;
  int gpus_per_node = 8;
  double gpu_memory_bytes = 141e9;
  double peak_bf16_tflops = 989.4;  // dense, per GPU
  double hbm_gb_per_s = 4800;
  double intra_node_busbw_gb_per_s = 0;  // all_reduce busbw inside a node
  double inter_node_busbw_gb_per_s = 0;  // all_reduce busbw across nodes
  NodeCeilings ceilings;                 // measured on this kind of node, when available
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
  // Achieved executed TFLOP/s per GPU from a measured training run: when present the compute
  // categories are replaced by the executed FLOPs at this rate; when absent the step is predicted
  // from the node's ceilings alone (uncalibrated).
  std::optional<double> achieved_tflops_per_gpu;
  std::string achieved_source;
  double comm_overlap_fraction = 0.66;  // share of backward time that can hide communication
};

// The engine's memory per GPU (plan_gpu_memory's buffers, grouped) plus what it does not allocate
// itself (memory_reserve: engine reserve, CUDA context, NCCL), against the datasheet capacity.
struct MemoryPlan {
  double weights_bytes = 0;      // bf16 working copy (sharded in ZeRO-3, plus gathered units)
  double gradients_bytes = 0;    // bf16 on one GPU without accumulation, else fp32 (ZeRO-2 shard)
  double optimizer_bytes = 0;    // low half of the fp32 master + AdamW m and v (ZeRO-1 shard)
  double activations_bytes = 0;  // saved for backward, given recomputation (model/recompute.hpp)
  double logits_bytes = 0;       // output head: bf16 logits, their gradient in place
  double buffers_bytes = 0;      // scratch, cuBLASLt workspace, reserve, CUDA context, NCCL
  double total_bytes = 0;
  double capacity_bytes = 0;
  bool fits = false;
  std::string verdict;  // one line: fits with X GiB free, or exceeds by Y GiB: biggest term
};

// One category of the predicted step.
struct StepCategory {
  std::string name;  // matrix products, attention, elementwise, optimizer, exposed communication,
                     // compute (calibrated)
  double seconds = 0;
  std::string basis;  // what it counts and at which rate
};

struct StepPrediction {
  MemoryPlan memory;
  // The step's categories in order; their seconds add up to step_s.
  std::vector<StepCategory> categories;
  double matmul_flops_per_token = 0;     // executed matrix-product FLOPs (recomputation included)
  double attention_flops_per_token = 0;  // causal, executed
  double flops_per_token = 0;           // PaLM 6N + 12 L d T (model FLOPs, no recompute)
  double executed_flops_per_token = 0;  // plus recompute_flops_per_token (model/flops.hpp)
  double tokens_per_step = 0;           // global
  double matmul_forward_s = 0, matmul_backward_input_s = 0, matmul_backward_weight_s = 0,
         matmul_recompute_s = 0;  // uncalibrated only: the matrix products by pass
  double attention_s = 0, elementwise_s = 0;  // uncalibrated only
  double compute_s = 0;  // matrix products + attention + elementwise (or calibrated compute)
  double comm_s = 0;  // total gradient/parameter communication per step
  double exposed_comm_s = 0;
  double optimizer_s = 0;
  double step_s = 0;
  double tokens_per_s = 0;
  double tokens_per_s_per_gpu = 0;
  double samples_per_s = 0;
  double mfu = 0;  // model FLOPs / (peak x GPUs x time)
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
