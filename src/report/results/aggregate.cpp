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
#include "core/units.hpp"
#include "monitor/metrics_csv.hpp"
#include "validate/findings.hpp"

namespace sxb::report {

namespace fs = std::filesystem;
using nlohmann::json;

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

// Field access into one file's JSON; every error names the file and the field path, so a
// skipped directory's reason says exactly what is wrong.
class Fields {
 public:
  Fields(const json& j, std::string file, std::string path = "")
      : j_(j), file_(std::move(file)), path_(std::move(path)) {}

  bool has(const char* key) const {
    return j_.is_object() && j_.contains(key) && !j_[key].is_null();
  }
  const json& raw() const { return j_; }

  Fields at(const char* key) const {
    if (!j_.is_object() || !j_.contains(key)) fail(key, "is missing");
    return Fields(j_[key], file_, path_ + key + ".");
  }
  double num(const char* key) const {
    const json& v = get(key);
    if (!v.is_number()) fail(key, "is not a number");
    return v.get<double>();
  }
  std::optional<double> opt_num(const char* key) const {
    if (!has(key)) return std::nullopt;
    if (!j_[key].is_number()) fail(key, "is not a number");
    return j_[key].get<double>();
  }
  int64_t integer(const char* key) const {
    const json& v = get(key);
    if (!v.is_number_integer()) fail(key, "is not an integer");
    return v.get<int64_t>();
  }
  std::string str(const char* key) const {
    const json& v = get(key);
    if (!v.is_string()) fail(key, "is not a string");
    return v.get<std::string>();
  }
  std::string opt_str(const char* key) const {
    if (!has(key)) return {};
    if (!j_[key].is_string()) fail(key, "is not a string");
    return j_[key].get<std::string>();
  }
  bool boolean(const char* key) const {
    const json& v = get(key);
    if (!v.is_boolean()) fail(key, "is not true/false");
    return v.get<bool>();
  }
  const json& array(const char* key) const {
    const json& v = get(key);
    if (!v.is_array()) fail(key, "is not an array");
    return v;
  }

 private:
  const json& get(const char* key) const {
    if (!j_.is_object() || !j_.contains(key)) fail(key, "is missing");
    return j_[key];
  }
  [[noreturn]] void fail(const char* key, const char* what) const {
    throw usage_error(fmt::format("{}: field {}{} {}", file_, path_, key, what));
  }

  const json& j_;
  std::string file_, path_;
};

json read_json(const fs::path& dir, const char* name) {
  return read_json_file(dir / name);  // one-line error with path and position on bad syntax
}

// Runs a reader on a parsed file; a type error inside nlohmann becomes a one-line error naming
// the file.
template <typename F>
auto guarded(const char* file, F&& f) {
  try {
    return f();
  } catch (const json::exception& e) {
    throw usage_error(fmt::format("{}: {}", file, e.what()));
  }
}

HostInventory read_host(const Fields& h) {
  HostInventory out;
  out.hostname = h.str("hostname");
  out.os = h.opt_str("os");
  out.kernel = h.opt_str("kernel");
  out.cpu_model = h.opt_str("cpu_model");
  out.cpu_count = h.has("cpu_count") ? static_cast<int>(h.integer("cpu_count")) : 0;
  out.memory_bytes = h.has("memory_bytes") ? static_cast<uint64_t>(h.integer("memory_bytes")) : 0;
  out.nvidia_driver_version = h.opt_str("nvidia_driver_version");
  out.cuda_driver_api = h.opt_str("cuda_driver_api");
  out.cuda_runtime_version = h.opt_str("cuda_runtime_version");
  out.nccl_version = h.opt_str("nccl_version");
  out.mpi_library_version = h.opt_str("mpi_library_version");
  for (const auto& g : h.array("gpus")) {
    Fields gf(g, "run.json", "hosts[].gpus[].");
    out.gpu_names.push_back(gf.str("name"));
    if (out.gpu_memory_bytes == 0 && gf.has("memory_bytes")) {
      out.gpu_memory_bytes = static_cast<uint64_t>(gf.integer("memory_bytes"));
    }
  }
  if (h.has("nics")) {
    for (const auto& n : h.array("nics")) {
      Fields nf(n, "run.json", "hosts[].nics[].");
      std::string text = nf.str("name") + " (" + nf.opt_str("kind");
      if (!nf.opt_str("link_layer").empty()) text += ", " + nf.opt_str("link_layer");
      const double rate = nf.opt_num("rate_gbit_per_s").value_or(0);
      if (rate > 0) text += fmt::format(", {:g} Gbit/s", rate);
      if (!nf.opt_str("state").empty()) text += ", " + nf.opt_str("state");
      out.nics.push_back(text + ")");
    }
  }
  return out;
}

StepTimeStats read_step_stats(const Fields& s) {
  StepTimeStats t;
  t.median = s.num("median");
  t.p10 = s.num("p10");
  t.p90 = s.num("p90");
  t.mean = s.opt_num("mean").value_or(t.median);
  t.min = s.opt_num("min").value_or(t.p10);
  t.max = s.opt_num("max").value_or(t.p90);
  t.count = s.has("count") ? s.integer("count") : 0;
  return t;
}

TrainingMetrics read_training(const json& j) {
  const Fields m(j, "sft_metrics.json");
  TrainingMetrics t;
  t.engine = m.str("engine");
  const Fields dev = m.at("device");
  t.device_kind = dev.str("kind");
  t.device_name = dev.str("name");
  const Fields model = m.at("model");
  t.model_name = model.str("name");
  t.shape.name = t.model_name;
  t.shape.hidden = model.integer("hidden_size");
  t.shape.layers = model.integer("num_hidden_layers");
  t.shape.heads = model.integer("num_attention_heads");
  t.shape.kv_heads = model.integer("num_key_value_heads");
  t.shape.ffn = model.integer("intermediate_size");
  t.shape.vocab = model.integer("vocab_size");
  t.shape.params = model.integer("parameter_count");
  t.world_size = static_cast<int>(m.integer("world_size"));
  t.node_count = static_cast<int>(m.integer("node_count"));
  t.tokens_per_s = m.num("tokens_per_s");
  t.tokens_per_s_per_device = m.num("tokens_per_s_per_device");
  t.samples_per_s = m.num("samples_per_s");
  t.sample_definition = m.opt_str("sample_definition");
  t.model_tflops_per_device = m.opt_num("model_tflops_per_s_per_device");
  t.mfu = m.opt_num("mfu");
  t.mfu_note = m.opt_str("mfu_note");
  t.step_time_s = read_step_stats(m.at("step_time_s"));
  t.seq_len = m.integer("seq_len");
  const Fields batch = m.at("batch");
  t.micro_batch = batch.integer("train_micro_batch_size_per_gpu");
  t.grad_accum = batch.integer("gradient_accumulation_steps");
  t.global_batch = batch.integer("train_batch_size");
  const Fields zero = m.at("zero_stage");
  t.zero_stage_requested = static_cast<int>(zero.integer("requested"));
  t.zero_stage_applied = static_cast<int>(zero.integer("applied"));
  const Fields rc = m.at("activation_recomputation");
  t.recompute_requested = rc.boolean("requested");
  t.recompute_applied = rc.boolean("applied");
  if (m.has("precision")) {
    t.precision_requested = m.at("precision").opt_str("requested");
    t.precision_computed = m.at("precision").opt_str("computed");
  }
  t.loss_start = m.opt_num("initial_loss");
  t.loss_end = m.opt_num("final_loss");
  t.exposed_communication_share = m.opt_num("exposed_communication_share");
  t.timing_method = m.opt_str("timing_method");
  if (m.has("communication")) t.communication_library = m.at("communication").opt_str("library");
  return t;
}

Collectives read_collectives(const CollectiveReport& r) {
  Collectives c;
  c.status = r.status;
  c.backend = r.params.backend;
  c.library_version = r.library_version;
  c.mpi_library_version = r.mpi_library_version;
  c.method = r.method;
  c.world_size = r.world_size;
  c.node_count = r.node_count;
  std::set<std::string> devices;
  for (const auto& rank : r.ranks) {
    if (devices.insert(rank.device).second) c.devices.push_back(rank.device);
  }
  for (const auto& s : r.summary) {
    CollectiveOp op;
    op.op = s.op;
    op.summary = s;
    for (const auto& row : r.rows) {
      if (row.op != s.op) continue;
      op.dtype = row.dtype;
      op.sizes.push_back({row.size_bytes, row.out_of_place, row.in_place});
    }
    std::sort(op.sizes.begin(), op.sizes.end(),
              [](const CollectiveSize& a, const CollectiveSize& b) {
                return a.size_bytes < b.size_bytes;
              });
    c.ops.push_back(std::move(op));
  }
  return c;
}

ComputeFigures read_compute(const ComputeReport& r) {
  ComputeFigures c;
  c.status = r.status;
  for (const auto& d : r.devices) c.devices.push_back(d.name);
  // Best GEMM rate per data type: square shapes when the run measured any (they are the
  // ceiling figures), else every shape.
  std::map<std::string, const GemmResult*> best;
  std::map<std::string, bool> best_is_square;
  for (const auto& g : r.gemm) {
    const bool square = g.group == "square";
    auto it = best.find(g.dtype);
    if (it == best.end() || (square && !best_is_square[g.dtype]) ||
        (square == best_is_square[g.dtype] && g.tflop_per_s > it->second->tflop_per_s)) {
      best[g.dtype] = &g;
      best_is_square[g.dtype] = square;
    }
  }
  for (const auto& [dtype, g] : best) {
    c.headlines.push_back(
        {"gemm",
         fmt::format("GEMM {} {}x{}x{} ({} {})", dtype, g->m, g->n, g->k, g->group, g->name),
         g->device, g->tflop_per_s, "TFLOP/s", g->spec.key, g->spec.value, g->spec.fraction});
  }
  std::map<std::pair<std::string, std::string>, const BandwidthResult*> best_bw;
  for (const auto& b : r.bandwidth) {
    auto& slot = best_bw[{b.test, b.variant}];
    if (slot == nullptr || b.gb_per_s > slot->gb_per_s) slot = &b;
  }
  for (const auto& [key, b] : best_bw) {
    std::string what = fmt::format("{} {}", key.first, key.second);
    if (b->src_device >= 0 && b->dst_device >= 0 && b->src_device != b->dst_device) {
      what += fmt::format(" gpu{}->gpu{}", b->src_device, b->dst_device);
    }
    const int device = b->src_device >= 0 ? b->src_device : b->dst_device;
    c.headlines.push_back({key.first, what, device, b->gb_per_s, "GB/s", b->spec.key, b->spec.value,
                           b->spec.fraction});
  }
  for (const auto& s : r.skipped) c.skipped.push_back(s.test + ": " + s.reason);
  c.gemm_checks = static_cast<int>(r.gemm_checks.size());
  c.gemm_checks_failed = static_cast<int>(std::count_if(
      r.gemm_checks.begin(), r.gemm_checks.end(), [](const GemmCheck& g) { return !g.passed; }));
  return c;
}

void read_gpu_block(const Fields& s, const std::string& host, GpuMetrics& out) {
  for (const auto& g : s.array("gpus")) {
    Fields gf(g, "gpu_metrics_summary.json", "gpus[].");
    GpuStat st;
    st.host = host;
    st.index = static_cast<unsigned int>(gf.integer("index"));
    st.name = gf.opt_str("name");
    st.samples = gf.has("samples") ? static_cast<size_t>(gf.integer("samples")) : 0;
    const Fields u = gf.at("utilization_gpu_pct");
    st.util_mean_pct = u.opt_num("mean");
    st.util_max_pct = u.opt_num("max");
    const Fields p = gf.at("power_w");
    st.power_mean_w = p.opt_num("mean");
    st.power_max_w = p.opt_num("max");
    if (gf.has("energy")) st.energy_j = gf.at("energy").opt_num("counter_j");
    out.gpus.push_back(st);
  }
}

GpuMetrics read_gpu_metrics(const json& j, const fs::path& dir) {
  const Fields s(j, "gpu_metrics_summary.json");
  GpuMetrics g;
  g.gpu_metrics = s.boolean("gpu_metrics");
  g.note = s.opt_str("gpu_note");
  g.interval_s = s.num("interval_s");
  g.duration_s = s.opt_num("duration_s");
  g.samples = static_cast<size_t>(s.integer("samples"));
  g.method = s.opt_str("method");
  if (s.has("host_metrics")) {
    const Fields hm = s.at("host_metrics");
    if (hm.has("cpu_util_pct")) g.host_cpu_util_mean_pct = hm.at("cpu_util_pct").opt_num("mean");
  }
  // A multi-node run records every host under "hosts" (rank 0's host also at the top level).
  if (s.has("hosts") && s.raw()["hosts"].is_object()) {
    for (const auto& [host, block] : s.raw()["hosts"].items()) {
      read_gpu_block(Fields(block, "gpu_metrics_summary.json", "hosts." + host + "."), host, g);
      if (block.value("gpu_metrics", false)) g.gpu_metrics = true;
    }
  } else {
    read_gpu_block(s, s.opt_str("host"), g);
  }
  if (fs::exists(dir / "gpu_metrics.csv")) g.csv = dir / "gpu_metrics.csv";
  return g;
}

ValidationSummary read_validation(const json& j) {
  const Fields v(j, "validation.json");
  ValidationSummary s;
  s.source = "validation.json";
  s.passed = v.boolean("passed");
  const Fields c = v.at("counts");
  s.ok = static_cast<int>(c.integer("ok"));
  s.warning = static_cast<int>(c.integer("warning"));
  s.failed = static_cast<int>(c.integer("failed"));
  s.impossible = static_cast<int>(c.integer("impossible"));
  for (const auto& f : v.array("findings")) {
    const Fields ff(f, "validation.json", "findings[].");
    s.findings.push_back({ff.str("check"), ff.str("subject"), ff.str("verdict"), ff.opt_str("unit"),
                          ff.opt_str("arithmetic"), ff.opt_num("measured"), ff.opt_num("limit")});
  }
  return s;
}

ValidationSummary summarize(const ValidationReport& r, const std::string& source) {
  ValidationSummary s;
  s.source = source;
  s.passed = r.passed();
  s.ok = r.count(Verdict::ok);
  s.warning = r.count(Verdict::warning);
  s.failed = r.count(Verdict::failed);
  s.impossible = r.count(Verdict::impossible);
  for (const auto& f : r.findings) {
    s.findings.push_back(
        {f.check, f.subject, verdict_name(f.verdict), f.unit, f.arithmetic, f.measured, f.limit});
  }
  return s;
}

// ---- gpu_metrics.csv ---------------------------------------------------------------------

// RFC 4180 cells of one line (the monitor quotes a cell holding a comma, quote or line break;
// its writer never puts a line break inside a cell, so a line is a record).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cell += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cell += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      cells.push_back(std::move(cell));
      cell.clear();
    } else {
      cell += ch;
    }
  }
  cells.push_back(std::move(cell));
  return cells;
}

// The columns read, in the order of CsvLayout's slots; names as the monitor's writer spells them.
constexpr std::string_view kCsvColumns[] = {
    metrics_csv_name::elapsed_s, metrics_csv_name::host,         metrics_csv_name::gpu_index,
    metrics_csv_name::gpu_name,  metrics_csv_name::gpu_util_pct, metrics_csv_name::power_w};

struct CsvLayout {
  size_t cells = 0;
  size_t elapsed = 0, host = 0, gpu_index = 0, gpu_name = 0, util = 0, power = 0;
};

CsvLayout csv_layout(const std::string& header, const std::string& file) {
  const auto names = split_csv(header);
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

double csv_number(const std::string& cell, const std::string& where) {
  if (cell.empty()) return std::nan("");
  char* end = nullptr;
  const double v = std::strtod(cell.c_str(), &end);
  if (end != cell.c_str() + cell.size()) {
    throw usage_error(fmt::format("{}: '{}' is not a number", where, cell));
  }
  return v;
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
  if (last != header && split_csv(last).size() != layout.cells) {
    throw usage_error(fmt::format("{}: truncated (the last line has {} cells, the header {})", file,
                                  split_csv(last).size(), layout.cells));
  }
}

std::vector<GpuSeries> read_gpu_timeseries(const fs::path& csv) {
  const std::string file = csv.filename().string();
  const std::string text = read_file(csv);
  if (text.empty() || text.back() != '\n') {
    throw usage_error(fmt::format("{}: truncated (the last line is incomplete)", file));
  }
  size_t pos = text.find('\n');
  const CsvLayout layout = csv_layout(text.substr(0, pos), file);
  std::vector<GpuSeries> series;
  std::map<std::pair<std::string, unsigned int>, size_t> slot;
  size_t line_no = 1;
  for (++pos; pos < text.size();) {
    const size_t eol = text.find('\n', pos);
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    const auto cells = split_csv(line);
    const std::string where = fmt::format("{}:{}", file, line_no);
    if (cells.size() != layout.cells) {
      throw usage_error(
          fmt::format("{}: {} cells, the header has {}", where, cells.size(), layout.cells));
    }
    if (cells[layout.gpu_index].empty()) continue;  // a host-only sample (no GPU visible)
    const double index = csv_number(cells[layout.gpu_index], where);
    const auto key = std::make_pair(cells[layout.host], static_cast<unsigned int>(index));
    auto it = slot.find(key);
    if (it == slot.end()) {
      it = slot.emplace(key, series.size()).first;
      series.push_back({key.first, key.second, cells[layout.gpu_name], {}, {}, {}});
    }
    GpuSeries& s = series[it->second];
    s.elapsed_s.push_back(csv_number(cells[layout.elapsed], where));
    s.util_pct.push_back(csv_number(cells[layout.util], where));
    s.power_w.push_back(csv_number(cells[layout.power], where));
  }
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

  if (has_run) {
    const json run = read_json(dir, "run.json");
    guarded("run.json", [&] {
      const Fields j(run, "run.json");
      const std::string schema = j.str("schema");
      if (schema != "sxbench.run/1") {
        throw usage_error(
            fmt::format("run.json: unknown schema '{}' (expected sxbench.run/1)", schema));
      }
      r.kind = RunKind::run;
      r.status = j.str("status");
      r.error = j.opt_str("error");
      r.model = j.str("model");
      r.mode = j.str("mode");
      r.nodes = static_cast<int>(j.integer("nodes"));
      r.world_size = static_cast<int>(j.integer("world_size"));
      r.started_utc = j.str("started_utc");
      r.finished_utc = j.opt_str("finished_utc");
      r.launcher = j.opt_str("launcher");
      r.tool_version = j.opt_str("tool_version");
      for (const auto& h : j.array("hosts"))
        r.hosts.push_back(read_host(Fields(h, "run.json", "hosts[].")));
      if (r.nodes < 1 || r.world_size < r.nodes) {
        throw usage_error(fmt::format("run.json: {} node(s) with {} rank(s) is not a job shape",
                                      r.nodes, r.world_size));
      }
      if (r.status == "running") {
        throw usage_error(
            "run.json: status 'running' with no finish: the run was killed or is "
            "still going");
      }
      if (r.status != "failed" && r.status != "complete" && r.status != "partial") {
        throw usage_error(fmt::format("run.json: unknown status '{}'", r.status));
      }
      if (r.status == "failed") return;
      // Every file a phase recorded as written must be there.
      for (const auto& p : j.array("phases")) {
        const Fields pf(p, "run.json", "phases[].");
        if (pf.str("status") != "ok") continue;
        for (const auto& f : pf.array("files")) {
          const std::string name = f.get<std::string>();
          if (!fs::exists(dir / name)) {
            throw usage_error(fmt::format("run.json records phase {} ok with {}, which is missing",
                                          pf.str("name"), name));
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
    } else {
      throw usage_error(
          "no result files (run.json, nccl.json, sft_metrics.json, compute.json, "
          "gpu_metrics_summary.json)");
    }
    r.mode = run_kind_name(r.kind);
    r.status = "complete";
  }

  if (fs::exists(dir / "nccl.json")) {
    const json j = read_json(dir, "nccl.json");
    nccl = guarded("nccl.json", [&] { return j.get<CollectiveReport>(); });
    if (nccl->schema != "sxbench.nccl/1") {
      throw usage_error(fmt::format("nccl.json: unknown schema '{}'", nccl->schema));
    }
    if (nccl->status != "complete") {
      throw usage_error(
          fmt::format("nccl.json: status '{}': the sweep did not finish", nccl->status));
    }
    r.collectives = read_collectives(*nccl);
    if (!has_run) identity_from_collectives(r, *nccl);
  }
  if (fs::exists(dir / "sft_metrics.json")) {
    sft = read_json(dir, "sft_metrics.json");
    r.training = guarded("sft_metrics.json", [&] { return read_training(*sft); });
    const std::string st = sft->value("status", std::string());
    if (st != "complete") {
      throw usage_error(fmt::format("sft_metrics.json: status '{}'", st));
    }
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
    const ComputeReport c = guarded("compute.json", [&] { return compute->get<ComputeReport>(); });
    r.compute = read_compute(c);
    if (!has_run && r.kind == RunKind::compute) {
      r.status = c.status;
      r.started_utc = c.started_utc;
      r.finished_utc = c.finished_utc;
      r.tool_version = c.tool_version;
      if (c.status != "complete") {
        throw usage_error(fmt::format("compute.json: status '{}'", c.status));
      }
    }
  }
  if (fs::exists(dir / "gpu_metrics_summary.json")) {
    const json j = read_json(dir, "gpu_metrics_summary.json");
    r.gpu_metrics = guarded("gpu_metrics_summary.json", [&] { return read_gpu_metrics(j, dir); });
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
    r.validation = guarded("validation.json", [&] { return read_validation(j); });
  }
  finish_identity(r);

  if (!r.validation && options.specs && (nccl || sft || compute)) {
    const JobLimits limits =
        job_limits(*options.specs, limits_device_name(r), r.nodes,
                   std::max(1, r.gpus_per_node > 0 ? r.gpus_per_node : r.ranks_per_node));
    ValidationReport v;
    if (nccl) v.add(validate_collectives(*nccl, limits));
    if (compute) v.add(validate_compute(*compute));
    if (sft) v.add(validate_training(*sft, limits));
    r.validation = summarize(v, "sxbench report");
  }
  return r;
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
      if (!e.is_directory() || name.empty() || name[0] == '.') continue;
      dirs.push_back(e.path());
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
