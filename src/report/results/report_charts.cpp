#include "report/results/report_charts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "core/error.hpp"

namespace sxb::report {

const std::string& chart_title(const Chart& c) {
  return std::visit([](const auto& x) -> const std::string& { return x.title; }, c);
}

namespace {

// A line of the node charts: one model, sequence length, devices per node and setup
// (ThroughputRow::setup).
using FamilyKey = std::tuple<std::string, int64_t, int, std::string>;

std::string family_label(const FamilyKey& k, bool several_shapes, ReportLang lang) {
  const auto& [model, seq_len, per_node, setup] = k;
  if (!several_shapes) return fmt::format("{} (seq {})", model, seq_len);
  return tr(lang, {"{} (seq {}, {} per node, {})", "{} (系列長 {}, ノード当たり {}, {})"}, model,
            seq_len, per_node, setup);
}

std::vector<ReferenceLine> scaling_references(const std::vector<TargetResult>& targets,
                                              ReportLang lang) {
  std::vector<ReferenceLine> refs;
  for (const auto& r : targets) {
    const Target& t = r.target;
    if (t.metric != TargetMetric::scaling_efficiency) continue;
    refs.push_back({t.threshold, tr(lang, {"target {} nodes {} {:g}%", "目標 {} ノード {} {:g}%"},
                                    t.nodes, comparator_text(t.comparator), t.threshold)});
  }
  return refs;
}

// Efficiency (%) and throughput against node count: measured solid, projections dashed,
// starting from the last measured point so each family reads as one line.
void node_charts(const Figures& f, const std::vector<TargetResult>& targets, ReportLang lang,
                 ReportCharts& out) {
  struct Family {
    std::map<int, double> eff, tps;             // measured, by nodes
    std::map<int, double> proj_tps, proj_tpsd;  // projected
    std::optional<double> base_tpsd;            // measured at 1 node
  };
  std::map<FamilyKey, Family> families;
  int max_nodes = 8;
  for (const auto& s : f.scaling) {
    auto& fam = families[{s.model, s.seq_len, s.devices_per_node, s.setup}];
    if (s.efficiency) fam.eff[s.nodes] = 100 * *s.efficiency;
    if (s.nodes == 1) fam.base_tpsd = s.tokens_per_s_per_device;
    max_nodes = std::max(max_nodes, s.nodes);
  }
  // A projection continues the line of the runs it was calibrated by.
  std::map<std::string, std::string> setup_of_run;
  for (const auto& r : f.throughput) {
    families[{r.model, r.seq_len, std::max(1, r.world_size / std::max(1, r.nodes)), r.setup}]
        .tps[r.nodes] = r.tokens_per_s;
    for (const auto& run : r.runs) setup_of_run[run] = r.setup;
  }
  for (const auto& p : f.predictions) {
    if (!p.projection) continue;
    max_nodes = std::max(max_nodes, p.nodes);
    std::string setup;
    for (const auto& run : p.runs) {
      if (auto it = setup_of_run.find(run); it != setup_of_run.end()) setup = it->second;
    }
    auto& fam = families[{p.model, p.seq_len, p.gpus_per_node, setup}];
    fam.proj_tps[p.nodes] = p.predicted_tokens_per_s;
    fam.proj_tpsd[p.nodes] = p.predicted_tokens_per_s_per_gpu;
  }
  LineChart eff;
  eff.title = tr(lang, {"Scaling efficiency vs nodes", "ノード数とスケール効率"});
  eff.x.label = tr(lang, {"nodes", "ノード数"});
  // Whole node counts from 0 to at least 8, so reports of different clusters compare.
  eff.x.min = 0;
  eff.x.max = max_nodes;
  eff.y.label = tr(lang, {"scaling efficiency (%)", "スケール効率 (%)"});
  eff.y.min = 0;
  eff.references = scaling_references(targets, lang);
  LineChart tput;
  tput.title = tr(lang, {"Training throughput vs nodes", "ノード数と学習スループット"});
  tput.x = eff.x;
  tput.y.label = tr(lang, {"tokens/s (all GPUs)", "tokens/s (全 GPU 合計)"});
  tput.y.min = 0;
  bool any_projection = false;
  bool beyond_baseline = false;  // an efficiency other than the 1-node 100%
  std::set<std::pair<std::string, int64_t>> shapes;
  for (const auto& [key, fam] : families) shapes.insert({std::get<0>(key), std::get<1>(key)});
  const bool several_shapes = shapes.size() < families.size();
  for (const auto& [key, fam] : families) {
    const std::string label = family_label(key, several_shapes, lang);
    for (const auto& [n, v] : fam.eff) beyond_baseline = beyond_baseline || n != 1;
    auto series = [](const std::map<int, double>& m, std::string l, bool dashed) {
      Series s;
      s.label = std::move(l);
      s.dashed = dashed;
      for (const auto& [n, v] : m) {
        s.x.push_back(n);
        s.y.push_back(v);
      }
      return s;
    };
    if (!fam.eff.empty()) eff.series.push_back(series(fam.eff, label, false));
    if (!fam.tps.empty()) tput.series.push_back(series(fam.tps, label, false));
    if (!fam.proj_tps.empty()) {
      any_projection = true;
      const std::string plabel = label + tr(lang, {" projected", " 予測"});
      std::map<int, double> ptps = fam.proj_tps;
      if (!fam.tps.empty()) ptps.insert(*fam.tps.rbegin());
      tput.series.push_back(series(ptps, plabel, true));
      // Projected efficiency against the measured 1-node rate, or the projected one.
      std::optional<double> base = fam.base_tpsd;
      if (!base && fam.proj_tpsd.count(1)) base = fam.proj_tpsd.at(1);
      if (base && *base > 0) {
        std::map<int, double> peff;
        for (const auto& [n, v] : fam.proj_tpsd) peff[n] = 100 * v / *base;
        if (!fam.eff.empty()) peff.insert(*fam.eff.rbegin());
        eff.series.push_back(series(peff, plabel, true));
        beyond_baseline = true;
      }
    }
  }
  const std::string note =
      any_projection
          ? tr(lang, {"solid: measured; dashed: projected by the performance model (not measured)",
                      "実線: 測定値; 破線: 性能モデルによる予測 (未測定)"})
          : tr(lang, {"measured", "測定値"});
  tput.note = note;
  eff.note = note + tr(lang, {"; efficiency = tokens/s per GPU at N nodes / at 1 node",
                              "; 効率 = N ノードの GPU 当たり tokens/s / 1 ノードの値"});
  // Only the 1-node baseline (100% by definition) says nothing: no chart then.
  if (beyond_baseline) out.charts.push_back({"scaling_efficiency", eff});
  if (!tput.series.empty()) out.charts.push_back({"throughput", tput});
}

void busbw_charts(const Figures& f, ReportLang lang, ReportCharts& out) {
  std::map<std::string, LineChart> by_op;
  std::vector<std::string> order;
  for (const auto& c : f.busbw) {
    if (!by_op.count(c.op)) {
      order.push_back(c.op);
      LineChart& l = by_op[c.op];
      l.title =
          tr(lang, {"{} bus bandwidth vs message size", "{} のバス帯域とメッセージサイズ"}, c.op);
      l.x.label = tr(lang, {"message size", "メッセージサイズ"});
      l.x.log2_scale = true;
      l.x.byte_ticks = true;
      l.y.label = tr(lang, {"bus bandwidth (GB/s)", "バス帯域 (GB/s)"});
      l.y.min = 0;
      l.note = tr(lang, {"measured: nccl.json, out-of-place, median over runs at each size",
                         "測定値: nccl.json, out-of-place, 各サイズで実行間の中央値"});
    }
    Series s;
    s.label = c.backend == "nccl"
                  ? tr(lang, {"{} node(s), {} GPUs", "{} ノード, {} GPU"}, c.nodes, c.world_size)
                  : tr(lang,
                       {"{} node(s), {} ranks ({}, host memory)",
                        "{} ノード, {} ランク ({}, ホストメモリ)"},
                       c.nodes, c.world_size, c.backend);
    for (size_t i = 0; i < c.sizes.size(); ++i) {
      s.x.push_back(static_cast<double>(c.sizes[i]));
      s.y.push_back(c.busbw_gb_per_s[i]);
    }
    by_op[c.op].series.push_back(std::move(s));
  }
  for (const auto& op : order) out.charts.push_back({"busbw_" + op, by_op[op]});
}

// Mean over a run's GPUs at each sample index (NaN cells skipped; all NaN stays NaN).
Series mean_series(const std::vector<GpuSeries>& gpus, bool power, const std::string& label) {
  Series s;
  s.label = label;
  s.markers = false;
  size_t n = 0;
  for (const auto& g : gpus) n = std::max(n, g.elapsed_s.size());
  for (size_t i = 0; i < n; ++i) {
    double sum = 0;
    int count = 0;
    double x = std::nan("");
    for (const auto& g : gpus) {
      if (i >= g.elapsed_s.size()) continue;
      if (std::isnan(x)) x = g.elapsed_s[i];
      const double v = power ? g.power_w[i] : g.util_pct[i];
      if (!std::isnan(v)) {
        sum += v;
        ++count;
      }
    }
    if (std::isnan(x)) continue;
    s.x.push_back(x);
    s.y.push_back(count > 0 ? sum / count : std::nan(""));
  }
  return s;
}

void gpu_time_charts(const Aggregate& a, ReportLang lang, ReportCharts& out) {
  std::vector<const RunRecord*> runs;
  for (const RunRecord* r : a.usable()) {
    if (r->gpu_metrics && r->gpu_metrics->gpu_metrics && !r->gpu_metrics->csv.empty())
      runs.push_back(r);
  }
  if (runs.size() > kMaxTimeSeriesRuns) {
    out.notes.push_back(
        tr(lang,
           {"GPU metrics over time: the latest {1} of {0} runs with GPU metrics are drawn",
            "GPU メトリクスの時系列: GPU メトリクスのある {0} 件のうち最新 {1} 件を描画"},
           runs.size(), kMaxTimeSeriesRuns));
    runs.erase(runs.begin(), runs.end() - kMaxTimeSeriesRuns);
  }
  LineChart util, power;
  util.title = tr(lang, {"GPU utilisation over time", "GPU 利用率の推移"});
  power.title = tr(lang, {"GPU power over time", "GPU 消費電力の推移"});
  util.x.label = power.x.label =
      tr(lang, {"time since sampling started (s)", "サンプリング開始からの時間 (s)"});
  util.y.label = tr(lang, {"utilization.gpu (%), mean over the run's GPUs",
                           "utilization.gpu (%), 実行内 GPU の平均"});
  util.y.min = 0;
  util.y.max = 100;
  power.y.label =
      tr(lang, {"board power (W), mean over the run's GPUs", "ボード電力 (W), 実行内 GPU の平均"});
  power.y.min = 0;
  util.note = power.note = tr(lang, {"measured: gpu_metrics.csv (NVML samples)",
                                     "測定値: gpu_metrics.csv (NVML サンプル)"});
  for (const RunRecord* r : runs) {
    try {
      const auto series = read_gpu_timeseries(r->gpu_metrics->csv);
      if (series.empty()) continue;
      util.series.push_back(mean_series(series, false, r->name));
      power.series.push_back(mean_series(series, true, r->name));
    } catch (const Error& e) {
      out.notes.push_back(tr(lang, {"{}: not drawn: {}", "{}: 描画なし: {}"}, r->name, e.what()));
    }
  }
  auto has_values = [](const LineChart& c) {
    for (const auto& s : c.series) {
      for (double y : s.y) {
        if (!std::isnan(y)) return true;
      }
    }
    return false;
  };
  if (has_values(util)) out.charts.push_back({"gpu_utilization", util});
  if (has_values(power)) out.charts.push_back({"gpu_power", power});
}

void diagnose_charts(const Aggregate& a, ReportLang lang, ReportCharts& out) {
  for (const RunRecord* r : a.usable()) {
    if (!r->diagnose) continue;
    if (auto m = diagnose_heat_map(*r->diagnose, r->name, lang)) {
      out.charts.push_back({diagnose_chart_stem(r->name), std::move(*m)});
    }
  }
}

}  // namespace

std::string diagnose_chart_stem(const std::string& run) {
  std::string s = fmt::format("diagnose_pairs_{}", run);
  for (char& ch : s) {
    const bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
    if (!keep) ch = '_';
  }
  return s;
}

std::optional<HeatMap> diagnose_heat_map(const DiagnoseSummary& d, const std::string& run,
                                         ReportLang lang) {
  const DiagnosePairs& p = d.pairs;
  const size_t n = p.units.size();
  if (n < 2 || p.pairs.empty()) return std::nullopt;
  HeatMap m;
  m.title = tr(lang, {"Pair matrix ({}): {}", "ペア行列 ({}): {}"}, p.mode, run);
  m.rows = m.columns = p.units;
  m.values.assign(n, std::vector<double>(n, std::nan("")));
  m.marked.assign(n, std::vector<bool>(n, false));
  m.marked_rows.assign(n, false);
  for (size_t i = 0; i < p.pairs.size() && i < p.pair_units.size(); ++i) {
    const auto [a, b] = p.pair_units[i];
    const auto ua = static_cast<size_t>(a), ub = static_cast<size_t>(b);
    m.values[ua][ub] = m.values[ub][ua] = p.pairs[i].median;
    if (p.pairs[i].standing == "slow") m.marked[ua][ub] = m.marked[ub][ua] = true;
  }
  for (const std::string& u : p.blamed_units) {
    const auto it = std::find(p.units.begin(), p.units.end(), u);
    if (it != p.units.end()) m.marked_rows[static_cast<size_t>(it - p.units.begin())] = true;
  }
  m.scale_label = tr(lang, {"median GB/s per direction", "方向ごとの中央値 GB/s"});
  m.note = tr(lang,
              {"{}. Outlined: a pair judged slow; bar beside a unit: the unit named slow; grey "
               "with a diagonal: no pair measured. diagnose.json; docs/diagnose.md.",
               "{}。枠付き: 遅いと判定されたペア; ユニット横の帯: 遅いと名指しされたユニット; 斜線の"
               "灰色: 測定なし。diagnose.json; docs/diagnose.md。"},
              p.what);
  return m;
}

ReportCharts build_report_charts(const Aggregate& a, const Figures& f,
                                 const std::vector<TargetResult>& targets, ReportLang lang) {
  ReportCharts out;
  node_charts(f, targets, lang, out);
  busbw_charts(f, lang, out);
  gpu_time_charts(a, lang, out);
  diagnose_charts(a, lang, out);
  return out;
}

}  // namespace sxb::report
