#include "report/sales/sales.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "model/flops.hpp"
#include "report/doc/document.hpp"
#include "report/doc/number_format.hpp"
#include "report/plan/inputs.hpp"
#include "report/plan/request.hpp"

namespace sxb::report {

namespace fs = std::filesystem;

namespace {

std::string money(double v, const std::string& currency) {
  return fmt::format("{} {}", sig3(v), currency);
}

std::string hours_text(double h, ReportLang lang) {
  if (h < 48) return tr(lang, {"{} h", "{} 時間"}, sig3(h));
  return tr(lang, {"{} days", "{} 日"}, sig3(h / 24));
}

std::string origin_text(const std::string& origin, ReportLang lang) {
  if (origin == "default") return tr(lang, {"built-in default", "組み込みの既定値"});
  if (origin == "environment") return tr(lang, {"process environment", "プロセス環境変数"});
  if (origin == "unset") return tr(lang, {"not set", "未設定"});
  const auto colon = origin.rfind(':');
  if (colon != std::string::npos) {
    return tr(lang, {"{} line {}", "{} の {} 行目"}, origin.substr(0, colon),
              origin.substr(colon + 1));
  }
  return origin;
}

std::string opt_text(const std::optional<double>& v, const std::string& suffix = "") {
  return v ? sig3(*v) + suffix : "-";
}

// The basis of a projection in the report language.
std::string projection_text(const ThroughputCase& c, ReportLang lang) {
  if (!c.projection) return c.source;
  const ProjectionBasis& b = *c.projection;
  return tr(
      lang,
      {"projection: {0} tokens/s measured on {1} node(s) (`{2}`) x the model's ratio "
       "{3:.3f} for {4} vs {1} node(s) ({5} recomputation, {6}); model calibrated by {7}",
       "予測: {1} ノードでの測定値 {0} トークン/秒（`{2}`）x 性能モデルによる {4} "
       "ノード対 {1} ノードの比 {3:.3f}（再計算 {5}、{6}）; モデルの較正: {7}"},
      count_text(b.anchor_tokens_per_s), b.anchor_nodes, b.anchor_source, b.model_ratio, c.nodes,
      b.recompute, b.ds_config,
      b.calibrated_by.empty() ? tr(lang, {"no measured run", "測定結果なし"}) : b.calibrated_by);
}

}  // namespace

SalesInputs sales_inputs(const Measurements& m, const RoiSettings& settings,
                         const PlanRequestFor& request_for) {
  SalesInputs in;
  in.settings = settings;
  // Latest GPU run per model, node count and sequence length (run directory names start with
  // their UTC start time, so the greatest name is the latest run).
  std::map<std::tuple<std::string, int, int64_t>, const TrainingMeasurement*> latest;
  for (const auto& t : m.training) {
    if (t.device_kind == "cpu" || t.device_kind.empty()) {
      in.excluded.push_back(fmt::format(
          "{}: measured by the {} engine on {} (a CPU): not a GPU throughput, not priced",
          t.run_dir, t.engine, t.device_name));
      continue;
    }
    const auto key = std::make_tuple(model_base_name(t.model), t.nodes, t.seq_len);
    auto it = latest.find(key);
    if (it == latest.end()) {
      latest[key] = &t;
    } else {
      const TrainingMeasurement* older = it->second->run_dir < t.run_dir ? it->second : &t;
      const TrainingMeasurement* newer = older == it->second ? &t : it->second;
      in.excluded.push_back(
          fmt::format("{}: superseded by the later run {} (same model, nodes "
                      "and sequence length)",
                      older->run_dir, newer->run_dir));
      it->second = newer;
    }
  }
  for (const auto& t : m.training) {
    bool kept = false;
    for (const auto& [k, v] : latest) kept = kept || v == &t;
    if (!kept) continue;
    ThroughputCase c;
    c.model = t.model;
    c.nodes = t.nodes;
    c.gpus = t.world;
    c.seq_len = t.seq_len;
    c.tokens_per_s = t.tokens_per_s;
    ModelShape recorded;  // the run's own figures (sft_metrics.json), all PaLM's count reads
    recorded.params = t.params;
    recorded.layers = t.layers;
    recorded.hidden = t.hidden;
    c.flops_per_token = palm_flops_per_token(recorded, t.seq_len);
    c.source = t.run_dir + "/sft_metrics.json";
    c.mean_gpu_power_w = t.mean_gpu_power_w;
    c.power_source = t.mean_gpu_power_w ? t.power_source
                                        : "not measured: gpu_metrics_summary.json has no GPU power";
    in.measured.push_back(std::move(c));
  }
  std::sort(in.measured.begin(), in.measured.end(), [](const auto& a, const auto& b) {
    return std::tie(a.model, a.seq_len, a.nodes) < std::tie(b.model, b.seq_len, b.nodes);
  });

  // Projections per measured model and sequence length.
  std::vector<std::pair<std::string, int64_t>> groups;
  for (const auto& c : in.measured) {
    const auto g = std::make_pair(c.model, c.seq_len);
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  }
  for (const auto& [model, seq] : groups) {
    std::vector<const ThroughputCase*> runs;
    for (const auto& c : in.measured) {
      if (c.model == model && c.seq_len == seq) runs.push_back(&c);
    }
    const int gpus_per_node = std::max(1, runs.front()->gpus / std::max(1, runs.front()->nodes));
    PlanRequest req;
    try {
      req = request_for(model, seq, gpus_per_node);
    } catch (const Error& e) {
      in.projection_notes.push_back(fmt::format("{}: no projection ({})", model, e.what()));
      continue;
    }
    // Every measured node count is planned too: projections are anchored to the measurement.
    for (const auto* r : runs) {
      if (std::find(req.nodes.begin(), req.nodes.end(), r->nodes) == req.nodes.end()) {
        req.nodes.push_back(r->nodes);
      }
    }
    std::sort(req.nodes.begin(), req.nodes.end());
    const ExecutionPlan plan = build_plan(req, m);
    // What the benchmark command would run: the ds_config as written.
    auto predicted = [](const PlanEntry& e) -> const StepPrediction* {
      if (!e.prediction) return nullptr;
      return e.as_configured ? &*e.as_configured : &*e.prediction;
    };
    auto entry_at = [&](int nodes) -> const PlanEntry* {
      for (const auto& e : plan.entries) {
        if (e.nodes == nodes) return &e;
      }
      return nullptr;
    };
    for (const auto& e : plan.entries) {
      const bool measured =
          std::any_of(runs.begin(), runs.end(), [&](const auto* r) { return r->nodes == e.nodes; });
      if (measured) continue;
      if (!e.prediction) {
        in.projection_notes.push_back(
            fmt::format("{} on {} node(s): no projection, {}", model, e.nodes, e.why_not));
        continue;
      }
      const ThroughputCase* nearest = runs.front();
      for (const auto* r : runs) {
        if (std::abs(r->nodes - e.nodes) < std::abs(nearest->nodes - e.nodes)) nearest = r;
      }
      const PlanEntry* anchor = entry_at(nearest->nodes);
      const StepPrediction* p = predicted(e);
      const StepPrediction* p0 = anchor ? predicted(*anchor) : nullptr;
      if (!p0) {
        in.projection_notes.push_back(fmt::format(
            "{} on {} node(s): no projection, the model has no prediction at the measured {} "
            "node(s) to scale from",
            model, e.nodes, nearest->nodes));
        continue;
      }
      ThroughputCase c;
      c.model = model;
      c.nodes = e.nodes;
      c.gpus = e.gpus;
      c.seq_len = seq;
      // Anchored to the measurement: the measured rate times the model's predicted ratio.
      c.tokens_per_s = nearest->tokens_per_s * p->tokens_per_s / p0->tokens_per_s;
      c.flops_per_token = nearest->flops_per_token;
      c.projected = true;
      std::set<std::string> dirs;
      for (const auto& f : e.calibration) dirs.insert(f.run_dir);
      std::string calibrated;
      for (const auto& d : dirs) calibrated += (calibrated.empty() ? "" : ", ") + d;
      ProjectionBasis b;
      b.anchor_nodes = nearest->nodes;
      b.anchor_tokens_per_s = nearest->tokens_per_s;
      b.anchor_source = nearest->source;
      b.model_ratio = p->tokens_per_s / p0->tokens_per_s;
      b.recompute = recompute_name(e.as_configured ? Recompute::full : e.setup.recompute);
      b.ds_config = e.ds_path;
      b.calibrated_by = calibrated;
      c.source = fmt::format(
          "projection: {} tokens/s measured on {} node(s) ({}) x the performance model's ratio "
          "{:.3f} for {} vs {} node(s) ({} recomputation, {}; model calibrated by {})",
          count_text(b.anchor_tokens_per_s), b.anchor_nodes, b.anchor_source, b.model_ratio,
          e.nodes, b.anchor_nodes, b.recompute, b.ds_config,
          calibrated.empty() ? "no measured run" : calibrated);
      c.projection = b;
      if (nearest->mean_gpu_power_w) {
        c.mean_gpu_power_w = nearest->mean_gpu_power_w;
        c.power_source = fmt::format(
            "assumed equal to the {:.0f} W per GPU measured on {} node(s) "
            "({})",
            *nearest->mean_gpu_power_w, nearest->nodes, nearest->source);
      } else {
        c.power_source = "not measured";
      }
      in.projections.push_back(std::move(c));
    }
  }
  return in;
}

namespace {

// The sales summary as a Document: what was measured, against the baseline, projections,
// energy, then every input and formula.
Document sales_document(const SalesInputs& in, ReportLang lang, const std::string& generated_utc) {
  const RoiSettings& s = in.settings;
  const std::string& cur = s.currency;
  Document d;
  d.lang = std::string(report_lang_name(lang));
  d.title = tr(lang,
               {"{} on Spectrum-X: LLM fine-tuning economics",
                "Spectrum-X 上の {}: LLM ファインチューニングの経済性"},
               in.gpu_name);
  d.paragraph(tr(lang,
                 {"Generated by sxbench {} at {}. *Measured* figures come from benchmark runs "
                  "under the results directory (each row names its run); *projected* figures "
                  "are predictions of sxbench's performance model calibrated by those runs, for "
                  "node counts that were not measured. Prices, energy factors, the token budget "
                  "and the baseline are stated inputs, listed with their origin under "
                  "[Inputs](#inputs); they are not measurements.",
                  "sxbench {} が {} に生成。*測定値* は results ディレクトリのベンチマーク実行"
                  "結果（各行に実行ディレクトリを記載）。*予測値* は測定していないノード数について"
                  "それらの実行で較正した sxbench 性能モデルの予測。価格・エネルギー係数・"
                  "トークン予算・比較対象は明示した入力値であり測定値ではない（[入力](#入力)に"
                  "出所とともに記載）。"},
                 SXB_VERSION, generated_utc));
  d.paragraph(tr(lang,
                 {"Fine-tuning job priced: **{} tokens** (FINE_TUNE_TOKEN_BUDGET). "
                  "GPU-hour: **{}**; baseline: **{}** at {} per GPU-hour.",
                  "試算するファインチューニング: **{} トークン**"
                  "（FINE_TUNE_TOKEN_BUDGET）。GPU 時間単価: **{}**。比較対象: "
                  "**{}**（GPU 時間単価 {}）。"},
                 grouped(s.fine_tune_token_budget), money(s.gpu_hour_price, cur), s.baseline_name,
                 money(s.baseline_gpu_hour_price, cur)));

  if (in.measured.empty()) {
    d.heading(2, tr(lang, {"No measured training run", "測定済みの学習実行なし"}));
    d.paragraph(
        tr(lang, {"No training run on a GPU was found under the results directory, so this "
                  "document shows **no measured figure and no projection**. Run the campaign of "
                  "docs/benchmark_execution_plan.md (`sxbench plan`), then `sxbench report`.",
                  "results ディレクトリに GPU での学習実行が見つからないため、この文書には"
                  "**測定値も予測値も記載しない**。docs/benchmark_execution_plan.md（`sxbench "
                  "plan`）の計画を実行してから `sxbench report` を実行すること。"}));
  } else {
    d.heading(2, tr(lang, {"Measured: cost, time and energy", "測定値: コスト・時間・エネルギー"}));
    Table measured;
    measured.header = {
        tr(lang, {"model", "モデル"}),
        tr(lang, {"nodes", "ノード"}),
        tr(lang, {"GPUs", "GPU"}),
        tr(lang, {"tokens/s", "トークン/秒"}),
        tr(lang, {"tokens/s/GPU", "トークン/秒/GPU"}),
        tr(lang, {"cost per 1M tokens", "100 万トークンあたりコスト"}),
        tr(lang, {"budget: time", "予算: 時間"}),
        tr(lang, {"budget: cost", "予算: コスト"}),
        tr(lang, {"GPU energy (J/token)", "GPU エネルギー（J/トークン）"}),
        tr(lang, {"facility energy (kWh per 1M tokens)", "施設エネルギー（kWh/100 万トークン）"}),
        tr(lang, {"energy cost per 1M tokens", "100 万トークンあたり電力コスト"}),
        tr(lang, {"run", "実行"})};
    for (const auto& c : in.measured) {
      const RoiFigures f = compute_roi(c, s);
      measured.rows.push_back(
          {c.model, std::to_string(c.nodes), std::to_string(c.gpus), count_text(c.tokens_per_s),
           count_text(f.tokens_per_s_per_gpu), money(f.cost_per_million_tokens, cur),
           hours_text(f.budget_hours, lang), money(f.budget_cost, cur),
           opt_text(f.gpu_energy_j_per_token), opt_text(f.facility_kwh_per_million_tokens),
           f.energy_cost_per_million_tokens ? money(*f.energy_cost_per_million_tokens, cur) : "-",
           fmt::format("`{}`", c.source)});
    }
    d.table(measured);

    d.heading(2, tr(lang, {"Against the baseline (measured)", "比較対象との比較（測定値）"}));
    d.paragraph(tr(lang,
                   {"Baseline: {0} at {1} tokens/s per GPU for {2} at {3} tokens, converted to "
                    "each model at equal model FLOP/s per GPU, with the same number of GPUs at "
                    "{4} per GPU-hour.",
                    "比較対象: {0}（{2}、シーケンス長 {3} トークンで GPU あたり {1} トークン/秒）。"
                    "各モデルへは GPU あたりのモデル FLOP/s が等しいとして換算し、同じ GPU 数・"
                    "GPU 時間単価 {4} で比較する。"},
                   s.baseline_name, grouped(s.baseline_tokens_per_s_per_gpu), s.baseline_model,
                   s.baseline_seq_len, money(s.baseline_gpu_hour_price, cur)));
    Table baseline;
    baseline.header = {
        tr(lang, {"model", "モデル"}),
        tr(lang, {"nodes", "ノード"}),
        tr(lang, {"tokens/s/GPU: this cluster", "トークン/秒/GPU: 本クラスタ"}),
        tr(lang, {"baseline", "比較対象"}),
        tr(lang, {"speed-up per GPU", "GPU あたり高速化"}),
        tr(lang, {"cost per 1M tokens: this cluster", "100 万トークンあたりコスト: 本クラスタ"}),
        tr(lang, {"baseline", "比較対象"}),
        tr(lang, {"saving", "削減率"}),
        tr(lang, {"budget time: this cluster", "予算の所要時間: 本クラスタ"}),
        tr(lang, {"baseline", "比較対象"})};
    for (const auto& c : in.measured) {
      const RoiFigures f = compute_roi(c, s);
      baseline.rows.push_back(
          {c.model, std::to_string(c.nodes), count_text(f.tokens_per_s_per_gpu),
           count_text(f.baseline_tokens_per_s_per_gpu), fmt::format("{:.2f}x", f.speedup_per_gpu),
           money(f.cost_per_million_tokens, cur), money(f.baseline_cost_per_million_tokens, cur),
           percent(f.cost_saving_fraction), hours_text(f.budget_hours, lang),
           hours_text(f.baseline_budget_hours, lang)});
    }
    d.table(baseline);
    d.paragraph(tr(lang, {"A negative saving means this cluster costs more per token than the "
                          "baseline at the stated prices.",
                          "削減率が負の場合、記載の価格では本クラスタのトークン単価が比較対象より"
                          "高い。"}));

    d.heading(2, tr(lang, {"Projections (not measured)", "予測値（未測定）"}));
    if (in.projections.empty()) {
      d.paragraph(
          tr(lang, {"None: every planned node count of the measured models was measured, "
                    "or none could be projected.",
                    "なし: 測定済みモデルの計画ノード数はすべて測定済み、または予測できない。"}));
    } else {
      d.paragraph(
          tr(lang, {"**Projections, not measurements**: the performance model's tokens/s for node "
                    "counts that were not measured, calibrated by the measured runs; power per GPU "
                    "is assumed equal to the measured run with the nearest node count.",
                    "**予測値であり測定値ではない**: 測定していないノード数について、測定結果で較正"
                    "した性能モデルのトークン/秒。GPU あたり電力はノード数が最も近い測定値と同じと"
                    "仮定。"}));
      Table projected;
      projected.header = {
          tr(lang, {"model", "モデル"}),
          tr(lang, {"nodes", "ノード"}),
          tr(lang, {"GPUs", "GPU"}),
          tr(lang, {"projected tokens/s", "予測トークン/秒"}),
          tr(lang, {"tokens/s/GPU", "トークン/秒/GPU"}),
          tr(lang, {"cost per 1M tokens", "100 万トークンあたりコスト"}),
          tr(lang, {"budget: time", "予算: 時間"}),
          tr(lang, {"budget: cost", "予算: コスト"}),
          tr(lang, {"facility energy (kWh per 1M tokens)", "施設エネルギー（kWh/100 万トークン）"}),
          tr(lang, {"saving vs baseline", "比較対象比削減率"}),
          tr(lang, {"basis", "根拠"})};
      for (const auto& c : in.projections) {
        const RoiFigures f = compute_roi(c, s);
        projected.rows.push_back({c.model, std::to_string(c.nodes), std::to_string(c.gpus),
                                  count_text(c.tokens_per_s), count_text(f.tokens_per_s_per_gpu),
                                  money(f.cost_per_million_tokens, cur),
                                  hours_text(f.budget_hours, lang), money(f.budget_cost, cur),
                                  opt_text(f.facility_kwh_per_million_tokens),
                                  percent(f.cost_saving_fraction), projection_text(c, lang)});
      }
      d.table(projected);
    }
    if (!in.projection_notes.empty()) d.bullets(in.projection_notes);

    d.heading(2, tr(lang, {"Energy", "エネルギー"}));
    d.paragraph(tr(lang,
                   {"Measured power is **GPU board power only** (NVML, sampled over the run). "
                    "Facility energy multiplies it by NODE_POWER_OVERHEAD = {} (CPUs, memory, "
                    "NICs, fans) and PUE = {} (cooling and power distribution); both are stated "
                    "inputs. Power behind each row:",
                    "測定した電力は **GPU ボードの電力のみ**（NVML、実行中にサンプリング）。"
                    "施設エネルギーはこれに NODE_POWER_OVERHEAD = {}（CPU・メモリ・NIC・ファン）と "
                    "PUE = {}（冷却・配電）を掛けたもので、どちらも明示した入力値。各行の電力の"
                    "根拠:"},
                   sig3(s.node_power_overhead), sig3(s.pue)));
    std::vector<std::string> power;
    for (const auto& c : in.measured) {
      power.push_back(
          fmt::format("{} {} {}: {}{}", c.model, c.nodes, tr(lang, {"node(s)", "ノード"}),
                      c.mean_gpu_power_w ? fmt::format("{:.0f} W/GPU, ", *c.mean_gpu_power_w) : "",
                      c.power_source));
    }
    for (const auto& c : in.projections) {
      power.push_back(fmt::format(
          "{} {} {} ({}): {}", c.model, c.nodes, tr(lang, {"node(s)", "ノード"}),
          tr(lang, {"projection", "予測"}),
          c.mean_gpu_power_w && c.projection
              ? tr(lang,
                   {"assumed equal to the {:.0f} W per GPU measured on {} node(s) ({})",
                    "{1} ノードでの測定値 GPU あたり {0:.0f} W と同じと仮定（{2}）"},
                   *c.mean_gpu_power_w, c.projection->anchor_nodes, c.projection->anchor_source)
              : tr(lang, {"not measured", "未測定"})));
    }
    d.bullets(power);
  }

  d.heading(2, tr(lang, {"Inputs", "入力"}));
  d.paragraph(tr(lang, {"Every input is a .env key (see .env.example and docs/roi.md); "
                        "precedence: process environment > .env > built-in default.",
                        "入力はすべて .env のキー（.env.example と docs/roi.md を参照）。優先順位: "
                        "プロセス環境変数 > .env > 組み込みの既定値。"}));
  Table inputs;
  inputs.header = {tr(lang, {"key", "キー"}), tr(lang, {"value", "値"}), tr(lang, {"unit", "単位"}),
                   tr(lang, {"from", "出所"}), tr(lang, {"meaning and basis", "意味と根拠"})};
  for (const auto& i : s.inputs)
    inputs.rows.push_back({i.key, i.value, i.unit, origin_text(i.origin, lang), i.basis});
  d.table(inputs);

  d.heading(2, tr(lang, {"Formulas", "計算式"}));
  d.paragraph(tr(lang, {"G = GPUs of the job, R = tokens/s of the job, P = price of one GPU-hour, "
                        "B = token budget, W = mean GPU board power per GPU.",
                        "G = ジョブの GPU 数、R = ジョブのトークン/秒、P = GPU 1 時間の価格、"
                        "B = トークン予算、W = GPU あたり平均ボード電力。"}));
  d.bullets(
      {tr(lang, {"cost per 1M tokens", "100 万トークンあたりコスト"}) +
           " = P x G / (R x 3600) x 10^6",
       tr(lang, {"budget time", "予算の所要時間"}) + " = B / R; " +
           tr(lang, {"budget cost", "予算のコスト"}) + " = B / R / 3600 x G x P",
       tr(lang, {"GPU energy per token", "トークンあたり GPU エネルギー"}) + " = W x G / R (J); " +
           tr(lang, {"facility energy", "施設エネルギー"}) +
           " = GPU energy x NODE_POWER_OVERHEAD x PUE; kWh = J / 3.6 x 10^6",
       tr(lang, {"baseline tokens/s per GPU for a model", "モデルごとの比較対象トークン/秒/GPU"}) +
           " = BASELINE_TOKENS_PER_S_PER_GPU x F(BASELINE_MODEL, BASELINE_SEQ_LEN) / F(model, "
           "seq); F = 6N + 12 L d T (PaLM)",
       tr(lang, {"saving", "削減率"}) + " = 1 - cost per 1M tokens / baseline cost per 1M tokens"});
  if (!in.excluded.empty()) {
    d.heading(2, tr(lang, {"Runs not priced", "試算に使わなかった実行"}));
    d.bullets(in.excluded);
  }
  return d;
}

}  // namespace

std::string render_sales_markdown(const SalesInputs& in, ReportLang lang,
                                  const std::string& generated_utc) {
  return render_markdown(sales_document(in, lang, generated_utc));
}

fs::path write_sales_presentation(const Aggregate& aggregate, const RoiSettings& settings,
                                  const EnvConfig& env, const fs::path& out_dir, ReportLang lang,
                                  const std::string& generated_utc) {
  const Measurements m = measurements_from(aggregate);
  auto request_for = [&](const std::string& model, int64_t seq, int gpus_per_node) {
    PlanRequestOptions o;
    o.models = model;
    o.seq_len = seq;
    o.gpus_per_node = gpus_per_node;
    return make_plan_request(o, env);
  };
  SalesInputs in = sales_inputs(m, settings, request_for);
  in.excluded.insert(in.excluded.end(), m.notes.begin(), m.notes.end());
  const auto specs = load_hardware_specs(find_config_dir() / "hardware");
  const auto gpu = find_gpu_spec(specs, "H200");
  in.gpu_name = gpu ? gpu->name : "NVIDIA H200";
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  const fs::path path = out_dir / "sales_presentation_h200_spectrumx.md";
  write_file_atomic(path, render_sales_markdown(in, lang, generated_utc));
  return path;
}

fs::path write_sales_presentation(const fs::path& results_dir, const fs::path& out_dir,
                                  const EnvConfig& env, ReportLang lang) {
  const RoiSettings settings = roi_settings_from_env(env);
  const auto specs = load_hardware_specs(find_config_dir() / "hardware");
  ReadOptions options;
  options.specs = &specs;
  return write_sales_presentation(aggregate_results(results_dir, options), settings, env, out_dir,
                                  lang, utc_iso8601_now());
}

}  // namespace sxb::report
