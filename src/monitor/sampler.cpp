#include "monitor/sampler.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "core/error.hpp"
#include "core/units.hpp"
#include "core/utc_time.hpp"
#include "monitor/host_sampler.hpp"
#include "monitor/metrics_csv.hpp"
#include "monitor/nvml_sampler.hpp"

namespace sxb {

namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

double metrics_interval_s(const EnvConfig& env) {
  const auto v = env.get_number("METRICS_INTERVAL");
  const double interval = v ? *v : 1.0;
  check_metrics_interval(interval, "METRICS_INTERVAL");
  return interval;
}

void check_metrics_interval(double interval_s, const std::string& what) {
  if (!(interval_s >= kMinMetricsInterval_s) || interval_s > 3600) {
    throw usage_error(fmt::format("{} must be between {} and 3600 seconds, got {}", what,
                                  kMinMetricsInterval_s, interval_s));
  }
}

MetricsSampler::MetricsSampler(SamplerOptions options) : options_(std::move(options)) {
  check_metrics_interval(options_.interval_s, "sampling interval");
  nvml_ = NvmlSampler::open(options_.nvml_library, gpu_note_);
  if (!nvml_ && options_.require_gpu) {
    throw environment_error(fmt::format("no GPU metrics: {}", gpu_note_));
  }
  if (nvml_) gpu_note_.clear();
  host_ = std::make_unique<HostSampler>();
  if (!options_.csv_path.empty()) csv_ = std::make_unique<MetricsCsvWriter>(options_.csv_path);
  host_name_ = host_name();
  summary_.host = host_name_;
  summary_.interval_s = options_.interval_s;
  summary_.gpu_metrics = nvml_ != nullptr;
  summary_.gpu_note = gpu_note_;
  if (nvml_) {
    summary_.driver_version = nvml_->driver_version();
    summary_.capabilities = nvml_->capabilities();
  }
}

MetricsSampler::~MetricsSampler() {
  if (running_) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_requested_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
}

void MetricsSampler::start() {
  if (running_) return;
  start_time_ = std::chrono::steady_clock::now();
  summary_.started_utc = utc_iso8601_now();
  stop_requested_ = false;
  running_ = true;
  thread_ = std::thread([this] { loop(); });
}

void MetricsSampler::take_sample() {
  Tick tick;
  const auto now = std::chrono::steady_clock::now();
  tick.timestamp_utc = utc_iso8601_ms_now();
  tick.elapsed_s = std::chrono::duration<double>(now - start_time_).count();
  tick.host = host_name_;
  tick.host_sample = host_->sample();
  if (nvml_) tick.gpus = nvml_->sample();
  if (csv_) csv_->write(tick);
  summary_.add(tick);
}

void MetricsSampler::loop() {
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options_.interval_s));
  auto next = start_time_;
  try {
    while (true) {
      take_sample();
      next += interval;
      const auto now = std::chrono::steady_clock::now();
      // A sample that overran its slot starts the next one a full interval later rather than
      // firing a burst to catch up, so rows stay evenly spaced.
      if (next <= now) next = now + interval;
      std::unique_lock<std::mutex> lock(mutex_);
      if (wake_.wait_until(lock, next, [this] { return stop_requested_; })) return;
    }
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    thread_error_ = e.what();
  }
}

MetricsSummary MetricsSampler::stop() {
  if (running_) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_requested_ = true;
    }
    wake_.notify_all();
    thread_.join();
    running_ = false;
    if (!thread_error_.empty()) throw runtime_error(fmt::format("GPU monitor: {}", thread_error_));
    take_sample();  // the summary covers the run up to now
    summary_.finished_utc = utc_iso8601_now();
  }
  return summary_;
}

}  // namespace sxb
