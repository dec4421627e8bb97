#pragma once
// The benchmark execution plan (`sxbench plan`, docs/benchmark_execution_plan.md): for every
// model and node count the training configuration, its memory fit, the predicted step time,
// throughput, scaling efficiency and run duration, and the ordered schedule of the benchmark
// campaign. Pure functions: the command gathers the inputs (model shapes, ds_configs, hardware
// figures, measured runs) and writes the outputs.
//
// Every figure is a prediction of the performance model (perfmodel/perf_model.hpp). Inputs that
// were measured are MeasuredFigure (with the run directory that measured them); every other input
// is an Assumption (value, unit, source). A prediction never becomes a measurement.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/ds_config.hpp"
#include "perfmodel/perf_model.hpp"

namespace sxb::report {

// A figure the plan took from a measured run: the value, how it was measured and where.
struct MeasuredFigure {
  std::string name;
  double value = 0;
  std::string unit;
  std::string source;   // one line: what was measured, how, and any caveat
  std::string run_dir;  // the run directory it came from
};

// --- Measured inputs (from the aggregated run directories, see report/plan_inputs.hpp) ----------

// A training run (sft_metrics.json).
struct TrainingMeasurement {
  std::string run_dir;
  std::string model;  // as recorded
  int64_t params = 0, layers = 0, hidden = 0;
  int64_t seq_len = 0;
  int nodes = 1, world = 1;
  std::string device_kind;  // "cpu" (reference engine, one rank = one device) or "gpu"
  std::string device_name;
  std::string engine;
  int zero_stage = 0;                  // applied
  bool recompute = false;              // full recomputation applied
  double model_tflops_per_device = 0;  // PaLM model FLOPs / s / device (recompute not counted)
  double exposed_comm_share = 0;       // share of step time in exposed communication
  double tokens_per_s = 0;             // the whole job
  // Mean GPU board power per GPU over the run (gpu_metrics_summary.json), when GPUs were sampled.
  std::optional<double> mean_gpu_power_w;
  std::string power_source;
};

// An all_reduce sweep (nccl.json): out-of-place busbw by message size.
struct AllReduceMeasurement {
  std::string run_dir;
  int nodes = 1, world = 1;
  std::string backend;                                     // "nccl" or "mpi"
  std::string device;                                      // GPU name, or empty for host memory
  std::vector<std::pair<uint64_t, double>> busbw_by_size;  // (bytes, GB/s), ascending sizes
  // Whether the job is the sweep the plan schedules (`run --mode nccl`: every collective, 8 B to
  // 8 GiB, 20 iterations), and then its wall time: only such a job calibrates the duration.
  std::optional<double> duration_s;
  bool full_sweep = false;
};

// A `run --mode compute` job (compute.json) and its wall time.
struct ComputeMeasurement {
  std::string run_dir;
  int nodes = 1;
  int gpus_per_node = 0;
  std::string device;
  double duration_s = 0;
};

// The GPU ceilings a compute phase measured (compute.json of any run directory): what the
// uncalibrated step runs at.
struct CeilingsMeasurement {
  std::string run_dir;
  std::string device;  // GPU name
  NodeCeilings ceilings;
};

struct Measurements {
  std::vector<TrainingMeasurement> training;
  std::vector<AllReduceMeasurement> all_reduce;
  std::vector<ComputeMeasurement> compute;
  std::vector<CeilingsMeasurement> ceilings;
  std::vector<std::string> notes;  // run directories that could not be used, and why
};

// --- Inputs -----------------------------------------------------------------------------------

// Datasheet figures of the planned hardware (configs/hardware), each with its source.
struct PlanHardware {
  std::string gpu_name;   // "NVIDIA H200 SXM"
  std::string gpu_match;  // substring that identifies this GPU in a run's device name ("H200")
  std::string nic_name;
  Assumption gpu_memory_gb, peak_bf16_tflops, hbm_gb_per_s, nvlink_gb_per_s, nic_gb_per_s_per_port,
      nic_ports_per_node;
};

struct PlanModel {
  ModelShape shape;
  DsConfig ds;          // the config for this model's size
  std::string ds_path;  // as it goes on the command line (relative to the repository root)
};

// Fixed costs of the campaign that the performance model does not predict. Defaults are rules of
// thumb, listed as assumptions with their source in every plan.
struct CampaignAssumptions {
  Assumption job_startup_s{"job_startup", 60, "s",
                           "assumption (rule of thumb, not measured): launcher start, MPI and NCCL "
                           "initialisation, model allocation and random initialisation per job"};
  Assumption warmup_step_factor{"warmup_step_factor", 2, "x steady step",
                                "assumption: the first step also allocates buffers, picks cuBLASLt "
                                "algorithms and opens NCCL connections"};
  Assumption info_s{"info_duration", 30, "s",
                    "assumption: one inventory pass per host (NVML, sysfs, RDMA devices) including "
                    "launcher start-up"};
  Assumption compute_s_per_gpu{
      "compute_duration_per_gpu", 26, "s",
      "bench/RESULTS.md (2026-11-25, nvidia-h200): the default `sxbench "
      "compute` run on one H200 took 26 s; the GPUs of a node are measured "
      "one after another, nodes in parallel"};
  Assumption intra_node_latency_us{"intra_node_collective_latency", 20, "us",
                                   "bench/RESULTS.md: small all_reduce on 2 x H200 is ~19 us "
                                   "(torch.distributed reference of the acceptance figures)"};
  Assumption inter_node_latency_us{"inter_node_collective_latency", 40, "us",
                                   "assumption: twice the intra-node latency for the RoCE hop and "
                                   "the proxy thread"};
};

struct PlanRequest {
  std::vector<PlanModel> models;
  std::vector<int> nodes;  // ascending, unique, >= 1
  int gpus_per_node = 8;
  int64_t seq_len = 4096;
  std::string seq_len_source;  // "--seq-len", "SEQ_LEN (.env:3)", "default"
  int64_t steps = 20;          // per training run, warm-up included (as `sxbench run`)
  int64_t warmup_steps = 1;    // excluded from the run's metrics
  std::string launcher_model;  // model argument of the nccl/compute runs (recorded, not used)
  PlanHardware hardware;
  Calibration defaults;  // communication overlap; no achieved rate (uncalibrated) without a run
  CampaignAssumptions campaign;
  // Size of a gradient bucket in bytes: the all_reduce busbw is taken at the measured size closest
  // to it (ds_config reduce_bucket_size 5e8 elements in bf16 = 1e9 bytes).
  uint64_t bucket_bytes = 1000000000;
};

// --- Outputs ----------------------------------------------------------------------------------

// A change that would make a configuration fit that does not.
struct FitAlternative {
  enum class Kind { zero3, more_nodes, micro_batch_one } kind = Kind::zero3;
  int nodes = 0;           // node count it fits at
  int64_t grad_accum = 0;  // for micro_batch_one: accumulation that keeps the global batch
  Recompute recompute = Recompute::none;  // lightest recomputation that fits then
};

struct PlanEntry {
  std::string model;
  int64_t params = 0;
  int nodes = 0, gpus = 0;
  std::string ds_path;
  TrainSetup setup;  // as run: the ds_config's ZeRO stage and batch, chosen recompute
  int64_t global_batch_sequences = 0;
  double global_batch_tokens = 0;
  bool ds_requests_recompute = false;  // the ds_config has an activation_checkpointing section
  bool fits = false;
  MemoryPlan memory;  // of the chosen setup (full recomputation when none fits)
  std::vector<FitAlternative> alternatives;  // when it does not fit: what would make it fit
  std::string why_not;  // the same in one English line (plan.json, not_scheduled)
  std::optional<StepPrediction> prediction;  // the plan's configuration
  // sxbench's trainer recomputes every layer when the ds_config has an activation_checkpointing
  // section: when the plan chose lighter recomputation, the prediction of the run as configured
  // (full recomputation), which is what the scheduled command does.
  std::optional<StepPrediction> as_configured;
  std::optional<double> scaling_efficiency;  // tokens/s/GPU vs the reference node count
  int scaling_reference_nodes = 0;
  double run_duration_s = 0;  // start-up + warm-up + steady steps, of the command as run
  std::vector<MeasuredFigure> calibration;  // measured figures this entry used
  std::string command;                      // the exact command line of the training run
};

enum class PhaseKind { info, nccl, compute, training };
std::string phase_kind_name(PhaseKind k);

// The part of a model id after the organisation, in lower case: "meta-llama/Llama-2-7b-hf" ->
// "llama-2-7b-hf". Runs and planned models match on it (the plan's calibration, the sales
// summary's latest run per model).
std::string model_base_name(const std::string& id);
// One English line: the memory verdict and the alternatives.
std::string why_not_text(const MemoryPlan& memory, const std::vector<FitAlternative>& alternatives);

// How a phase's duration was obtained, as data (the documents word it in their language).
struct DurationBasis {
  enum class Kind { assumed, measured, predicted_sweep, predicted_compute, predicted_training };
  Kind kind = Kind::assumed;
  std::string figure;  // assumed: the assumption's name; measured: the run directory
  double startup_s = 0;
  double busbw_gb_per_s = 0, latency_us = 0, sweep_s = 0;  // predicted_sweep
  int gpus = 0;                                            // predicted_compute
  double per_gpu_s = 0;
  int64_t warmup_steps = 0, steady_steps = 0;  // predicted_training
  double warmup_factor = 0, step_s = 0;
  bool as_configured = false;  // the step time is the ds_config's full recomputation
};

struct SchedulePhase {
  int index = 0;  // 1-based, in execution order
  PhaseKind kind = PhaseKind::info;
  std::string name;  // "nccl sweep, 2 nodes"
  int nodes = 0;
  std::string command;
  double duration_s = 0;
  std::string duration_basis;  // how the duration was obtained, in one English line
  DurationBasis basis;         // the same as data
  double cumulative_s = 0;     // running total after this phase
};

struct ExecutionPlan {
  PlanRequest request;
  std::vector<PlanEntry> entries;          // models in request order, nodes ascending
  std::vector<SchedulePhase> schedule;     // scheduled phases in order
  std::vector<std::string> not_scheduled;  // training runs left out, each with its reason
  double total_s = 0;
  std::vector<Assumption> assumptions;         // every assumption used, each once
  std::vector<MeasuredFigure> measured;        // every measured figure used, each once
  std::vector<std::string> calibration_notes;  // what was not calibrated and why
};

// Chooses the measured training run closest to the planned model and setup: runs on the planned
// GPU beat runs on any other device; then the same model, then the nearest parameter count (by
// ratio), then the same ZeRO stage, sequence length and node count. nullopt when there is none.
std::optional<TrainingMeasurement> closest_training_run(
    const std::vector<TrainingMeasurement>& runs, const ModelShape& model, const TrainSetup& setup,
    int nodes, const std::string& gpu_match);
// The achieved compute rate a training run implies for the performance model, in executed
// TFLOP/s per device: model TFLOP/s x (executed / model FLOPs of that run's recomputation) /
// (1 - exposed communication share), so the model adds communication and recomputation itself.
double compute_rate_from_run(const TrainingMeasurement& run);

// The all_reduce measurement that calibrates intra-node (nodes == 1, at least 2 ranks) or
// inter-node (nodes >= 2, the node count closest to `nodes`) busbw: runs on the planned GPU
// over NCCL beat the others; then more ranks; then the later run directory name.
std::optional<AllReduceMeasurement> choose_all_reduce(const std::vector<AllReduceMeasurement>& runs,
                                                      bool inter_node, int nodes,
                                                      const std::string& gpu_match);
// The ceilings on the planned GPU that the uncalibrated step runs at: the run that measured the
// most bf16 products at model shapes, then the latest. nullopt when none was measured there.
std::optional<CeilingsMeasurement> choose_ceilings(const std::vector<CeilingsMeasurement>& runs,
                                                   const std::string& gpu_match);
// busbw at the measured size closest (by ratio) to `bytes`; the size used comes back with it.
std::pair<uint64_t, double> busbw_near(const AllReduceMeasurement& m, uint64_t bytes);

// Predicted duration of the collective sweep `sxbench run --mode nccl` runs on a GPU job (every
// collective, 8 B to 8 GiB, factor 2, 5 warm-up + 20 timed iterations, out-of-place and
// in-place): per size, latency + size x bus factor / busbw.
double predict_sweep_seconds(int world, double busbw_gb_per_s, double latency_us);

// Builds the whole plan. Throws sxb::Error when the request itself is unusable (no models, no
// node counts, a bad ds_config batch).
ExecutionPlan build_plan(const PlanRequest& request, const Measurements& measured);

nlohmann::json plan_to_json(const ExecutionPlan& plan);

}  // namespace sxb::report
