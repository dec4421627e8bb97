#pragma once
// The in-process GPU monitor used by `monitor`, `run` and `train`:
//
//   MetricsSampler sampler({.interval_s = metrics_interval_s(env), .csv_path = dir /
//   "gpu_metrics.csv"}); sampler.start();                          // background thread, first
//   sample at once
//   ... the work ...
//   MetricsSummary summary = sampler.stop();  // last sample, thread joined
//   write_json_atomic(dir / "gpu_metrics_summary.json", summary.to_json());
//
// Every sample reads every GPU through NVML (loaded at run time) plus host CPU and memory, appends
// its rows to the CSV (valid at every moment) and updates the summary. Without a driver or GPU
// the sampler records host columns only and says why in gpu_note().
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/env_config.hpp"
#include "monitor/summary.hpp"
#include "platform/nvml_api.hpp"

namespace sxb {

class NvmlSampler;
class HostSampler;
class MetricsCsvWriter;

struct SamplerOptions {
  double interval_s = 1.0;         // at least kMinMetricsInterval_s
  std::filesystem::path csv_path;  // empty: no CSV, summary only
  bool require_gpu = false;        // no GPU through NVML -> environment error
  std::string nvml_library = nvml::kDefaultLibrary;
};

inline constexpr double kMinMetricsInterval_s = 0.01;
// METRICS_INTERVAL from .env / environment (seconds, fractions allowed).
double metrics_interval_s(const EnvConfig& env);
// Throws a usage error naming `what` when the interval is below the minimum.
void check_metrics_interval(double interval_s, const std::string& what);

class MetricsSampler {
 public:
  // Opens NVML and the CSV (header written). Throws sxb::Error: environment when require_gpu is
  // set and no GPU answers, usage for a bad interval, runtime when the CSV cannot be created.
  explicit MetricsSampler(SamplerOptions options);
  ~MetricsSampler();  // stops sampling if still running
  MetricsSampler(const MetricsSampler&) = delete;
  MetricsSampler& operator=(const MetricsSampler&) = delete;

  void start();
  // Takes a last sample, joins the thread and returns the summary. Throws sxb::Error when the
  // sampling thread failed (e.g. the disk filled up); the CSV keeps every row written before.
  MetricsSummary stop();

  bool has_gpu() const { return nvml_ != nullptr; }
  const std::string& gpu_note() const { return gpu_note_; }  // empty when has_gpu()

 private:
  void loop();
  void take_sample();  // caller holds no lock; only the sampling thread or stop() call it

  SamplerOptions options_;
  std::unique_ptr<NvmlSampler> nvml_;
  std::unique_ptr<HostSampler> host_;
  std::unique_ptr<MetricsCsvWriter> csv_;
  std::string gpu_note_;
  std::string host_name_;
  std::chrono::steady_clock::time_point start_time_;
  MetricsSummary summary_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_requested_ = false;
  bool running_ = false;
  std::string thread_error_;
};

}  // namespace sxb
