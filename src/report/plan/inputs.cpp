#include "report/plan/inputs.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/units.hpp"
#include "monitor/windows.hpp"

namespace sxb::report {

namespace fs = std::filesystem;

namespace {

// Run directories are named as the results directory lists them (RunRecord::name), not by the
// absolute path of the machine that wrote the plan, so a plan handed over reads the same.

// The failed or impossible findings of a run's validation whose check has the given prefix.
std::vector<std::string> failed_checks(const RunRecord& r, const std::string& prefix) {
  std::vector<std::string> out;
  if (!r.validation) return out;
  for (const auto& f : r.validation->findings) {
    if (f.check.rfind(prefix, 0) == 0 && (f.verdict == "failed" || f.verdict == "impossible")) {
      out.push_back(fmt::format("{} {} ({})", f.check, f.verdict, f.subject));
    }
  }
  return out;
}

// `sxbench run --mode nccl` on GPUs sweeps every collective from 8 B to 8 GiB with 20 timed
// iterations (run.cpp, nccl_config_for): the sweep the plan schedules. Other modes and the
// standalone command may use other sizes or iterations.
bool is_planned_sweep(const RunRecord& r, const Collectives& c) {
  if (r.kind != RunKind::run || r.mode != "nccl" || c.ops.size() < 7) return false;
  const CollectiveOp* ar = c.find("all_reduce");
  return ar && !ar->sizes.empty() && ar->sizes.front().size_bytes == 8 &&
         ar->sizes.back().size_bytes == (8ull << 30);
}

void add_training(const RunRecord& r, Measurements& out) {
  const TrainingMetrics& m = *r.training;
  if (auto bad = failed_checks(r, "train."); !bad.empty()) {
    out.notes.push_back(
        fmt::format("{}: sft_metrics.json not used: validation {}", r.name, bad.front()));
    return;
  }
  TrainingMeasurement t;
  t.run_dir = r.name;
  t.model = m.model_name;
  t.params = m.shape.params;
  t.layers = m.shape.layers;
  t.hidden = m.shape.hidden;
  t.seq_len = m.seq_len;
  t.nodes = std::max(1, m.node_count);
  t.world = std::max(1, m.world_size);
  t.device_kind = m.device_kind;
  t.device_name = m.device_name;
  t.engine = m.engine;
  t.zero_stage = m.zero_stage_applied;
  t.recompute = m.recompute_mode == Recompute::full;
  t.model_tflops_per_device = m.model_tflops_per_device.value_or(0);
  t.exposed_comm_share = m.exposed_communication_share.value_or(0);
  t.tokens_per_s = m.tokens_per_s;
  if (!(t.model_tflops_per_device > 0) || !(t.tokens_per_s > 0)) {
    out.notes.push_back(
        fmt::format("{}: sft_metrics.json has no positive throughput, not used", r.name));
    return;
  }
  if (r.gpu_metrics && !r.gpu_metrics->gpus.empty()) {
    double sum = 0;
    size_t with_power = 0;
    std::vector<std::string> hosts;
    for (const auto& g : r.gpu_metrics->gpus) {
      if (g.power_mean_w) {
        sum += *g.power_mean_w;
        ++with_power;
      }
      if (std::find(hosts.begin(), hosts.end(), g.host) == hosts.end()) hosts.push_back(g.host);
    }
    const GpuWindow* w = r.gpu_metrics->training_window();
    if (w && w->power_mean_w && w->gpus == static_cast<int>(r.gpu_metrics->gpus.size())) {
      // The GPUs' power while training ran, not a mean that also covers other phases.
      t.mean_gpu_power_w = *w->power_mean_w;
      t.power_source = fmt::format(
          "measured: GPU board power, mean of the NVML power samples of {} GPU(s) on {} host(s) "
          "during {} ({}/gpu_metrics_summary.json, {} samples)",
          w->gpus, hosts.size(),
          w->name == kTrainingWindow ? "the timed training steps" : "the sft phase", r.name,
          w->samples);
    } else if (with_power == r.gpu_metrics->gpus.size()) {
      t.mean_gpu_power_w = sum / static_cast<double>(with_power);
      t.power_source = fmt::format(
          "measured: GPU board power, mean of the NVML power samples of {} GPU(s) on {} host(s) "
          "over the run ({}/gpu_metrics_summary.json){}",
          with_power, hosts.size(), r.name,
          r.kind == RunKind::run && r.mode != "sft"
              ? fmt::format("; mode {}: the mean also covers its other phases", r.mode)
              : "");
    }
  }
  out.training.push_back(std::move(t));
}

void add_collectives(const RunRecord& r, Measurements& out) {
  const Collectives& c = *r.collectives;
  if (c.status != "complete") {
    out.notes.push_back(
        fmt::format("{}: nccl.json status '{}', not used", r.name, c.status));
    return;
  }
  if (auto bad = failed_checks(r, "nccl."); !bad.empty()) {
    out.notes.push_back(
        fmt::format("{}: nccl.json not used: validation {}", r.name, bad.front()));
    return;
  }
  const CollectiveOp* ar = c.find("all_reduce");
  if (!ar) return;
  AllReduceMeasurement a;
  a.run_dir = r.name;
  a.nodes = std::max(1, c.node_count);
  a.world = c.world_size;
  a.backend = c.backend;
  if (!c.devices.empty()) a.device = c.devices.front();
  for (const auto& s : ar->sizes)
    a.busbw_by_size.emplace_back(s.size_bytes, s.out_of_place.busbw_gb_per_s);
  a.full_sweep = is_planned_sweep(r, c);
  if (a.full_sweep) a.duration_s = seconds_between(r.started_utc, r.finished_utc);
  out.all_reduce.push_back(std::move(a));
}

void add_compute(const RunRecord& r, Measurements& out) {
  if (r.kind != RunKind::run || r.mode != "compute") return;
  const auto s = seconds_between(r.started_utc, r.finished_utc);
  if (!s) return;
  ComputeMeasurement m;
  m.run_dir = r.name;
  m.nodes = r.nodes;
  m.gpus_per_node = static_cast<int>(r.compute->devices.size());
  if (!r.compute->devices.empty()) m.device = r.compute->devices.front();
  m.duration_s = *s;
  out.compute.push_back(std::move(m));
}

}  // namespace

std::optional<double> seconds_between(const std::string& a, const std::string& b) {
  auto parse = [](const std::string& s) -> std::optional<time_t> {
    struct tm tm {};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || (*end != 'Z' && *end != '.')) return std::nullopt;
    return timegm(&tm);
  };
  const auto x = parse(a), y = parse(b);
  if (!x || !y || *y < *x) return std::nullopt;
  return static_cast<double>(*y - *x);
}

Measurements measurements_from(const Aggregate& agg) {
  Measurements out;
  for (const auto& s : agg.skipped) {
    out.notes.push_back(fmt::format("{}: skipped ({})", s.dir.filename().string(), s.reason));
  }
  for (const auto& r : agg.runs) {
    if (!r.usable()) {
      out.notes.push_back(fmt::format("{}: the run failed ({}), not used", r.name,
                                      r.error.empty() ? "no reason recorded" : r.error));
      continue;
    }
    if (r.training) add_training(r, out);
    if (r.collectives) add_collectives(r, out);
    if (r.compute) {
      add_compute(r, out);
      if (!r.compute->ceilings.gemm.empty() || r.compute->ceilings.hbm_copy_gb_per_s) {
        out.ceilings.push_back({r.name,
                                r.compute->devices.empty() ? "" : r.compute->devices.front(),
                                r.compute->ceilings});
      }
    }
  }
  return out;
}

Measurements read_measurements(const fs::path& results_dir) {
  std::error_code ec;
  if (!fs::exists(results_dir, ec)) return {};
  if (!fs::is_directory(results_dir, ec)) {
    throw usage_error(fmt::format("results directory {} is not a directory", results_dir.string()));
  }
  const auto specs = load_hardware_specs(find_config_dir() / "hardware");
  ReadOptions options;
  options.specs = &specs;
  return measurements_from(aggregate_results(results_dir, options));
}

}  // namespace sxb::report
