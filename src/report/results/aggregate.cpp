#include "report/results/aggregate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.hpp"
#include "core/compute_results.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "core/units.hpp"
#include "monitor/metrics_csv.hpp"
#include "monitor/windows.hpp"
#include "report/results/result_files.hpp"
#include "validate/findings.hpp"

namespace sxb::report {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace result_files;  // NOLINT: the readers of each file kind

std::string run_kind_name(RunKind k) {
  switch (k) {
    case RunKind::run:
      return "run";
    case RunKind::nccl:
      return "nccl";
    case RunKind::train:
      return "train";
    case RunKind::compute:
      return "compute";
    case RunKind::monitor:
      return "monitor";
    case RunKind::diagnose:
      return "diagnose";
  }
  return "?";
}

const CollectiveOp* Collectives::find(const std::string& op) const {
  for (const auto& o : ops) {
    if (o.op == op) return &o;
  }
  return nullptr;
}

namespace {

// ---- gpu_metrics.csv ---------------------------------------------------------------------


// The columns read, in the order of CsvLayout's slots; names as the monitor's writer spells them.
constexpr std::string_view kCsvColumns[] = {
    metrics_csv_name::elapsed_s, metrics_csv_name::host,         metrics_csv_name::gpu_index,
    metrics_csv_name::gpu_name,  metrics_csv_name::gpu_util_pct, metrics_csv_name::power_w};

struct CsvLayout {
  size_t cells = 0;
  size_t elapsed = 0, host = 0, gpu_index = 0, gpu_name = 0, util = 0, power = 0;
};

CsvLayout csv_layout(const std::string& header, const std::string& file) {
  const auto names = split_csv_line(header);
  CsvLayout l;
  l.cells = names.size();
  size_t* slots[] = {&l.elapsed, &l.host, &l.gpu_index, &l.gpu_name, &l.util, &l.power};
  for (size_t c = 0; c < std::size(kCsvColumns); ++c) {
    const auto it = std::find(names.begin(), names.end(), kCsvColumns[c]);
    if (it == names.end()) {
      throw usage_error(fmt::format("{}: header lacks column {}", file, kCsvColumns[c]));
    }
    *slots[c] = static_cast<size_t>(it - names.begin());
  }
  return l;
}

}  // namespace

void check_gpu_metrics_csv(const fs::path& csv) {
  const std::string file = csv.filename().string();
  std::ifstream in(csv, std::ios::binary);
  if (!in) throw usage_error(fmt::format("{}: cannot be read", file));
  std::string header;
  if (!std::getline(in, header) || in.eof()) {
    throw usage_error(fmt::format("{}: truncated (no complete header line)", file));
  }
  const CsvLayout layout = csv_layout(header, file);
  // The tail: the file must end with a line break and its last record must be whole.
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff tail = std::min<std::streamoff>(size, 65536);
  std::string buf(static_cast<size_t>(tail), '\0');
  in.seekg(size - tail);
  in.read(buf.data(), tail);
  if (buf.empty() || buf.back() != '\n') {
    throw usage_error(fmt::format("{}: truncated (the last line is incomplete)", file));
  }
  const size_t end = buf.size() - 1;
  const size_t start = buf.rfind('\n', end - 1);
  if (start == std::string::npos && size > tail) {
    throw usage_error(fmt::format("{}: a line longer than 64 KiB", file));
  }
  const std::string last = buf.substr(start == std::string::npos ? 0 : start + 1,
                                      end - (start == std::string::npos ? 0 : start + 1));
  if (last != header && split_csv_line(last).size() != layout.cells) {
    throw usage_error(fmt::format("{}: truncated (the last line has {} cells, the header {})", file,
                                  split_csv_line(last).size(), layout.cells));
  }
}

std::vector<GpuSeries> read_gpu_timeseries(const fs::path& csv) {
  // The monitor's own reader: one column table for writing and reading, one set of rules for
  // what a cell may hold.
  std::vector<GpuSeries> series;
  std::map<std::pair<std::string, unsigned int>, size_t> slot;
  read_metrics_csv(csv, [&](const Tick& tick) {
    for (const auto& g : tick.gpus) {  // a host-only sample (no GPU visible) has none
      const auto key = std::make_pair(tick.host, g.index);
      auto it = slot.find(key);
      if (it == slot.end()) {
        it = slot.emplace(key, series.size()).first;
        series.push_back({key.first, key.second, g.name, {}, {}, {}});
      }
      GpuSeries& s = series[it->second];
      // An empty cell is not measured, not zero.
      s.elapsed_s.push_back(tick.elapsed_s);
      s.util_pct.push_back(g.gpu_util_pct.value_or(std::nan("")));
      s.power_w.push_back(g.power_w.value_or(std::nan("")));
    }
  });
  return series;
}

namespace {

const char* const kResultFiles[] = {"run.json",
                                    "nccl.json",
                                    "sft_metrics.json",
                                    "compute.json",
                                    "gpu_metrics_summary.json",
                                    "gpu_metrics.csv",
                                    "validation.json",
                                    "diagnose.json",
                                    "summary_report.md"};

bool holds_result_files(const fs::path& dir) {
  for (const char* f : kResultFiles) {
    if (fs::exists(dir / f)) return true;
  }
  return false;
}

// The identity of a standalone directory from the file it holds.
void identity_from_collectives(RunRecord& r, const CollectiveReport& c) {
  r.nodes = std::max(1, c.node_count);
  r.world_size = std::max(1, c.world_size);
  r.status = c.status;
  r.started_utc = c.started_utc;
  r.finished_utc = c.finished_utc;
  r.launcher = c.launcher;
  r.tool_version = c.tool_version;
  std::set<std::string> seen;
  for (const auto& rank : c.ranks) {
    if (seen.insert(rank.host).second) {
      HostInventory h;
      h.hostname = rank.host;
      h.mpi_library_version = c.mpi_library_version;
      if (c.params.backend == "nccl") h.nccl_version = c.library_version;
      r.hosts.push_back(h);
    }
  }
}

void finish_identity(RunRecord& r) {
  r.ranks_per_node = std::max(1, r.world_size / std::max(1, r.nodes));
  std::set<std::string> names;
  int most = 0;
  for (const auto& h : r.hosts) {
    most = std::max(most, static_cast<int>(h.gpu_names.size()));
    for (const auto& g : h.gpu_names) {
      if (names.insert(g).second) r.gpu_names.push_back(g);
    }
  }
  r.gpus_per_node = most;
  if (r.gpu_names.empty()) {
    // No inventory: the devices the measurements ran on.
    if (r.collectives) {
      for (const auto& d : r.collectives->devices) {
        if (names.insert(d).second) r.gpu_names.push_back(d);
      }
    } else if (r.training) {
      r.gpu_names.push_back(r.training->device_name);
    } else if (r.compute) {
      for (const auto& d : r.compute->devices) {
        if (names.insert(d).second) r.gpu_names.push_back(d);
      }
    }
  }
}

// The GPU name the limits are looked up by: the inventory's, else the measured devices'.
std::string limits_device_name(const RunRecord& r) {
  return r.gpu_names.empty() ? std::string() : r.gpu_names.front();
}

}  // namespace

RunRecord read_run_directory(const fs::path& dir, const ReadOptions& options) {
  RunRecord r;
  r.dir = dir;
  r.name = dir.filename().string();
  for (const char* f : kResultFiles) {
    if (fs::exists(dir / f)) r.files.push_back(f);
  }
  const bool has_run = fs::exists(dir / "run.json");
  std::optional<CollectiveReport> nccl;
  std::optional<json> sft, compute;
  json run;  // null without run.json

  if (has_run) {
    run = read_json(dir, "run.json");
    guarded("run.json", [&] {
      check_schema_version(run, "run.json", "run", 1);
      const Fields j(run, "run.json");
      r.kind = RunKind::run;
      r.status = j.str("status");
      r.error = j.opt_str("error");
      r.model = j.str("model");
      r.mode = j.str("mode");
      r.nodes = static_cast<int>(j.integer("nodes", 1, kMaxRanks));
      r.world_size = static_cast<int>(j.integer("world_size", 1, kMaxRanks));
      r.started_utc = j.str("started_utc");
      r.finished_utc = j.opt_str("finished_utc");
      r.launcher = j.opt_str("launcher");
      r.tool_version = j.opt_str("tool_version");
      for (const Fields& h : j.items("hosts")) r.hosts.push_back(read_host(h));
      if (r.nodes < 1 || r.world_size < r.nodes) {
        throw usage_error(fmt::format(
            "run.json: /nodes, /world_size: {} node(s) with {} rank(s) is not a job shape",
            r.nodes, r.world_size));
      }
      if (r.status == "running") {
        throw usage_error(
            "run.json: /status: 'running' with no finish: the run was killed or is still "
            "going");
      }
      if (r.status != "failed" && r.status != "complete" && r.status != "partial") {
        throw usage_error(fmt::format(
            "run.json: /status: expected complete, partial, failed or running, found '{}'",
            r.status));
      }
      if (r.status == "failed") return;
      // Every file a phase recorded as written must be there.
      for (const Fields& pf : j.items("phases")) {
        if (pf.str("status") != "ok") continue;
        for (const auto& f : pf.array("files")) {
          const std::string name = f.get<std::string>();
          if (!fs::exists(dir / name)) {
            throw usage_error(fmt::format("run.json: {}: phase {} ok with {}, which is missing",
                                          pf.pointer(), pf.str("name"), name));
          }
        }
      }
    });
    if (r.status == "failed") {
      finish_identity(r);
      return r;  // listed as failed; its figures are not used, so not read
    }
  } else {
    // A run directory lost its run.json: its other files cannot be attributed to a job.
    if (fs::exists(dir / "summary_report.md") || fs::exists(dir / "validation.json") ||
        r.name.starts_with("h200_benchmark_")) {
      throw usage_error("run.json is missing (the directory holds other files of `sxbench run`)");
    }
    if (fs::exists(dir / "nccl.json")) {
      r.kind = RunKind::nccl;
    } else if (fs::exists(dir / "sft_metrics.json")) {
      r.kind = RunKind::train;
    } else if (fs::exists(dir / "compute.json")) {
      r.kind = RunKind::compute;
    } else if (fs::exists(dir / "gpu_metrics_summary.json")) {
      r.kind = RunKind::monitor;
    } else if (fs::exists(dir / "diagnose.json")) {
      r.kind = RunKind::diagnose;
    } else {
      throw usage_error(
          "no result files (run.json, nccl.json, sft_metrics.json, compute.json, "
          "gpu_metrics_summary.json, diagnose.json)");
    }
    r.mode = run_kind_name(r.kind);
    r.status = "complete";
  }

  if (fs::exists(dir / "nccl.json")) {
    const json j = read_json(dir, "nccl.json");
    check_schema_version(j, "nccl.json", "nccl", 1);
    nccl = guarded("nccl.json", [&] { return j.get<CollectiveReport>(); });
    if (nccl->status != "complete") {
      throw usage_error(
          fmt::format("nccl.json: /status: '{}': the sweep did not finish", nccl->status));
    }
    r.collectives = read_collectives(*nccl);
    if (!has_run) identity_from_collectives(r, *nccl);
  }
  if (fs::exists(dir / "sft_metrics.json")) {
    sft = read_json(dir, "sft_metrics.json");
    check_schema_version(*sft, "sft_metrics.json", "sft_metrics", 1);
    const std::string st = sft->is_object() ? sft->value("status", std::string()) : std::string();
    if (st == "partial") {
      // An interrupted training: listed with the skipped directories, saying how far it got and
      // why it stopped; its figures are not compared with complete runs.
      const auto count = [&](const char* key) {
        const auto it = sft->find(key);
        return it != sft->end() && it->is_number_integer() ? std::to_string(it->get<int64_t>())
                                                           : std::string("?");
      };
      const auto err = sft->find("error");
      throw usage_error(fmt::format(
          "sft_metrics.json: status 'partial': training stopped after {} of {} steps{}",
          count("steps_completed"), count("steps"),
          err != sft->end() && err->is_string() ? " (" + err->get<std::string>() + ")" : ""));
    }
    if (st != "complete") {
      throw usage_error(fmt::format("sft_metrics.json: /status: '{}'", st));
    }
    r.training = guarded("sft_metrics.json", [&] { return read_training(*sft); });
    if (!has_run && r.kind == RunKind::train) {
      r.model = r.training->model_name;
      r.nodes = std::max(1, r.training->node_count);
      r.world_size = std::max(1, r.training->world_size);
      r.started_utc = sft->value("started_utc", std::string());
      r.finished_utc = sft->value("finished_utc", std::string());
      r.launcher = sft->value("launcher", std::string());
      r.tool_version = sft->value("tool_version", std::string());
    }
  }
  if (fs::exists(dir / "compute.json")) {
    compute = read_json(dir, "compute.json");
    check_schema_version(*compute, "compute.json", "compute", 1);
    const ComputeReport c = guarded("compute.json", [&] { return compute->get<ComputeReport>(); });
    r.compute = read_compute(c);
    if (!has_run && r.kind == RunKind::compute) {
      r.status = c.status;
      r.started_utc = c.started_utc;
      r.finished_utc = c.finished_utc;
      r.tool_version = c.tool_version;
      if (c.status != "complete") {
        throw usage_error(fmt::format("compute.json: /status: '{}'", c.status));
      }
    }
  }
  // Kept for the power check when the directory has no validation.json.
  std::optional<json> metrics_summary;
  if (fs::exists(dir / "gpu_metrics_summary.json")) {
    const json& j = metrics_summary.emplace(read_json(dir, "gpu_metrics_summary.json"));
    // Files written before the field was added carry none: they are version 1.
    check_schema_version(j, "gpu_metrics_summary.json", "gpu_metrics_summary", 1, 1);
    r.gpu_metrics = guarded("gpu_metrics_summary.json", [&] { return read_gpu_metrics(j, dir, run, sft.value_or(json())); });
    if (!has_run && r.kind == RunKind::monitor) {
      r.started_utc = j.value("started_utc", std::string());
      r.finished_utc = j.value("finished_utc", std::string());
      r.tool_version = j.value("tool_version", std::string());
      HostInventory h;
      h.hostname = j.value("host", std::string());
      for (const auto& g : r.gpu_metrics->gpus) h.gpu_names.push_back(g.name);
      h.nvidia_driver_version = j.value("driver_version", std::string());
      r.hosts.push_back(h);
    }
  }
  if (fs::exists(dir / "gpu_metrics.csv")) check_gpu_metrics_csv(dir / "gpu_metrics.csv");
  if (fs::exists(dir / "validation.json")) {
    const json j = read_json(dir, "validation.json");
    check_schema_version(j, "validation.json", "validation", 1);
    r.validation = guarded("validation.json", [&] { return read_validation(j); });
  }
  if (fs::exists(dir / "preflight.json")) {
    const json j = read_json(dir, "preflight.json");
    check_schema_version(j, "preflight.json", "preflight", 1);
    r.preflight = guarded("preflight.json", [&] { return read_preflight(j); });
  }
  if (fs::exists(dir / "diagnose.json")) {
    const json j = read_json(dir, "diagnose.json");
    check_schema_version(j, "diagnose.json", "diagnose", 1);
    r.diagnose = guarded("diagnose.json", [&] { return read_diagnose(j); });
    if (!has_run && r.kind == RunKind::diagnose) {
      r.world_size = r.diagnose->world_size;
      r.nodes = r.diagnose->nodes;
      r.started_utc = j.value("created_utc", std::string());
      r.finished_utc = r.started_utc;
      r.tool_version = j.value("tool_version", std::string());
      if (j.contains("hosts") && j["hosts"].is_array()) {
        std::set<std::string> seen;
        for (const auto& h : j["hosts"]) {
          if (h.is_string() && seen.insert(h.get<std::string>()).second) {
            HostInventory hi;
            hi.hostname = h.get<std::string>();
            r.hosts.push_back(hi);
          }
        }
      }
    }
  }
  finish_identity(r);

  if (!r.validation && options.specs && (nccl || sft || compute)) {
    const JobLimits limits =
        job_limits(*options.specs, limits_device_name(r), r.nodes,
                   std::max(1, r.gpus_per_node > 0 ? r.gpus_per_node : r.ranks_per_node),
                   options.records ? *options.records : std::vector<Record>{});
    ValidationReport v;
    if (nccl) v.add(validate_collectives(*nccl, limits));
    if (compute) v.add(validate_compute(*compute, limits.records));
    if (sft) v.add(validate_training(*sft, limits));
    if (metrics_summary) v.add(validate_gpu_power(*metrics_summary, limits));
    r.validation = summarize(v, "sxbench report");
  }
  return r;
}

GpuTotals totals_over(const std::vector<GpuStat>& gpus) {
  GpuTotals t;
  std::vector<double> util, sm, power;
  for (const auto& g : gpus) {
    if (g.util_mean_pct) util.push_back(*g.util_mean_pct);
    if (g.sm_activity_mean_pct) sm.push_back(*g.sm_activity_mean_pct);
    if (g.power_mean_w) power.push_back(*g.power_mean_w);
    if (g.util_max_pct) t.util_max_pct = std::max(t.util_max_pct.value_or(0), *g.util_max_pct);
    if (g.power_max_w) t.power_max_w = std::max(t.power_max_w.value_or(0), *g.power_max_w);
    if (g.energy_j) t.energy_j = t.energy_j.value_or(0) + *g.energy_j;
  }
  auto mean = [](const std::vector<double>& v) -> std::optional<double> {
    if (v.empty()) return std::nullopt;
    double sum = 0;
    for (double x : v) sum += x;
    return sum / static_cast<double>(v.size());
  };
  t.util_mean_pct = mean(util);
  t.sm_activity_mean_pct = mean(sm);
  t.power_mean_w = mean(power);
  return t;
}

const GpuWindow* GpuMetrics::training_window() const {
  for (const char* name : {kTrainingWindow, "sft"}) {
    for (const auto& w : windows) {
      if (w.name == name) return &w;
    }
  }
  return nullptr;
}

std::vector<const RunRecord*> Aggregate::usable() const {
  std::vector<const RunRecord*> out;
  for (const auto& r : runs) {
    if (r.usable()) out.push_back(&r);
  }
  return out;
}

std::vector<RunGroup> Aggregate::training_groups() const {
  std::map<std::pair<std::string, int>, RunGroup> groups;
  for (const auto& r : runs) {
    if (!r.usable() || !r.training) continue;
    auto& g = groups[{r.training->model_name, r.nodes}];
    g.model = r.training->model_name;
    g.nodes = r.nodes;
    g.runs.push_back(&r);
  }
  std::vector<RunGroup> out;
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  return out;
}

Aggregate aggregate_results(const fs::path& results_dir, const ReadOptions& options) {
  std::error_code ec;
  if (!fs::exists(results_dir, ec)) {
    throw usage_error(fmt::format("results directory {} does not exist", results_dir.string()));
  }
  if (!fs::is_directory(results_dir, ec)) {
    throw usage_error(fmt::format("results directory {} is not a directory", results_dir.string()));
  }
  Aggregate a;
  a.results_dir = results_dir;
  std::vector<fs::path> dirs;
  if (holds_result_files(results_dir)) {
    dirs.push_back(results_dir);
  } else {
    for (const auto& e : fs::directory_iterator(results_dir)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      // A link that cannot be followed (a loop, a dangling target) is listed, never fatal.
      std::error_code dir_ec;
      const bool is_dir = e.is_directory(dir_ec);
      if (dir_ec) {
        a.skipped.push_back({e.path(), fmt::format("cannot read: {}", dir_ec.message())});
        continue;
      }
      if (is_dir) dirs.push_back(e.path());
    }
    std::sort(dirs.begin(), dirs.end());
  }
  for (const auto& d : dirs) {
    try {
      a.runs.push_back(read_run_directory(d, options));
    } catch (const Error& e) {
      a.skipped.push_back({d, e.what()});
    } catch (const fs::filesystem_error& e) {
      a.skipped.push_back({d, e.what()});
    }
  }
  return a;
}

}  // namespace sxb::report
