#pragma once
// Aggregation of a results directory: every run directory under it read into plain structs, the
// raw material of `sxbench report` and `sxbench plan`. Directories come from
//   sxbench run      (run.json + whatever its phases wrote: nccl.json, sft_metrics.json,
//                     compute.json, gpu_metrics.csv, gpu_metrics_summary.json, validation.json)
//   sxbench nccl     (nccl.json and nccl_<op>.log only)
//   sxbench train    (sft_metrics.json only)
//   sxbench compute  (compute.json only)
//   sxbench monitor  (gpu_metrics.csv and gpu_metrics_summary.json only)
//   sxbench diagnose (diagnose.json only; or written with --out into any of the above)
// and are told apart by the files they hold. Invariants:
//  - a directory that cannot be read completely (missing run.json beside other run files,
//    malformed JSON, a file that misses a field its writer always writes, a truncated CSV, a
//    phase recorded ok whose file is absent, a run still marked running) is never fatal: it is
//    listed in Aggregate::skipped with the reason, and none of its figures are used;
//  - a run whose run.json says "failed" is listed in Aggregate::runs as failed (with its error)
//    and never used for figures (usable() is false);
//  - values are what the files say; nothing is estimated or filled in (absent = std::nullopt).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/collective_results.hpp"
#include "core/hardware.hpp"
#include "core/records.hpp"
#include "perfmodel/perf_model.hpp"

namespace sxb::report {

// Which command wrote the directory.
enum class RunKind { run, nccl, train, compute, monitor, diagnose };
std::string run_kind_name(RunKind k);  // "run", "nccl", ...

// One host of the job (run.json hosts[]; for standalone directories only what their file says).
struct HostInventory {
  std::string hostname;
  std::string os, kernel, cpu_model;
  int cpu_count = 0;
  uint64_t memory_bytes = 0;
  std::vector<std::string> gpu_names;  // one entry per GPU, in index order
  uint64_t gpu_memory_bytes = 0;       // of the first GPU
  std::string nvidia_driver_version, cuda_driver_api, cuda_runtime_version, nccl_version,
      mpi_library_version;
  std::vector<std::string> nics;  // "mlx5_0 (rdma, Ethernet, 400 Gbit/s, up)"
};

struct StepTimeStats {  // sft_metrics.json step_time_s, seconds, over the measured steps
  double median = 0, p10 = 0, p90 = 0, mean = 0, min = 0, max = 0;
  int64_t count = 0;
};

// sft_metrics.json. "Device" is the training engine's unit: one GPU, or one MPI rank of the CPU
// reference (device_kind says which).
struct TrainingMetrics {
  std::string engine;       // "cpu-reference-fp32", ...
  std::string device_kind;  // "cpu" or "gpu"
  std::string device_name;
  std::string model_name;
  ModelShape shape;  // from the recorded model config: what the performance model needs
  int world_size = 0, node_count = 0;
  double tokens_per_s = 0, tokens_per_s_per_device = 0, samples_per_s = 0;
  std::string sample_definition;
  std::optional<double> model_tflops_per_device;
  std::optional<double> mfu;  // fraction; null when the device has no known peak
  std::string mfu_note;
  StepTimeStats step_time_s;
  int64_t seq_len = 0, micro_batch = 0, grad_accum = 0, global_batch = 0;
  int zero_stage_requested = 0, zero_stage_applied = 0;
  // activation_recomputation: the mode asked for (auto, none, selective, full), whether any ran,
  // and the mode that ran.
  std::string recompute_requested;
  bool recompute_applied = false;
  Recompute recompute_mode = Recompute::none;
  std::string precision_requested, precision_computed;
  std::optional<double> loss_start, loss_end;         // nats, first and last step
  std::optional<double> exposed_communication_share;  // fraction of step time
  // peak_memory_bytes.device_used_peak_bytes: the device's used memory at its peak (GPU engine).
  std::optional<double> device_used_peak_bytes;
  std::string timing_method;
  std::string communication_library;
};

// nccl.json, regrouped per collective.
struct CollectiveSize {
  uint64_t size_bytes = 0;
  CollectiveMeasurement out_of_place;
  std::optional<CollectiveMeasurement> in_place;
};
struct CollectiveOp {
  std::string op;
  std::string dtype;
  std::vector<CollectiveSize> sizes;  // ascending size
  CollectiveOpSummary summary;
};
struct Collectives {
  std::string status, backend, library_version, mpi_library_version, method;
  int world_size = 0, node_count = 0;
  std::vector<std::string> devices;  // distinct rank device descriptions
  std::vector<CollectiveOp> ops;
  const CollectiveOp* find(const std::string& op) const;
};

// compute.json headline figures: the best GEMM rate per data type and the best figure per
// bandwidth test and variant, each with its datasheet comparison when one was recorded.
struct ComputeFigure {
  std::string test;  // "gemm", "hbm", "h2d", "d2h", "p2p"
  std::string what;  // "GEMM bf16 8192x8192x8192", "HBM copy", "P2P ce_unidir gpu0->gpu1"
  int device = 0;
  double value = 0;
  std::string unit;  // "TFLOP/s" or "GB/s"
  std::string spec_key;
  std::optional<double> spec_value, spec_fraction;
};
struct ComputeFigures {
  std::string status;
  std::vector<std::string> devices;  // device names
  std::vector<ComputeFigure> headlines;
  // The ceilings the performance model runs its step categories at: bf16 products (model shapes
  // and square) and the HBM copy rate of the first measured device; source empty.
  NodeCeilings ceilings;
  std::vector<std::string> skipped;  // "test: reason"
  int gemm_checks = 0, gemm_checks_failed = 0;
};

// gpu_metrics_summary.json: per-GPU aggregates (every host of a multi-node run).
struct GpuStat {
  std::string host;
  unsigned int index = 0;
  std::string name;
  size_t samples = 0;
  std::optional<double> util_mean_pct, util_max_pct, power_mean_w, power_max_w, energy_j;
  std::optional<double> sm_activity_mean_pct;  // GPM, where the GPU supports it
};

// Figures over several GPUs: the mean of the per-GPU means, the highest per-GPU maximum, energy
// summed; each absent when no GPU provided it.
struct GpuTotals {
  std::optional<double> util_mean_pct, util_max_pct, sm_activity_mean_pct, power_mean_w,
      power_max_w, energy_j;
};
GpuTotals totals_over(const std::vector<GpuStat>& gpus);

// The GPUs over one window of the run's time: a phase of `run`, or the training engine's timed
// steps ("training"); over GPUs: mean of the per-GPU means, energy summed.
struct GpuWindow {
  std::string name, source;
  size_t samples = 0;
  int gpus = 0;
  std::string note;  // why the window holds no sample
  std::optional<double> util_mean_pct, sm_activity_mean_pct, power_mean_w, energy_j;
};
struct GpuMetrics {
  bool gpu_metrics = false;  // NVML answered with at least one GPU (on rank 0's host)
  std::string note;          // why not, when gpu_metrics is false
  double interval_s = 0;
  std::optional<double> duration_s;
  size_t samples = 0;
  std::vector<GpuStat> gpus;
  std::optional<double> host_cpu_util_mean_pct;
  std::string method;
  std::filesystem::path csv;  // gpu_metrics.csv; empty when the directory has none
  std::vector<GpuWindow> windows;
  // Where the windows come from: gpu_metrics_summary.json, or the report's own pass over
  // gpu_metrics.csv for a summary written before windows were recorded; why there are none.
  std::string windows_source, windows_note;
  // The window a training target is judged on: the timed steps, else the sft phase.
  const GpuWindow* training_window() const;
};

// gpu_metrics.csv as time series per GPU (read on demand: a long run's CSV is large). Cells the
// sampler left empty are NaN.
struct GpuSeries {
  std::string host;
  unsigned int index = 0;
  std::string name;
  std::vector<double> elapsed_s, util_pct, power_w;
};
// Throws a one-line sxb::Error naming the file and line on a malformed or truncated file.
std::vector<GpuSeries> read_gpu_timeseries(const std::filesystem::path& csv);
// The structural check aggregation does without reading every row: the header names the
// columns the reader needs, the file ends with a complete line, and the last line has as many
// cells as the header. Throws like read_gpu_timeseries.
void check_gpu_metrics_csv(const std::filesystem::path& csv);

struct ValidationFinding {
  std::string check, subject, verdict, unit, arithmetic;
  std::optional<double> measured, limit;
  std::string record;        // the published record compared with (configs/records), or ""
  bool implausible = false;  // a warning: above that record
};
struct ValidationSummary {
  // "validation.json" (written by the run) or "sxbench report" (checked while aggregating,
  // because the directory had no validation.json).
  std::string source;
  bool passed = true;
  int ok = 0, warning = 0, failed = 0, impossible = 0;
  int implausible = 0;  // of the warnings, those above a published record
  std::vector<ValidationFinding> findings;
};

// preflight.json (phase 0 of a run): every host's check counts and the checks that did not pass.
struct PreflightCheck {
  std::string host, id, subject, found, expected, verdict, note;
};
struct PreflightSummary {
  int hosts = 0;
  int pass = 0, warn = 0, fail = 0, unknown = 0;  // over every host
  bool all_passed = true;
  std::vector<PreflightCheck> not_passed;  // warn and fail rows, every host
  std::vector<std::string> differences;    // "check subject: host a: x; host b: y"
};

// diagnose.json: the verdicts of `sxbench diagnose`, each with its numbers.
struct DiagnoseVerdict {
  std::string unit;  // "rank 2 (host, CPU)", a host, or a pair "A - B"
  double median = 0, reference = 0, deviation = 0, noise = 0, allowed = 0;
  std::string standing;  // ok, slow, inconclusive
  std::string reason;
};
struct DiagnoseComponent {  // one metric every rank measured
  std::string metric, unit, what;
  double job_median = 0;
  std::vector<DiagnoseVerdict> ranks;
  std::vector<DiagnoseVerdict> against_baseline;  // empty without --baseline
};
struct DiagnosePairs {
  std::string mode;  // ranks, nodes, none
  std::string note;  // why there is no matrix
  std::string what;
  std::vector<std::string> units;
  // matrix_gb_per_s[a][b]: the pair's median; NaN where no pair was measured (the diagonal).
  std::vector<std::vector<double>> matrix;
  std::vector<DiagnoseVerdict> pairs;
  std::vector<std::pair<int, int>> pair_units;  // (a, b) of each entry of pairs
  std::vector<std::string> blamed_units, slow_links;
};
struct DiagnoseNamed {
  std::string unit, what, reason;
};
struct DiagnoseSummary {
  std::string device;  // gpu or cpu
  int world_size = 0, nodes = 0, samples = 0;
  double threshold = 0, noise_multiple = 0;
  std::string verdict;  // clean, inconclusive, slow components named
  int slow = 0, inconclusive = 0;
  std::vector<DiagnoseComponent> components;
  DiagnosePairs pairs;
  std::vector<DiagnoseNamed> named;
};

struct RunRecord {
  std::filesystem::path dir;
  std::string name;  // directory name: how documents refer to the run
  RunKind kind = RunKind::run;
  std::string model;  // empty for nccl / compute / monitor directories
  int nodes = 1;
  int world_size = 1;
  int ranks_per_node = 1;  // world_size / nodes
  int gpus_per_node = 0;   // GPUs the inventory lists per host (0: CPU hosts or not recorded)
  std::string mode;        // run.json mode; for standalone directories the command name
  std::string status;      // run.json status (complete, partial, failed) or the file's status
  std::string error;       // run.json error, when failed
  std::string started_utc, finished_utc;
  std::string launcher, tool_version;
  std::vector<HostInventory> hosts;
  std::vector<std::string> gpu_names;  // distinct GPU (or device) names over all hosts
  std::vector<std::string> files;      // result files present
  std::optional<TrainingMetrics> training;
  std::optional<Collectives> collectives;
  std::optional<ComputeFigures> compute;
  std::optional<GpuMetrics> gpu_metrics;
  std::optional<ValidationSummary> validation;
  std::optional<PreflightSummary> preflight;
  std::optional<DiagnoseSummary> diagnose;

  bool usable() const { return status != "failed"; }
};

struct SkippedDirectory {
  std::filesystem::path dir;
  std::string reason;  // one line
};

// Runs of one model at one node count (usable runs with training metrics only).
struct RunGroup {
  std::string model;
  int nodes = 0;
  std::vector<const RunRecord*> runs;
};

struct Aggregate {
  std::filesystem::path results_dir;
  std::vector<RunRecord> runs;  // readable runs, failed ones included, ordered by directory name
  std::vector<SkippedDirectory> skipped;

  std::vector<const RunRecord*> usable() const;
  // Usable runs with training metrics grouped by model x node count, ordered by model then nodes.
  std::vector<RunGroup> training_groups() const;
};

struct ReadOptions {
  // When set, runs without validation.json are checked with src/validate against these limits
  // (ValidationSummary::source says so). When null they get no validation summary.
  const std::vector<HardwareSpec>* specs = nullptr;
  // Published records (configs/records) the same checks compare with; none when null.
  const std::vector<Record>* records = nullptr;
};

// Reads one run directory. Throws a one-line sxb::Error with the reason when the directory is
// broken or partial (the caller lists it as skipped). A run.json status "failed" is returned,
// not thrown, with only its identity read.
RunRecord read_run_directory(const std::filesystem::path& dir, const ReadOptions& options = {});

// Every run directory directly under results_dir (or results_dir itself when it is one).
// Throws a one-line sxb::Error when results_dir does not exist or is not a directory; a results
// directory without any run directory yields an Aggregate with no runs (the caller decides).
Aggregate aggregate_results(const std::filesystem::path& results_dir,
                            const ReadOptions& options = {});

}  // namespace sxb::report
