#pragma once
// The figures of the comprehensive report, computed from an Aggregate: throughput per model and
// node count, scaling efficiency, bus bandwidth curves, GPU utilisation and power per run, and
// the performance model's prediction next to each measurement (and projections for node counts
// not measured). Pure functions of their inputs; no I/O. Invariants:
//  - measured figures name the runs they come from; with several runs of one configuration each
//    figure is the median over those runs and the spread is reported;
//  - scaling efficiency exists only where the same model and sequence length were measured at
//    the baseline node count (1); otherwise it is absent, never estimated;
//  - predictions and projections list every assumption with its source, and a projection is
//    only made for a node count that was not measured.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/hardware.hpp"
#include "perfmodel/perf_model.hpp"
#include "report/results/aggregate.hpp"

namespace sxb::report {

// One model x sequence length x node count, over its repeated runs.
struct ThroughputRow {
  std::string model;
  int64_t seq_len = 0;
  int nodes = 0;
  int world_size = 0;       // devices (GPUs, or MPI ranks for the CPU reference)
  std::string device_kind;  // "gpu" or "cpu"
  std::string device_name;
  std::vector<std::string> runs;
  double tokens_per_s = 0, tokens_per_s_per_device = 0, samples_per_s = 0;
  std::optional<double> mfu, model_tflops_per_device, exposed_communication_share;
  double step_median_s = 0, step_p10_s = 0, step_p90_s = 0;
  // Over repeated runs: min and max of tokens/s per device, (max - min) / median.
  double tokens_per_s_per_device_min = 0, tokens_per_s_per_device_max = 0;
  std::optional<double> spread_fraction;  // only with two or more runs
  std::vector<std::string> configs;       // distinct "micro-batch 1 x accumulation 1, ZeRO 1, ..."
  // What the runs of one row share besides model, sequence length and devices: micro-batch x
  // accumulation, the ZeRO stage and recomputation applied ("micro-batch 1 x accumulation 1,
  // ZeRO 0, recomputation off"). Runs that differ in it are different rows: a median over
  // recomputation modes would describe no run.
  std::string setup;
};

struct ScalingRow {
  std::string model;
  int64_t seq_len = 0;
  std::string setup;  // ThroughputRow::setup: the baseline has the same
  int nodes = 0;
  int devices_per_node = 0;
  double tokens_per_s_per_device = 0;
  std::vector<std::string> runs;
  int baseline_nodes = 1;
  std::optional<double> baseline_tokens_per_s_per_device;
  std::vector<std::string> baseline_runs;
  std::optional<double> efficiency;  // fraction: per-device rate at N over the baseline's
};

// Bus bandwidth against message size for one collective at one job shape (out-of-place,
// median over runs at each size). Single-rank runs are left out: their busbw is 0 by definition.
struct BusbwCurve {
  std::string op;
  int nodes = 0;
  int world_size = 0;
  std::string backend;
  std::vector<std::string> runs;
  std::vector<uint64_t> sizes;
  std::vector<double> busbw_gb_per_s;
  double largest_size_busbw_gb_per_s() const {
    return busbw_gb_per_s.empty() ? 0 : busbw_gb_per_s.back();
  }
};

struct GpuRunRow {
  std::string run;
  std::string model;
  int nodes = 0;
  bool training = false;  // the run has training metrics
  bool gpu_metrics = false;
  std::string note;  // why there are no GPU metrics
  int gpus = 0;
  // Over GPUs: mean of the per-GPU means, max of the per-GPU maxima; energy summed.
  std::optional<double> util_mean_pct, util_max_pct, power_mean_w, power_max_w, energy_j;
  std::optional<double> sm_activity_mean_pct;  // GPM, mean of per-GPU means
  double duration_s = 0;
  // The window training figures are judged on (GpuMetrics::training_window): the timed steps,
  // else the sft phase; `window` is empty when the run recorded none (window_note says why).
  std::string window, window_source, window_note;
  size_t window_samples = 0;
  std::optional<double> window_util_mean_pct, window_sm_activity_pct, window_power_mean_w;
};

// The performance model next to a measurement, or a projection where nothing was measured.
struct PredictionRow {
  std::string model;
  int64_t seq_len = 0;
  int nodes = 0;
  int gpus_per_node = 0;
  bool projection = false;  // no measurement at this node count
  std::optional<double> measured_tokens_per_s_per_gpu;
  std::vector<std::string> runs;  // the measurement (or, for a projection, the calibration)
  double predicted_tokens_per_s_per_gpu = 0, predicted_tokens_per_s = 0, predicted_step_s = 0,
         predicted_mfu = 0, predicted_exposed_comm_s = 0;
  std::optional<double> ratio;  // measured / predicted
  std::optional<double> error;  // (predicted - measured) / measured, signed
  // "measured_ceilings" (a compute.json of the node), "datasheet" (none), or "calibrated" (a
  // projection: the compute rate that reproduces a measurement).
  std::string basis;
  Recompute recompute = Recompute::none;
  std::vector<StepCategory> categories;  // the predicted step, adding up to predicted_step_s
  std::string memory_verdict;
  double predicted_memory_bytes = 0;  // engine buffers + reserve + CUDA context
  std::optional<double> measured_memory_bytes, memory_error;  // device used peak; signed error
  std::vector<Assumption> assumptions;
};

// Why a measured configuration has no prediction.
struct PredictionGap {
  std::string model;
  int64_t seq_len = 0;
  std::string device_name;
  std::string reason;  // "no_gpu_spec": the device matches no configs/hardware GPU file
};

struct ComputeRow {
  std::string run;
  ComputeFigure figure;
};

struct Figures {
  std::vector<ThroughputRow> throughput;  // ordered by model, seq_len, nodes
  std::vector<ScalingRow> scaling;
  std::vector<BusbwCurve> busbw;  // ordered by op, nodes, world
  std::vector<GpuRunRow> gpu;
  std::vector<ComputeRow> compute;
  std::vector<PredictionRow> predictions;
  std::vector<PredictionGap> prediction_gaps;
  std::vector<std::string> single_rank_collective_runs;  // left out of the busbw curves
};

struct FigureOptions {
  // Node counts the performance model projects to where they were not measured.
  std::vector<int> projection_nodes = {1, 2, 4, 8};
};

Figures compute_figures(const Aggregate& aggregate, const std::vector<HardwareSpec>& specs,
                        const FigureOptions& options = {});

nlohmann::json to_json(const Figures& f);

}  // namespace sxb::report
