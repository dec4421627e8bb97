#include "report/results/targets.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "bench/collectives.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "core/units.hpp"
#include "monitor/windows.hpp"

namespace sxb::report {

namespace {

using nlohmann::json;

const char* metric_name(TargetMetric m) {
  switch (m) {
    case TargetMetric::gpu_utilization:
      return "gpu_utilization";
    case TargetMetric::scaling_efficiency:
      return "scaling_efficiency";
    case TargetMetric::nccl_busbw:
      return "nccl_busbw";
    case TargetMetric::tokens_per_s_per_gpu:
      return "tokens_per_s_per_gpu";
  }
  return "?";
}

const char* over_runs_name(OverRuns o) {
  switch (o) {
    case OverRuns::worst:
      return "worst";
    case OverRuns::best:
      return "best";
    case OverRuns::median:
      return "median";
  }
  return "?";
}

bool higher_is_better(Comparator c) {
  return c == Comparator::greater || c == Comparator::greater_equal;
}

}  // namespace

std::string comparator_text(Comparator c) {
  switch (c) {
    case Comparator::greater:
      return ">";
    case Comparator::greater_equal:
      return ">=";
    case Comparator::less:
      return "<";
    case Comparator::less_equal:
      return "<=";
  }
  return "?";
}

bool compare(double v, Comparator c, double t) {
  switch (c) {
    case Comparator::greater:
      return v > t;
    case Comparator::greater_equal:
      return v >= t;
    case Comparator::less:
      return v < t;
    case Comparator::less_equal:
      return v <= t;
  }
  return false;
}

std::string verdict_text(TargetVerdict v, ReportLang lang) {
  switch (v) {
    case TargetVerdict::met:
      return tr(lang, {"met", "達成"});
    case TargetVerdict::not_met:
      return tr(lang, {"not met", "未達"});
    case TargetVerdict::not_measured:
      return tr(lang, {"not measured", "未測定"});
  }
  return "?";
}

TargetsFile parse_targets(const json& j, const std::string& path) {
  auto fail = [&](const std::string& what) -> Error {
    return usage_error(fmt::format("{}: {}", path, what));
  };
  if (!j.is_object()) throw fail("not a JSON object");
  if (j.value("schema", std::string()) != "sxbench.targets/1") {
    throw fail("schema must be \"sxbench.targets/1\"");
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "schema" && key != "source" && key != "targets")
      throw fail(fmt::format("unknown key '{}'", key));
  }
  TargetsFile f;
  f.path = path;
  if (j.contains("source")) {
    if (!j["source"].is_string()) throw fail("source must be a string");
    f.source = j["source"].get<std::string>();
  }
  if (!j.contains("targets") || !j["targets"].is_array()) throw fail("targets must be an array");
  std::set<std::string> ids;
  size_t index = 0;
  for (const auto& t : j["targets"]) {
    ++index;
    const std::string name = t.is_object() && t.contains("id") && t["id"].is_string()
                                 ? "target '" + t["id"].get<std::string>() + "'"
                                 : fmt::format("target {}", index);
    auto bad = [&](const std::string& what) -> Error { return fail(name + ": " + what); };
    if (!t.is_object()) throw bad("not an object");
    Target x;
    if (!t.contains("id") || !t["id"].is_string() || t["id"].get<std::string>().empty()) {
      throw bad("needs an id (string)");
    }
    x.id = t["id"].get<std::string>();
    if (!ids.insert(x.id).second) throw bad("id used twice");
    auto str = [&](const char* key, bool required) -> std::optional<std::string> {
      if (!t.contains(key)) {
        if (required) throw bad(fmt::format("{} is missing", key));
        return std::nullopt;
      }
      if (!t[key].is_string()) throw bad(fmt::format("{} must be a string", key));
      return t[key].get<std::string>();
    };
    auto integer = [&](const char* key, int min) -> std::optional<int> {
      if (!t.contains(key)) return std::nullopt;
      if (!t[key].is_number_integer() || t[key].get<int64_t>() < min) {
        throw bad(fmt::format("{} must be an integer >= {}", key, min));
      }
      return static_cast<int>(t[key].get<int64_t>());
    };
    // Label: a string, or {"en": ..., "ja": ...}.
    if (!t.contains("label")) throw bad("label is missing");
    if (t["label"].is_string()) {
      x.label_en = x.label_ja = t["label"].get<std::string>();
    } else if (t["label"].is_object() && t["label"].contains("en") &&
               t["label"]["en"].is_string()) {
      x.label_en = t["label"]["en"].get<std::string>();
      x.label_ja = t["label"].value("ja", x.label_en);
    } else {
      throw bad("label must be a string or {\"en\": ..., \"ja\": ...}");
    }
    const std::string metric = *str("metric", true);
    std::vector<std::string> params;  // parameters this metric accepts
    std::vector<std::string> units;
    if (metric == "gpu_utilization") {
      x.metric = TargetMetric::gpu_utilization;
      params = {"runs"};
      units = {"%"};
    } else if (metric == "scaling_efficiency") {
      x.metric = TargetMetric::scaling_efficiency;
      params = {"nodes", "baseline_nodes"};
      units = {"%"};
    } else if (metric == "nccl_busbw") {
      x.metric = TargetMetric::nccl_busbw;
      params = {"collective", "message_size", "min_nodes", "backend"};
      units = {"Gbit/s", "GB/s"};
    } else if (metric == "tokens_per_s_per_gpu") {
      x.metric = TargetMetric::tokens_per_s_per_gpu;
      params = {"model", "nodes"};
      units = {"tokens/s"};
    } else {
      throw bad(
          fmt::format("unknown metric '{}' (known: gpu_utilization, scaling_efficiency, "
                      "nccl_busbw, tokens_per_s_per_gpu)",
                      metric));
    }
    const std::set<std::string> common = {"id",        "label", "metric",    "comparator",
                                          "threshold", "unit",  "over_runs", "note"};
    for (const auto& [key, value] : t.items()) {
      if (!common.count(key) && std::find(params.begin(), params.end(), key) == params.end()) {
        throw bad(fmt::format("unknown key '{}' for metric {}", key, metric));
      }
    }
    const std::string cmp = *str("comparator", true);
    if (cmp == ">") {
      x.comparator = Comparator::greater;
    } else if (cmp == ">=") {
      x.comparator = Comparator::greater_equal;
    } else if (cmp == "<") {
      x.comparator = Comparator::less;
    } else if (cmp == "<=") {
      x.comparator = Comparator::less_equal;
    } else {
      throw bad(fmt::format("comparator '{}' is not one of >, >=, <, <=", cmp));
    }
    if (!t.contains("threshold") || !t["threshold"].is_number() ||
        !std::isfinite(t["threshold"].get<double>())) {
      throw bad("threshold must be a number");
    }
    x.threshold = t["threshold"].get<double>();
    x.unit = *str("unit", true);
    if (std::find(units.begin(), units.end(), x.unit) == units.end()) {
      throw bad(fmt::format("unit '{}' does not fit metric {} (use {})", x.unit, metric,
                            fmt::join(units, " or ")));
    }
    if (auto o = str("over_runs", false)) {
      if (*o == "worst") {
        x.over_runs = OverRuns::worst;
      } else if (*o == "best") {
        x.over_runs = OverRuns::best;
      } else if (*o == "median") {
        x.over_runs = OverRuns::median;
      } else {
        throw bad(fmt::format("over_runs '{}' is not one of worst, best, median", *o));
      }
    }
    x.note = str("note", false).value_or("");
    if (auto r = str("runs", false)) {
      if (*r != "training" && *r != "all") throw bad("runs must be \"training\" or \"all\"");
      x.runs = *r;
    }
    x.baseline_nodes = integer("baseline_nodes", 1).value_or(1);
    if (auto n = integer("nodes", 1)) x.nodes = *n;
    if (x.metric == TargetMetric::scaling_efficiency && x.nodes <= x.baseline_nodes) {
      throw bad(fmt::format("nodes must be given and above baseline_nodes ({})", x.baseline_nodes));
    }
    x.min_nodes = integer("min_nodes", 1).value_or(2);
    if (auto c = str("collective", false)) {
      try {
        x.collective = std::string(find_collective(*c).name);
      } catch (const Error& e) {
        throw bad(e.what());
      }
    }
    if (auto m = str("message_size", false); m && *m != "largest") {
      try {
        x.message_size = parse_size_bytes(*m, "message_size");
      } catch (const Error& e) {
        throw bad(e.what());
      }
    }
    if (auto b = str("backend", false)) {
      if (*b != "nccl" && *b != "mpi" && *b != "any") throw bad("backend must be nccl, mpi or any");
      x.backend = *b;
    }
    x.model = str("model", false).value_or("");
    f.targets.push_back(std::move(x));
  }
  return f;
}

TargetsFile load_targets(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) {
    throw usage_error(fmt::format("targets file {} does not exist", path.string()));
  }
  return parse_targets(read_json_file(path), path.string());
}

std::string target_definition(const Target& t, ReportLang lang) {
  const std::string over = [&] {
    switch (t.over_runs) {
      case OverRuns::worst:
        return tr(lang, {"the worst of them counts (each must pass)",
                         "最も悪い値で判定 (すべてが満たす必要あり)"});
      case OverRuns::best:
        return tr(lang, {"the best of them counts", "最も良い値で判定"});
      case OverRuns::median:
        return tr(lang, {"their median counts", "中央値で判定"});
    }
    return std::string();
  }();
  switch (t.metric) {
    case TargetMetric::gpu_utilization:
      if (t.runs == "all") {
        return tr(lang,
                  {"gpu_metrics_summary.json /gpus/*/utilization_gpu_pct/mean (NVML "
                   "utilization.gpu: share of time a kernel ran) over the whole run, averaged "
                   "over every GPU of the run; runs: every run with GPU metrics; {}",
                   "gpu_metrics_summary.json /gpus/*/utilization_gpu_pct/mean (NVML "
                   "utilization.gpu: カーネル実行中の時間割合) の実行全体の値を全 GPU で平均; "
                   "対象: GPU メトリクスのある全実行; {}"},
                  over);
      }
      return tr(lang,
                {"NVML utilization.gpu (share of time a kernel ran) over the training window — "
                 "the training engine's timed steps (sft_metrics.json /measured_window_utc), "
                 "else the sft phase (run.json /phases) — from gpu_metrics_summary.json "
                 "/phase_windows, averaged over every GPU of the run; runs: runs with training "
                 "metrics and a training window; {}",
                 "学習区間 (sft_metrics.json /measured_window_utc の計測ステップ、なければ "
                 "run.json /phases の sft フェーズ) の NVML utilization.gpu (カーネル実行中の時間"
                 "割合) を gpu_metrics_summary.json /phase_windows から全 GPU で平均; 対象: "
                 "学習メトリクスと学習区間のある実行; {}"},
                over);
    case TargetMetric::scaling_efficiency:
      return tr(
          lang,
          {"sft_metrics.json tokens_per_s_per_device at {} nodes / the same at {} node(s), same "
           "model, sequence length and GPUs per node, medians over repeated runs; {}",
           "sft_metrics.json tokens_per_s_per_device の {} ノード値 / {} ノード値 (同一モデル・"
           "系列長・ノード当たり GPU 数、反復実行は中央値); {}"},
          t.nodes, t.baseline_nodes, over);
    case TargetMetric::nccl_busbw: {
      const std::string size = t.message_size
                                   ? format_bytes(*t.message_size)
                                   : tr(lang, {"the largest measured size", "測定した最大サイズ"});
      const std::string backend = t.backend == "any"
                                      ? tr(lang, {"any backend", "全バックエンド"})
                                      : tr(lang, {"backend {}", "バックエンド {}"}, t.backend);
      return tr(lang,
                {"nccl.json {} out_of_place.busbw_gb_per_s at {}{}; runs of >= {} node(s), {}; {}",
                 "nccl.json {} out_of_place.busbw_gb_per_s ({}){}; {} ノード以上の実行, {}; {}"},
                t.collective, size, t.unit == "Gbit/s" ? " x 8 (GB/s -> Gbit/s)" : "", t.min_nodes,
                backend, over);
    }
    case TargetMetric::tokens_per_s_per_gpu:
      return tr(lang,
                {"sft_metrics.json tokens_per_s_per_device (median over repeated runs){}{}; {}",
                 "sft_metrics.json tokens_per_s_per_device (反復実行は中央値){}{}; {}"},
                t.model.empty() ? "" : tr(lang, {", model {}", ", モデル {}"}, t.model),
                t.nodes == 0 ? "" : tr(lang, {", {} node(s)", ", {} ノード"}, t.nodes), over);
  }
  return {};
}

namespace {

std::optional<HardwareSpec> nic_spec(const std::vector<HardwareSpec>& specs) {
  for (const auto& s : specs) {
    if (s.kind == "nic") return s;
  }
  return std::nullopt;
}

// A threshold beyond an upper limit cannot be met by a "higher is better" target.
bool beyond(const Target& t, double limit) {
  if (t.comparator == Comparator::greater) return t.threshold >= limit;
  if (t.comparator == Comparator::greater_equal) return t.threshold > limit;
  return false;
}

Reachability reachability(const Target& t, const std::vector<HardwareSpec>& specs) {
  Reachability r;
  const std::string need =
      comparator_text(t.comparator) + fmt::format(" {:g} {}", t.threshold, t.unit);
  switch (t.metric) {
    case TargetMetric::gpu_utilization:
      r.checked = true;
      r.limit = 100;
      r.reachable = !beyond(t, 100);
      r.arithmetic_en =
          fmt::format("utilization.gpu is a share of time, at most 100%; the target needs {}: {}",
                      need, r.reachable ? "reachable" : "unreachable");
      r.arithmetic_ja = fmt::format("utilization.gpu は時間の割合で最大 100%; 目標 {}: {}", need,
                                    r.reachable ? "達成可能" : "達成不可能");
      break;
    case TargetMetric::scaling_efficiency:
      r.checked = true;
      r.limit = 100;
      r.reachable = !beyond(t, 100);
      r.arithmetic_en = fmt::format(
          "linear scaling (the same tokens/s per GPU at {} nodes as at {}) is 100%; the target "
          "needs "
          "{}: {}",
          t.nodes, t.baseline_nodes, need,
          r.reachable ? fmt::format("leaves {:g}% for communication the overlap does not hide",
                                    100 - t.threshold)
                      : "more than linear scaling, not reachable with the same work per GPU");
      r.arithmetic_ja = fmt::format(
          "線形スケーリング ({} ノードで {} ノードと同じ GPU 当たり tokens/s) が 100%; 目標 {}: {}",
          t.nodes, t.baseline_nodes, need,
          r.reachable ? fmt::format("隠しきれない通信に {:g}% の余地", 100 - t.threshold)
                      : "線形を超えるため GPU 当たりの仕事量が同じでは達成不可能");
      break;
    case TargetMetric::nccl_busbw: {
      const auto nic = nic_spec(specs);
      if (t.min_nodes < 2 || !nic || !nic->value("line_rate_gbit_per_s") ||
          !nic->value("ports_per_node"))
        break;
      const double rate = *nic->value("line_rate_gbit_per_s");
      const double ports = *nic->value("ports_per_node");
      const double gbit = rate * ports;
      r.checked = true;
      r.limit = t.unit == "Gbit/s" ? gbit : gbit / 8;
      const bool at_line_rate = t.comparator == Comparator::greater_equal && t.threshold == r.limit;
      r.reachable = !beyond(t, r.limit) && !at_line_rate;
      const std::string limit = t.unit == "Gbit/s"
                                    ? fmt::format("{:g} Gbit/s", gbit)
                                    : fmt::format("{:g} Gbit/s = {:g} GB/s", gbit, gbit / 8);
      const std::string src =
          fmt::format("configs/hardware/{}.json: ports_per_node, line_rate_gbit_per_s", nic->id);
      std::string verdict_en, verdict_ja;
      if (at_line_rate) {
        verdict_en =
            "only at 100% of the line rate, which Ethernet/RoCEv2 framing rules out: physically "
            "unreachable";
        verdict_ja =
            "回線速度の 100% が必要で Ethernet/RoCEv2 のフレーミングにより物理的に達成不可能";
      } else if (!r.reachable) {
        verdict_en = "more than the line rate: physically unreachable";
        verdict_ja = "回線速度を超えるため物理的に達成不可能";
      } else if (higher_is_better(t.comparator)) {
        verdict_en =
            fmt::format("{:.1f}% of the line rate: reachable", 100 * t.threshold / r.limit);
        verdict_ja = fmt::format("回線速度の {:.1f}%: 達成可能", 100 * t.threshold / r.limit);
      } else {
        verdict_en = "an upper bound: reachable";
        verdict_ja = "上限値のため達成可能";
      }
      r.arithmetic_en = fmt::format(
          "bus bandwidth across nodes is bounded by the node's NIC line rate: {:g} ports x {:g} "
          "Gbit/s "
          "= {} ({}); the target needs {}: {}",
          ports, rate, limit, src, need, verdict_en);
      r.arithmetic_ja = fmt::format(
          "ノード間のバス帯域はノードの NIC 回線速度が上限: {:g} ポート × {:g} Gbit/s = {} ({}); "
          "目標 {}: {}",
          ports, rate, limit, src, need, verdict_ja);
      break;
    }
    case TargetMetric::tokens_per_s_per_gpu:
      break;
  }
  return r;
}

int devices_per_node(const ThroughputRow& r) {
  return std::max(1, r.world_size / std::max(1, r.nodes));
}

// " (setup)" when another throughput row has the same model, sequence length and nodes (two
// recomputation modes of one model, say), so each contribution names the row it came from.
std::string setup_suffix(const Figures& f, const ThroughputRow& r) {
  for (const auto& o : f.throughput) {
    if (&o != &r && o.model == r.model && o.seq_len == r.seq_len && o.nodes == r.nodes) {
      return " (" + r.setup + ")";
    }
  }
  return "";
}

std::vector<TargetContribution> contributions(const Target& t, const Aggregate& a,
                                              const Figures& f) {
  std::vector<TargetContribution> out;
  switch (t.metric) {
    case TargetMetric::gpu_utilization:
      for (const auto& g : f.gpu) {
        if (!g.gpu_metrics) continue;
        if (t.runs == "training") {
          // Judged on the training window only: a whole-run mean also covers collectives,
          // ceilings and the gaps between phases. A run without one does not count.
          if (!g.training || !g.window_util_mean_pct) continue;
          out.push_back({fmt::format("{} ({}, {} samples)", g.run,
                                     g.window == kTrainingWindow ? "timed steps" : "sft phase",
                                     g.window_samples),
                         {g.run},
                         *g.window_util_mean_pct});
          continue;
        }
        if (!g.util_mean_pct) continue;
        out.push_back({g.run, {g.run}, *g.util_mean_pct});
      }
      break;
    case TargetMetric::scaling_efficiency:
      for (const auto& r : f.throughput) {
        if (r.nodes != t.nodes) continue;
        for (const auto& b : f.throughput) {
          if (b.model != r.model || b.seq_len != r.seq_len || b.setup != r.setup ||
              b.device_kind != r.device_kind ||
              b.nodes != t.baseline_nodes || devices_per_node(b) != devices_per_node(r) ||
              !(b.tokens_per_s_per_device > 0)) {
            continue;
          }
          TargetContribution c;
          c.subject =
              fmt::format("{}, seq {}: {} / {} node(s){}", r.model, r.seq_len, r.nodes, b.nodes,
                          setup_suffix(f, r));
          c.runs = r.runs;
          c.runs.insert(c.runs.end(), b.runs.begin(), b.runs.end());
          c.value = 100 * r.tokens_per_s_per_device / b.tokens_per_s_per_device;
          out.push_back(c);
        }
      }
      break;
    case TargetMetric::nccl_busbw:
      for (const RunRecord* r : a.usable()) {
        if (!r->collectives || r->collectives->world_size < 2) continue;
        const Collectives& c = *r->collectives;
        if (c.node_count < t.min_nodes || (t.backend != "any" && c.backend != t.backend)) continue;
        const CollectiveOp* op = c.find(t.collective);
        if (!op || op->sizes.empty()) continue;
        const CollectiveSize* at = &op->sizes.back();
        if (t.message_size) {
          at = nullptr;
          for (const auto& s : op->sizes) {
            if (s.size_bytes == *t.message_size) at = &s;
          }
          if (!at) continue;
        }
        const double v = at->out_of_place.busbw_gb_per_s * (t.unit == "Gbit/s" ? 8 : 1);
        out.push_back({fmt::format("{} ({} node(s), {})", r->name, c.node_count,
                                   format_bytes(at->size_bytes)),
                       {r->name},
                       v});
      }
      break;
    case TargetMetric::tokens_per_s_per_gpu:
      for (const auto& r : f.throughput) {
        if ((!t.model.empty() && r.model != t.model) || (t.nodes != 0 && r.nodes != t.nodes))
          continue;
        out.push_back({fmt::format("{}, seq {}, {} node(s){}", r.model, r.seq_len, r.nodes,
                                   setup_suffix(f, r)),
                       r.runs, r.tokens_per_s_per_device});
      }
      break;
  }
  return out;
}

}  // namespace

std::vector<TargetResult> evaluate_targets(const TargetsFile& file, const Aggregate& a,
                                           const Figures& f,
                                           const std::vector<HardwareSpec>& specs) {
  std::vector<TargetResult> out;
  for (const auto& t : file.targets) {
    TargetResult r;
    r.target = t;
    r.contributions = contributions(t, a, f);
    r.reachability = reachability(t, specs);
    if (!r.contributions.empty()) {
      std::vector<double> v;
      for (const auto& c : r.contributions) v.push_back(c.value);
      const bool up = higher_is_better(t.comparator);
      switch (t.over_runs) {
        case OverRuns::worst:
          r.value =
              up ? *std::min_element(v.begin(), v.end()) : *std::max_element(v.begin(), v.end());
          break;
        case OverRuns::best:
          r.value =
              up ? *std::max_element(v.begin(), v.end()) : *std::min_element(v.begin(), v.end());
          break;
        case OverRuns::median:
          r.value = median_of(v);
          break;
      }
      r.verdict = compare(*r.value, t.comparator, t.threshold) ? TargetVerdict::met
                                                               : TargetVerdict::not_met;
    }
    out.push_back(std::move(r));
  }
  return out;
}

json to_json(const std::vector<TargetResult>& results) {
  json out = json::array();
  for (const auto& r : results) {
    json contrib = json::array();
    for (const auto& c : r.contributions) {
      contrib.push_back({{"subject", c.subject}, {"runs", c.runs}, {"value", c.value}});
    }
    const Target& t = r.target;
    out.push_back({{"id", t.id},
                   {"label", {{"en", t.label_en}, {"ja", t.label_ja}}},
                   {"metric", metric_name(t.metric)},
                   {"definition", target_definition(t, ReportLang::en)},
                   {"comparator", comparator_text(t.comparator)},
                   {"threshold", t.threshold},
                   {"unit", t.unit},
                   {"over_runs", over_runs_name(t.over_runs)},
                   {"verdict", r.verdict == TargetVerdict::met       ? "met"
                               : r.verdict == TargetVerdict::not_met ? "not_met"
                                                                     : "not_measured"},
                   {"value", r.value ? json(*r.value) : json(nullptr)},
                   {"contributions", contrib},
                   {"reachability", r.reachability.checked
                                        ? json{{"reachable", r.reachability.reachable},
                                               {"limit", r.reachability.limit},
                                               {"arithmetic", r.reachability.arithmetic_en}}
                                        : json(nullptr)}});
  }
  return out;
}

}  // namespace sxb::report
