#include "report/results/result_files.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "core/atomic_file.hpp"
#include "monitor/windows.hpp"

namespace sxb::report::result_files {

namespace {
// Bounds for the integers of result files: widths and lengths (a model dimension, a sequence
// length, a batch) and totals (parameters, sequences); counts are bounded by kMaxRanks. Far above
// any real run, far below where products overflow.
constexpr int64_t kMaxWidth = int64_t{1} << 24;
constexpr int64_t kMaxCount = int64_t{1} << 50;
}  // namespace

namespace fs = std::filesystem;

namespace {

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

void read_gpu_block(const Fields& s, const std::string& host, GpuMetrics& out) {
  for (const Fields& gf : s.items("gpus")) {
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
    if (gf.has("gpm")) {
      const Fields gpm = gf.at("gpm");
      if (gpm.has("sm_activity_pct")) st.sm_activity_mean_pct = gpm.at("sm_activity_pct").opt_num("mean");
    }
    out.gpus.push_back(st);
  }
}

}  // namespace

json read_json(const fs::path& dir, const char* name) {
  return read_json_file(dir / name);
}

HostInventory read_host(const Fields& h) {
  HostInventory out;
  out.hostname = h.str("hostname");
  out.os = h.opt_str("os");
  out.kernel = h.opt_str("kernel");
  out.cpu_model = h.opt_str("cpu_model");
  out.cpu_count = h.has("cpu_count") ? static_cast<int>(h.integer("cpu_count", 0, kMaxRanks)) : 0;
  out.memory_bytes = h.has("memory_bytes") ? static_cast<uint64_t>(h.integer("memory_bytes", 0, INT64_MAX)) : 0;
  out.nvidia_driver_version = h.opt_str("nvidia_driver_version");
  out.cuda_driver_api = h.opt_str("cuda_driver_api");
  out.cuda_runtime_version = h.opt_str("cuda_runtime_version");
  out.nccl_version = h.opt_str("nccl_version");
  out.mpi_library_version = h.opt_str("mpi_library_version");
  for (const Fields& gf : h.items("gpus")) {
    out.gpu_names.push_back(gf.str("name"));
    if (out.gpu_memory_bytes == 0 && gf.has("memory_bytes")) {
      out.gpu_memory_bytes = static_cast<uint64_t>(gf.integer("memory_bytes"));
    }
  }
  if (h.has("nics")) {
    for (const Fields& nf : h.items("nics")) {
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
  t.shape.hidden = model.integer("hidden_size", 1, kMaxWidth);
  t.shape.layers = model.integer("num_hidden_layers", 1, kMaxWidth);
  t.shape.heads = model.integer("num_attention_heads", 1, kMaxWidth);
  t.shape.kv_heads = model.integer("num_key_value_heads", 1, kMaxWidth);
  t.shape.ffn = model.integer("intermediate_size", 1, kMaxWidth);
  t.shape.vocab = model.integer("vocab_size", 1, kMaxWidth);
  t.shape.params = model.integer("parameter_count", 1, kMaxCount);
  t.world_size = static_cast<int>(m.integer("world_size", 1, kMaxRanks));
  t.node_count = static_cast<int>(m.integer("node_count", 1, kMaxRanks));
  t.tokens_per_s = m.num("tokens_per_s");
  t.tokens_per_s_per_device = m.num("tokens_per_s_per_device");
  t.samples_per_s = m.num("samples_per_s");
  t.sample_definition = m.opt_str("sample_definition");
  t.model_tflops_per_device = m.opt_num("model_tflops_per_s_per_device");
  t.mfu = m.opt_num("mfu");
  t.mfu_note = m.opt_str("mfu_note");
  t.step_time_s = read_step_stats(m.at("step_time_s"));
  t.seq_len = m.integer("seq_len", 1, kMaxWidth);
  const Fields batch = m.at("batch");
  t.micro_batch = batch.integer("train_micro_batch_size_per_gpu", 1, kMaxWidth);
  t.grad_accum = batch.integer("gradient_accumulation_steps", 1, kMaxWidth);
  t.global_batch = batch.integer("train_batch_size", 1, kMaxCount);
  const Fields zero = m.at("zero_stage");
  t.zero_stage_requested = static_cast<int>(zero.integer("requested", 0, 3));
  t.zero_stage_applied = static_cast<int>(zero.integer("applied", 0, 3));
  const Fields rc = m.at("activation_recomputation");
  t.recompute_requested = rc.str("requested");
  if (t.recompute_requested != "auto" && !parse_recompute_name(t.recompute_requested)) {
    throw usage_error(fmt::format("sft_metrics.json: field activation_recomputation.requested is "
                                  "'{}', not auto, none, selective or full",
                                  t.recompute_requested));
  }
  t.recompute_applied = rc.boolean("applied");
  const std::string mode = rc.str("mode");
  const auto parsed = parse_recompute_name(mode);
  if (!parsed) {
    throw usage_error(fmt::format(
        "sft_metrics.json: field activation_recomputation.mode is '{}', not none, selective or full",
        mode));
  }
  t.recompute_mode = *parsed;
  if (m.has("precision")) {
    t.precision_requested = m.at("precision").opt_str("requested");
    t.precision_computed = m.at("precision").opt_str("computed");
  }
  t.loss_start = m.opt_num("initial_loss");
  t.loss_end = m.opt_num("final_loss");
  t.exposed_communication_share = m.opt_num("exposed_communication_share");
  if (m.has("peak_memory_bytes")) {
    t.device_used_peak_bytes = m.at("peak_memory_bytes").opt_num("device_used_peak_bytes");
  }
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
  // The engine's attention at each shape: the kernel training runs there, both directions.
  for (const auto& a : r.attention) {
    if (!a.engine_default) continue;
    const auto& s = a.shape;
    c.headlines.push_back(
        {"attention",
         fmt::format("attention {} {} {}x{}x{}x{}x{}{}", a.direction, a.kernel, s.batch, s.heads,
                     s.kv_heads, s.seq, s.head_dim,
                     s.window > 0 && s.window < s.seq ? fmt::format(" window {}", s.window)
                                                      : std::string()),
         a.device, a.tflop_per_s, "TFLOP/s", "", std::nullopt, std::nullopt});
  }
  c.ceilings = node_ceilings(r);
  for (const auto& s : r.skipped) c.skipped.push_back(s.test + ": " + s.reason);
  c.gemm_checks = static_cast<int>(r.gemm_checks.size());
  c.gemm_checks_failed = static_cast<int>(std::count_if(
      r.gemm_checks.begin(), r.gemm_checks.end(), [](const GemmCheck& g) { return !g.passed; }));
  return c;
}

GpuWindow read_window(const Fields& w) {
  GpuWindow out;
  out.name = w.str("name");
  out.source = w.str("source");
  out.samples = static_cast<size_t>(w.integer("samples"));
  out.note = w.opt_str("note");
  GpuMetrics one;
  read_gpu_block(w, "", one);
  out.gpus = static_cast<int>(one.gpus.size());
  const GpuTotals t = totals_over(one.gpus);
  out.util_mean_pct = t.util_mean_pct;
  out.sm_activity_mean_pct = t.sm_activity_mean_pct;
  out.power_mean_w = t.power_mean_w;
  out.energy_j = t.energy_j;
  return out;
}

void read_windows(const Fields& pw, const std::string& source, GpuMetrics& g) {
  if (pw.has("error")) {
    g.windows_note = "not summarised when the run ended: " + pw.str("error");
    return;
  }
  for (const Fields& w : pw.items("windows")) g.windows.push_back(read_window(w));
  g.windows_source = source;
}

GpuMetrics read_gpu_metrics(const json& j, const fs::path& dir, const json& run_json,
                            const json& sft_metrics) {
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
      read_gpu_block(Fields(block, "gpu_metrics_summary.json", pointer_child("/hosts", host)),
                     host, g);
      if (block.value("gpu_metrics", false)) g.gpu_metrics = true;
    }
  } else {
    read_gpu_block(s, s.opt_str("host"), g);
  }
  if (fs::exists(dir / "gpu_metrics.csv")) g.csv = dir / "gpu_metrics.csv";
  if (s.has("phase_windows")) {
    read_windows(s.at("phase_windows"), "gpu_metrics_summary.json /phase_windows", g);
  } else if (!g.csv.empty() && g.gpu_metrics) {
    // A summary written before windows were recorded: the same summaries from the samples.
    const auto windows = run_windows(run_json, sft_metrics);
    if (windows.empty()) {
      g.windows_note = "no phase or training times recorded (run.json, sft_metrics.json)";
    } else {
      const json computed = summarize_windows(g.csv, windows, g.interval_s);
      read_windows(Fields(computed, "gpu_metrics.csv"),
                   "computed by the report from gpu_metrics.csv (this summary predates "
                   "phase_windows)",
                   g);
    }
  }
  return g;
}

ValidationSummary read_validation(const json& j) {
  const Fields v(j, "validation.json");
  ValidationSummary s;
  s.source = "validation.json";
  s.passed = v.boolean("passed");
  const Fields c = v.at("counts");
  s.ok = static_cast<int>(c.integer("ok", 0, kMaxRanks));
  s.warning = static_cast<int>(c.integer("warning", 0, kMaxRanks));
  s.failed = static_cast<int>(c.integer("failed", 0, kMaxRanks));
  s.impossible = static_cast<int>(c.integer("impossible", 0, kMaxRanks));
  // Files written before records were compared carry neither key.
  if (c.has("implausible")) s.implausible = static_cast<int>(c.integer("implausible", 0, kMaxRanks));
  for (const Fields& ff : v.items("findings")) {
    s.findings.push_back({ff.str("check"), ff.str("subject"), ff.str("verdict"), ff.opt_str("unit"),
                          ff.opt_str("arithmetic"), ff.opt_num("measured"), ff.opt_num("limit"),
                          ff.opt_str("record"),
                          ff.has("implausible") ? ff.boolean("implausible") : false});
  }
  return s;
}

PreflightSummary read_preflight(const json& j) {
  const Fields top(j, "preflight.json");
  PreflightSummary s;
  std::vector<Fields> hosts;
  if (top.has("hosts")) {
    hosts = top.items("hosts");
  } else {
    hosts.push_back(top);
  }
  s.hosts = static_cast<int>(hosts.size());
  for (const Fields& h : hosts) {
    const std::string host = h.str("hostname");
    const Fields c = h.at("counts");
    s.pass += static_cast<int>(c.integer("pass", 0, kMaxRanks));
    s.warn += static_cast<int>(c.integer("warn", 0, kMaxRanks));
    s.fail += static_cast<int>(c.integer("fail", 0, kMaxRanks));
    s.unknown += static_cast<int>(c.integer("unknown", 0, kMaxRanks));
    s.all_passed = s.all_passed && h.boolean("passed");
    for (const Fields& ck : h.items("checks")) {
      const std::string verdict = ck.str("verdict");
      if (verdict != "warn" && verdict != "fail") continue;
      s.not_passed.push_back({host, ck.str("id"), ck.str("subject"), ck.str("found"),
                              ck.str("expected"), verdict, ck.opt_str("note")});
    }
  }
  if (top.has("differences")) {
    for (const Fields& d : top.items("differences")) {
      std::string values;
      for (const Fields& v : d.items("values")) {
        values += fmt::format("{}{}: {}", values.empty() ? "" : "; ", v.str("host"), v.str("found"));
      }
      s.differences.push_back(fmt::format("{} {}: {}", d.str("check"), d.str("subject"), values));
    }
  }
  return s;
}

namespace {

DiagnoseVerdict read_verdict(const Fields& v) {
  DiagnoseVerdict d;
  d.unit = v.str("unit");
  d.median = v.num("median");
  d.reference = v.num("reference");
  d.deviation = v.num("deviation_fraction");
  d.noise = v.num("noise_fraction");
  d.allowed = v.num("allowed_fraction");
  d.standing = v.str("standing");
  if (d.standing != "ok" && d.standing != "slow" && d.standing != "inconclusive") {
    v.invalid(fmt::format("standing '{}' is not ok, slow or inconclusive", d.standing));
  }
  d.reason = v.str("reason");
  return d;
}

}  // namespace

DiagnoseSummary read_diagnose(const json& j) {
  const Fields top(j, "diagnose.json");
  DiagnoseSummary s;
  s.device = top.str("device");
  s.world_size = static_cast<int>(top.integer("world_size", 1, kMaxRanks));
  s.nodes = static_cast<int>(top.integer("nodes", 1, kMaxRanks));
  const Fields settings = top.at("settings");
  s.samples = static_cast<int>(settings.integer("samples", 1, kMaxRanks));
  s.threshold = settings.num("threshold_fraction");
  s.noise_multiple = settings.num("noise_multiple");
  s.verdict = top.str("verdict");
  s.slow = static_cast<int>(top.integer("slow", 0, kMaxRanks));
  s.inconclusive = static_cast<int>(top.integer("inconclusive", 0, kMaxRanks));
  for (const Fields& c : top.items("components")) {
    DiagnoseComponent dc;
    dc.metric = c.str("metric");
    dc.unit = c.str("unit");
    dc.what = c.str("what");
    dc.job_median = c.num("job_median");
    for (const Fields& v : c.items("ranks")) dc.ranks.push_back(read_verdict(v));
    if (c.has("against_baseline")) {
      for (const Fields& v : c.items("against_baseline")) dc.against_baseline.push_back(read_verdict(v));
    }
    s.components.push_back(std::move(dc));
  }
  if (top.has("node_all_reduce")) {
    // Each node's intra-node all_reduce: shown as one more component, the nodes its units.
    const Fields na = top.at("node_all_reduce");
    const auto units = na.items("units");
    if (!units.empty()) {
      DiagnoseComponent dc;
      dc.metric = "node_all_reduce_busbw";
      dc.unit = "GB/s";
      dc.what = na.str("what");
      dc.job_median = na.num("job_median");
      for (const Fields& v : units) dc.ranks.push_back(read_verdict(v));
      s.components.push_back(std::move(dc));
    }
  }
  const Fields p = top.at("pairs");
  s.pairs.mode = p.str("mode");
  s.pairs.note = p.opt_str("note");
  if (p.has("units")) {
    s.pairs.what = p.str("what");
    for (const auto& u : p.array("units")) {
      if (!u.is_string()) p.invalid("units: expected strings");
      s.pairs.units.push_back(u.get<std::string>());
    }
    const size_t n = s.pairs.units.size();
    s.pairs.matrix.assign(n, std::vector<double>(n, std::nan("")));
    for (const Fields& e : p.items("pairs")) {
      const auto a = static_cast<size_t>(e.integer("a", 0, static_cast<int64_t>(n) - 1));
      const auto b = static_cast<size_t>(e.integer("b", 0, static_cast<int64_t>(n) - 1));
      if (a == b) e.invalid("a pair of a unit with itself");
      s.pairs.pairs.push_back(read_verdict(e));
      s.pairs.pair_units.emplace_back(static_cast<int>(a), static_cast<int>(b));
      s.pairs.matrix[a][b] = s.pairs.matrix[b][a] = s.pairs.pairs.back().median;
    }
    for (const Fields& b : p.items("blamed_units")) s.pairs.blamed_units.push_back(b.str("unit"));
    for (const Fields& l : p.items("slow_links")) s.pairs.slow_links.push_back(l.str("link"));
  }
  for (const Fields& nm : top.items("named")) {
    s.named.push_back({nm.str("unit"), nm.str("what"), nm.str("reason")});
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
  s.implausible = r.implausible();
  for (const auto& f : r.findings) {
    s.findings.push_back({f.check, f.subject, verdict_name(f.verdict), f.unit, f.arithmetic,
                          f.measured, f.limit, f.record, f.implausible});
  }
  return s;
}

}  // namespace sxb::report::result_files
