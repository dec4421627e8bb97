#include "report/plan_inputs.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <set>

#include "core/atomic_file.hpp"
#include "core/collective_results.hpp"
#include "core/error.hpp"

namespace sxb::report {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The sweep the plan schedules (see plan.cpp): every collective, 8 B to 8 GiB, factor 2, 5 + 20
// iterations.
bool is_full_sweep(const CollectiveReport& r) {
  std::set<std::string> ops;
  for (const auto& s : r.summary) ops.insert(s.op);
  return r.params.min_bytes == 8 && r.params.max_bytes == (8ull << 30) &&
         r.params.step_factor == 2 && r.params.warmup_iters == 5 && r.params.iters == 20 &&
         ops.size() >= 7;
}

// Names of the checks in validation.json that failed or are impossible, with the given prefix.
std::vector<std::string> failed_checks(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> out;
  const fs::path file = dir / "validation.json";
  if (!fs::exists(file)) return out;
  const json v = read_json_file(file);
  for (const auto& f : v.value("findings", json::array())) {
    const std::string check = f.value("check", "");
    const std::string verdict = f.value("verdict", "");
    if (check.rfind(prefix, 0) == 0 && (verdict == "failed" || verdict == "impossible")) {
      out.push_back(fmt::format("{} {} ({})", check, verdict, f.value("subject", "")));
    }
  }
  return out;
}

double number_or(const json& j, const char* key, double fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

// Mean board power per GPU over every sampled GPU of every host, from gpu_metrics_summary.json:
// the energy counter over its span where every GPU has it, else the mean of the power samples.
std::optional<std::pair<double, std::string>> mean_gpu_power(const fs::path& dir) {
  const fs::path file = dir / "gpu_metrics_summary.json";
  if (!fs::exists(file)) return std::nullopt;
  const json s = read_json_file(file);
  std::vector<json> hosts;
  if (s.contains("hosts") && s["hosts"].is_object()) {
    for (const auto& [name, h] : s["hosts"].items()) hosts.push_back(h);
  } else {
    hosts.push_back(s);
  }
  double counter_sum = 0, sample_sum = 0;
  int gpus = 0, with_counter = 0, with_samples = 0;
  for (const auto& h : hosts) {
    for (const auto& g : h.value("gpus", json::array())) {
      ++gpus;
      const json e = g.value("energy", json::object());
      if (e.contains("mean_power_from_counter_w") && e["mean_power_from_counter_w"].is_number()) {
        counter_sum += e["mean_power_from_counter_w"].get<double>();
        ++with_counter;
      }
      const json p = g.value("power_w", json::object());
      if (p.contains("mean") && p["mean"].is_number()) {
        sample_sum += p["mean"].get<double>();
        ++with_samples;
      }
    }
  }
  if (gpus == 0) return std::nullopt;
  const auto where = fmt::format("{} GPU(s) on {} host(s), {}/gpu_metrics_summary.json", gpus,
                                 hosts.size(), dir.string());
  if (with_counter == gpus) {
    return std::make_pair(counter_sum / gpus,
                          "measured: GPU board power, energy counter over the sampled span, mean "
                          "of " +
                              where);
  }
  if (with_samples == gpus) {
    return std::make_pair(sample_sum / gpus,
                          "measured: GPU board power, mean of the NVML power samples of " + where);
  }
  return std::nullopt;
}

void read_training(const fs::path& dir, const json& run, Measurements& out) {
  const fs::path file = dir / "sft_metrics.json";
  if (!fs::exists(file)) return;
  const json m = read_json_file(file);
  if (m.value("status", "") != "complete") {
    out.notes.push_back(fmt::format("{}: sft_metrics.json status '{}', not used", dir.string(),
                                    m.value("status", "")));
    return;
  }
  if (auto bad = failed_checks(dir, "train."); !bad.empty()) {
    out.notes.push_back(
        fmt::format("{}: sft_metrics.json not used: validation {}", dir.string(), bad.front()));
    return;
  }
  TrainingMeasurement t;
  t.run_dir = dir.string();
  const json model = m.value("model", json::object());
  t.model = model.value("name", run.value("model", ""));
  t.params = model.value("parameter_count", int64_t{0});
  t.layers = model.value("num_hidden_layers", int64_t{0});
  t.hidden = model.value("hidden_size", int64_t{0});
  t.seq_len = m.value("seq_len", int64_t{0});
  t.nodes = m.value("node_count", 1);
  t.world = m.value("world_size", 1);
  const json dev = m.value("device", json::object());
  t.device_kind = dev.value("kind", "");
  t.device_name = dev.value("name", "");
  t.engine = m.value("engine", "");
  t.zero_stage = m.value("zero_stage", json::object()).value("applied", 0);
  t.recompute = m.value("activation_recomputation", json::object()).value("applied", false);
  t.model_tflops_per_device = number_or(m, "model_tflops_per_s_per_device", 0);
  t.exposed_comm_share = number_or(m, "exposed_communication_share", 0);
  t.tokens_per_s = number_or(m, "tokens_per_s", 0);
  if (!(t.model_tflops_per_device > 0) || !(t.tokens_per_s > 0)) {
    out.notes.push_back(
        fmt::format("{}: sft_metrics.json has no positive throughput, not used", dir.string()));
    return;
  }
  if (auto p = mean_gpu_power(dir)) {
    t.mean_gpu_power_w = p->first;
    t.power_source = p->second;
    if (run.value("mode", "sft") != "sft") {
      t.power_source +=
          fmt::format(" (mode {}: the mean also covers its other phases)", run.value("mode", ""));
    }
  }
  out.training.push_back(std::move(t));
}

void read_collectives(const fs::path& dir, Measurements& out) {
  const fs::path file = dir / "nccl.json";
  if (!fs::exists(file)) return;
  CollectiveReport r;
  try {
    r = read_json_file(file).get<CollectiveReport>();
  } catch (const nlohmann::json::exception& e) {
    throw usage_error(fmt::format("{}: {}", file.string(), e.what()));
  }
  if (r.status != "complete") {
    out.notes.push_back(fmt::format("{}: nccl.json status '{}', not used", dir.string(), r.status));
    return;
  }
  if (auto bad = failed_checks(dir, "nccl."); !bad.empty()) {
    out.notes.push_back(
        fmt::format("{}: nccl.json not used: validation {}", dir.string(), bad.front()));
    return;
  }
  AllReduceMeasurement a;
  a.run_dir = dir.string();
  a.nodes = std::max(1, r.node_count);
  a.world = r.world_size;
  a.backend = r.params.backend;
  if (!r.ranks.empty()) a.device = r.ranks.front().device;
  for (const auto& row : r.rows) {
    if (row.op == "all_reduce")
      a.busbw_by_size.emplace_back(row.size_bytes, row.out_of_place.busbw_gb_per_s);
  }
  std::sort(a.busbw_by_size.begin(), a.busbw_by_size.end());
  a.duration_s = seconds_between(r.started_utc, r.finished_utc);
  a.full_sweep = is_full_sweep(r);
  if (a.busbw_by_size.empty()) return;
  if (a.world < 2) {
    out.notes.push_back(
        fmt::format("{}: nccl.json has one rank: bus bandwidth is 0 by "
                    "definition, only its wall time can be used",
                    dir.string()));
  }
  out.all_reduce.push_back(std::move(a));
}

void read_compute(const fs::path& dir, const json& run, Measurements& out) {
  if (!fs::exists(dir / "compute.json")) return;
  const json c = read_json_file(dir / "compute.json");
  for (const auto& p : run.value("phases", json::array())) {
    if (p.value("name", "") != "compute" || p.value("status", "") != "ok") continue;
    const auto s = seconds_between(p.value("started_utc", ""), p.value("finished_utc", ""));
    if (!s) continue;
    ComputeMeasurement m;
    m.run_dir = dir.string();
    m.nodes = run.value("nodes", 1);
    const auto devices = c.value("devices", json::array());
    m.gpus_per_node = static_cast<int>(devices.size());
    if (!devices.empty()) m.device = devices[0].value("name", "");
    m.duration_s = *s;
    out.compute.push_back(std::move(m));
  }
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

void read_run_directory(const fs::path& dir, Measurements& out) {
  json run = json::object();
  if (fs::exists(dir / "run.json")) run = read_json_file(dir / "run.json");
  read_training(dir, run, out);
  read_collectives(dir, out);
  read_compute(dir, run, out);
}

Measurements read_measurements(const fs::path& results_dir) {
  Measurements out;
  std::error_code ec;
  if (!fs::exists(results_dir, ec)) return out;
  if (!fs::is_directory(results_dir, ec)) {
    throw usage_error(fmt::format("--results {}: not a directory", results_dir.string()));
  }
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(results_dir, ec)) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs) read_run_directory(d, out);
  return out;
}

}  // namespace sxb::report
