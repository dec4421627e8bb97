#include "report/plan/markdown.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "report/doc/document.hpp"
#include "report/doc/number_format.hpp"

namespace sxb::report {

namespace {

std::string recompute_text(Recompute r, const Say& t) {
  switch (r) {
    case Recompute::none:
      return t("none", "なし");
    case Recompute::selective:
      // model/recompute.hpp: the two RMSNorm outputs and the SwiGLU output are rebuilt.
      return t("selective (norms, SwiGLU)", "選択的 (RMSNorm・SwiGLU)");
    case Recompute::full:
      return t("full (every layer)", "全層");
  }
  return "?";
}

std::string verdict_text(const MemoryPlan& p, const Say& t) {
  const double gib_total = p.total_bytes, cap = p.capacity_bytes;
  if (p.fits) {
    return fmt::format(
        fmt::runtime(t("fits: {} of {} GiB ({} GiB free)", "収まる: {} / {} GiB（空き {} GiB）")),
        gib(gib_total), gib(cap), gib(cap - gib_total));
  }
  struct Term {
    const char* en;
    const char* ja;
    double bytes;
  };
  const Term terms[] = {{"weights", "重み", p.weights_bytes},
                        {"gradients", "勾配", p.gradients_bytes},
                        {"optimizer state", "オプティマイザ状態", p.optimizer_bytes},
                        {"activations", "アクティベーション", p.activations_bytes},
                        {"logits", "ロジット", p.logits_bytes},
                        {"buffers", "バッファ", p.buffers_bytes}};
  const Term* big =
      std::max_element(std::begin(terms), std::end(terms),
                       [](const Term& a, const Term& b) { return a.bytes < b.bytes; });
  return fmt::format(fmt::runtime(t("does not fit: {} GiB needed, {} GiB per GPU (largest term: {} "
                                    "{} GiB)",
                                    "収まらない: 必要 {} GiB、GPU あたり {} GiB（最大の項目: {} {} "
                                    "GiB）")),
                     gib(gib_total), gib(cap), t(big->en, big->ja), gib(big->bytes));
}

std::string alternatives_text(const PlanEntry& e, const Say& t) {
  if (e.alternatives.empty()) {
    return t("no ZeRO stage, node count or micro-batch tried makes it fit",
             "試した ZeRO ステージ・ノード数・マイクロバッチのいずれでも収まらない");
  }
  std::string out = t("fits with ", "収まる条件: ");
  for (size_t i = 0; i < e.alternatives.size(); ++i) {
    const FitAlternative& a = e.alternatives[i];
    if (i > 0) out += t(", or ", "、または ");
    switch (a.kind) {
      case FitAlternative::Kind::zero3:
        out += fmt::format(fmt::runtime(t("ZeRO-3 ({} recomputation)", "ZeRO-3（再計算: {}）")),
                           recompute_text(a.recompute, t));
        break;
      case FitAlternative::Kind::more_nodes:
        out += fmt::format(fmt::runtime(t("{} nodes with this ds_config ({} recomputation)",
                                          "この ds_config で {} ノード（再計算: {}）")),
                           a.nodes, recompute_text(a.recompute, t));
        break;
      case FitAlternative::Kind::micro_batch_one:
        out += fmt::format(
            fmt::runtime(t("micro-batch 1 with gradient accumulation {} (same global "
                           "batch; {} recomputation)",
                           "マイクロバッチ 1・勾配累積 {}（グローバルバッチは同じ、再計算: "
                           "{}）")),
            a.grad_accum, recompute_text(a.recompute, t));
        break;
    }
  }
  return out;
}

std::string pct(double fraction) {
  return fmt::format("{:.1f}%", 100 * fraction);
}

std::string phase_name(const SchedulePhase& p, const Say& t) {
  if (!t.ja) return p.name;
  switch (p.kind) {
    case PhaseKind::info:
      return "インベントリ（ハードウェア・ソフトウェア構成）";
    case PhaseKind::nccl:
      return fmt::format("集団通信スイープ（{} ノード）", p.nodes);
    case PhaseKind::compute:
      return "全ノードの GPU 性能上限";
    case PhaseKind::training:
      return p.name.substr(0, p.name.rfind(" on ")) + fmt::format("（{} ノード）", p.nodes);
  }
  return p.name;
}

// "--seq-len", "SEQ_LEN default" or "SEQ_LEN from FILE:LINE" (plan_request.cpp) in the language.
std::string seq_len_source_text(const std::string& source, const Say& t) {
  if (!t.ja) return source;
  if (source == "SEQ_LEN default") return "SEQ_LEN の既定値";
  const std::string from = "SEQ_LEN from ";
  if (source.rfind(from, 0) == 0) return "SEQ_LEN: " + source.substr(from.size());
  return source;
}

// The basis of a phase's duration in Japanese (the English line is SchedulePhase's own).
std::string basis_text_ja(const DurationBasis& b) {
  using K = DurationBasis::Kind;
  switch (b.kind) {
    case K::assumed:
      return fmt::format("仮定値 {}", b.figure);
    case K::measured:
      return fmt::format(
          "測定値: {}/run.json の同じジョブの実行時間（started_utc から finished_utc）", b.figure);
    case K::predicted_sweep:
      return fmt::format(
          "予測: ジョブ起動 {:g} 秒 + 7 種の集団通信 x 31 サイズ（8 B〜8 GiB）x 25 回、"
          "バス帯域 {:.1f} GB/s・レイテンシ {:g} us（{:.0f} 秒）; バッファ準備と"
          "データ検査は含まない",
          b.startup_s, b.busbw_gb_per_s, b.latency_us, b.sweep_s);
    case K::predicted_compute:
      return fmt::format("予測: ジョブ起動 {:g} 秒 + GPU {} 基 x GPU あたり {:g} 秒", b.startup_s,
                         b.gpus, b.per_gpu_s);
    case K::predicted_training:
      return fmt::format(
          "予測: ジョブ起動 {:g} 秒 + ウォームアップ {} ステップ x {:g} + {} ステップ x "
          "ステップあたり {:.3g} 秒{}",
          b.startup_s, b.warmup_steps, b.warmup_factor, b.steady_steps, b.step_s,
          b.as_configured ? "（ds_config どおりの全層再計算）" : "");
  }
  return "";
}

}  // namespace

std::string render_plan_markdown(const ExecutionPlan& plan, ReportLang lang,
                                 const std::string& generated_utc) {
  const Say t(lang);
  const PlanRequest& r = plan.request;
  const PlanHardware& hw = r.hardware;
  std::string md;
  md += fmt::format(fmt::runtime(t("# Benchmark execution plan: {} x {} per node on Spectrum-X\n\n",
                                   "# ベンチマーク実行計画: {} x {}/ノード（Spectrum-X）\n\n")),
                    hw.gpu_name, r.gpus_per_node);
  md += fmt::format(
      fmt::runtime(
          t("Generated by `sxbench plan` (sxbench {}) at {}. **Every figure in this document "
            "is a prediction** (an expected value) of sxbench's performance model, not a "
            "measurement. The inputs it rests on are listed under [Inputs](#inputs): "
            "measured figures with the run directory that measured them, and assumptions "
            "with their source. `sxbench report` puts measured runs next to these "
            "predictions.\n\n",
            "`sxbench plan`（sxbench {}）が {} に生成。**この文書の数値はすべて予測値**"
            "（期待値）であり、sxbench の性能モデルによる計算結果で、測定値ではない。"
            "前提となる入力は[入力](#入力)に列挙する: 測定値はそれを測定した実行"
            "ディレクトリ、仮定値はその出典とともに示す。測定結果と予測の比較は "
            "`sxbench report` が行う。\n\n")),
      SXB_VERSION, generated_utc);
  md += fmt::format(
      fmt::runtime(t("Models: {}. Node counts: {}. {} GPUs per node, sequence length {} tokens "
                     "({}), {} steps per training run ({} warm-up step excluded from the metrics). "
                     "Calibration: {} measured figure(s), {} assumption(s).\n\n",
                     "モデル: {}。ノード数: {}。ノードあたり GPU {} 基、シーケンス長 {} トークン"
                     "（{}）、学習 1 回あたり {} ステップ（うちウォームアップ {} ステップは指標から"
                     "除外）。較正: 測定値 {} 件、仮定値 {} 件。\n\n")),
      [&] {
        std::string s;
        for (const auto& m : r.models) s += (s.empty() ? "" : ", ") + m.shape.name;
        return s;
      }(),
      fmt::join(r.nodes, ", "), r.gpus_per_node, r.seq_len,
      seq_len_source_text(r.seq_len_source, t), r.steps, r.warmup_steps, plan.measured.size(),
      plan.assumptions.size());

  // Summary.
  md += t("## Summary (predicted)\n\n", "## 概要（予測値）\n\n");
  md += t(
      "| model | nodes | GPUs | memory per GPU | tokens/s | tokens/s/GPU | samples/s | scaling "
      "efficiency | run duration |\n",
      "| モデル | ノード | GPU | GPU あたりメモリ | トークン/秒 | トークン/秒/GPU | サンプル/秒 | "
      "スケーリング効率 | 実行時間 |\n");
  md += "|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& e : plan.entries) {
    if (!e.prediction) {
      md += fmt::format("| {} | {} | {} | {} | - | - | - | - | {} |\n", e.model, e.nodes, e.gpus,
                        t("**does not fit**", "**収まらない**"), t("not scheduled", "実行しない"));
      continue;
    }
    const StepPrediction& p = *e.prediction;
    md += fmt::format("| {} | {} | {} | {} {} GiB | {} | {} | {} | {} | {} |\n", e.model, e.nodes,
                      e.gpus, t("fits", "収まる"), gib(e.memory.total_bytes),
                      count_text(p.tokens_per_s), count_text(p.tokens_per_s_per_gpu),
                      sig3(p.samples_per_s),
                      e.scaling_efficiency
                          ? fmt::format(fmt::runtime(t("{} (vs {} node(s))", "{}（{} ノード比）")),
                                        pct(*e.scaling_efficiency), e.scaling_reference_nodes)
                          : "-",
                      duration_text(e.run_duration_s, t.ja));
  }
  md +=
      t("\nScaling efficiency = predicted tokens/s per GPU at N nodes / tokens/s per GPU at the "
        "reference node count (the smallest planned count at which the model fits).",
        "\nスケーリング効率 = N ノードでの GPU あたり予測トークン/秒 ÷ 基準ノード数（モデルが"
        "収まる最小の計画ノード数）での GPU あたり予測トークン/秒。");
  const bool above_one = std::any_of(plan.entries.begin(), plan.entries.end(), [](const auto& e) {
    return e.scaling_efficiency && *e.scaling_efficiency > 1.005;
  });
  if (above_one) {
    md +=
        t(" Above 100%: the reference node count needs more recomputation (less GPU memory per "
          "GPU for activations), which more nodes no longer need.",
          " 100% を超える場合: 基準ノード数ではメモリ不足のため再計算が多く、ノード数が増えると"
          "その再計算が不要になる。");
  }
  md += "\n\n";

  // Schedule.
  md += t("## Schedule\n\n", "## スケジュール\n\n");
  md += fmt::format(
      fmt::runtime(
          t("The benchmark campaign in execution order: bring-up (inventory), collective "
            "sweeps per node count, GPU ceilings, then the training runs. Predicted total: "
            "**{}** over {} phases.\n\n",
            "実行順のベンチマーク計画: 立ち上げ（インベントリ）、ノード数ごとの集団通信"
            "スイープ、GPU 性能上限、その後に学習実行。予測合計: **{}**（{} フェーズ）。\n\n")),
      duration_text(plan.total_s, t.ja), plan.schedule.size());
  md += t("| # | phase | nodes | command | predicted duration | running total |\n",
          "| # | フェーズ | ノード | コマンド | 予測所要時間 | 累計 |\n");
  md += "|---|---|---|---|---|---|\n";
  for (const auto& p : plan.schedule) {
    md += fmt::format("| {} | {} | {} | `{}` | {} | {} |\n", p.index, phase_name(p, t), p.nodes,
                      markdown_cell_text(p.command), duration_text(p.duration_s, t.ja),
                      duration_text(p.cumulative_s, t.ja));
  }
  md += t("\nHow each duration was obtained:\n\n", "\n各所要時間の根拠:\n\n");
  for (const auto& p : plan.schedule) {
    md += fmt::format("{}. {}\n", p.index, t.ja ? basis_text_ja(p.basis) : p.duration_basis);
  }
  md += "\n";
  if (!plan.not_scheduled.empty()) {
    md += t("Not scheduled (the configuration does not fit in GPU memory):\n\n",
            "実行しないもの（構成が GPU メモリに収まらない）:\n\n");
    for (const auto& e : plan.entries) {
      if (e.prediction) continue;
      md += fmt::format("- {} {} {}: {}; {}\n", e.model, e.nodes, t("node(s)", "ノード"),
                        verdict_text(e.memory, t), alternatives_text(e, t));
    }
    md += "\n";
  }
  md +=
      t("Each line runs on the cluster from the repository root: `scripts/run_h200_benchmark.sh` "
        "starts one process per GPU through Slurm (`srun`) inside an allocation, or `mpirun` "
        "with `HOSTFILE`, and writes one run directory under `results/`.\n\n",
        "各行はリポジトリのルートでクラスタ上で実行する: `scripts/run_h200_benchmark.sh` は"
        "割り当て内では Slurm（`srun`）、`HOSTFILE` があれば `mpirun` で GPU ごとに 1 プロセスを"
        "起動し、`results/` の下に実行ディレクトリを 1 つ書き出す。\n\n");

  // Per model.
  md += t("## Per model (predicted)\n\n", "## モデル別（予測値）\n\n");
  for (const auto& pm : r.models) {
    const std::string& name = pm.shape.name;
    md += fmt::format(
        fmt::runtime(t("### {}\n\n{:.2f} B parameters ({} layers, hidden {}, {} heads, "
                       "{} KV heads, FFN {}, vocabulary {}); ds_config `{}`: ZeRO "
                       "stage {}, {}.\n\n",
                       "### {}\n\nパラメータ {:.2f} B（{} 層、隠れ次元 {}、ヘッド {}、KV "
                       "ヘッド {}、FFN {}、語彙 {}）; ds_config `{}`: ZeRO ステージ "
                       "{}、{}。\n\n")),
        name, pm.shape.params / 1e9, pm.shape.layers, pm.shape.hidden, pm.shape.heads,
        pm.shape.kv_heads, pm.shape.ffn, pm.shape.vocab, pm.ds_path, pm.ds.zero_stage,
        pm.ds.precision());
    md += t("Configuration:\n\n", "構成:\n\n");
    md +=
        t("| nodes | GPUs | ZeRO | micro-batch | gradient accumulation | global batch (sequences) "
          "| global batch (tokens) | recomputation |\n",
          "| ノード | GPU | ZeRO | マイクロバッチ | 勾配累積 | グローバルバッチ（シーケンス） | "
          "グローバルバッチ（トークン） | 再計算 |\n");
    md += "|---|---|---|---|---|---|---|---|\n";
    bool recompute_note = false;
    for (const auto& e : plan.entries) {
      if (e.model != name) continue;
      recompute_note = recompute_note || e.as_configured.has_value();
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", e.nodes, e.gpus,
                        e.setup.zero_stage, e.setup.micro_batch, e.setup.grad_accum,
                        grouped(static_cast<double>(e.global_batch_sequences)),
                        grouped(e.global_batch_tokens), recompute_text(e.setup.recompute, t));
    }
    md +=
        t("\nRecomputation: the lightest that fits in GPU memory (none, then selective, then "
          "full).",
          "\n再計算: GPU メモリに収まる最も軽いもの（なし、選択的、全層の順に試す）。");
    if (recompute_note) {
      md +=
          t(" The ds_config has an `activation_checkpointing` section, so sxbench's trainer "
            "recomputes every layer: the scheduled run's duration is predicted for full "
            "recomputation (the *as configured* column below).",
            " この ds_config には `activation_checkpointing` セクションがあり、sxbench の"
            "トレーナーは全層を再計算する: スケジュール上の実行時間は全層再計算で予測している"
            "（下表の「設定どおり」列）。");
    }
    md += "\n\n";
    md += t("Memory per GPU (GiB):\n\n", "GPU あたりメモリ（GiB）:\n\n");
    md += t(
        "| nodes | weights | gradients | optimizer state | activations | logits | buffers | "
        "total | verdict |\n",
        "| ノード | 重み | 勾配 | オプティマイザ状態 | アクティベーション | ロジット | バッファ | "
        "合計 | 判定 |\n");
    md += "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& e : plan.entries) {
      if (e.model != name) continue;
      const MemoryPlan& m = e.memory;
      std::string verdict = verdict_text(m, t);
      if (!e.fits) verdict += "; " + alternatives_text(e, t);
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", e.nodes,
                        gib(m.weights_bytes), gib(m.gradients_bytes), gib(m.optimizer_bytes),
                        gib(m.activations_bytes), gib(m.logits_bytes), gib(m.buffers_bytes),
                        gib(m.total_bytes), verdict);
    }
    md +=
        t("\nWeights bf16 (sharded by ZeRO-3, plus two gathered layers); gradients bf16, or fp32 "
          "when micro-steps accumulate (sharded from ZeRO-2); optimizer fp32 master + AdamW m and "
          "v, 12 bytes per parameter (sharded from ZeRO-1); activations saved for backward at the "
          "chosen recomputation; logits bf16 + fp32 softmax; buffers: CUDA context, NCCL and "
          "communication buckets. Capacity: the datasheet HBM.\n\n",
          "\n重み: bf16（ZeRO-3 で分割、集約中の 2 層分を加算）; 勾配: bf16、マイクロステップを"
          "累積する場合は fp32（ZeRO-2 以上で分割）; オプティマイザ: fp32 マスター + AdamW の m と "
          "v、パラメータあたり 12 バイト（ZeRO-1 以上で分割）; アクティベーション: 選んだ再計算で"
          "逆伝播用に保持する分; ロジット: bf16 + fp32 softmax; バッファ: CUDA コンテキスト、NCCL、"
          "通信バケット。容量はデータシートの HBM 容量。\n\n");
    md += t("Predicted step time and throughput:\n\n", "予測ステップ時間とスループット:\n\n");
    md +=
        t("| nodes | compute (s) | exposed communication (s) | optimizer (s) | step (s) | tokens/s "
          "| tokens/s/GPU | samples/s | MFU | scaling efficiency | as configured: tokens/s | run "
          "duration |\n",
          "| ノード | 計算（秒） | 隠れない通信（秒） | オプティマイザ（秒） | ステップ（秒） | "
          "トークン/秒 | トークン/秒/GPU | サンプル/秒 | MFU | スケーリング効率 | 設定どおり: "
          "トークン/秒 | 実行時間 |\n");
    md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& e : plan.entries) {
      if (e.model != name) continue;
      if (!e.prediction) {
        md += fmt::format("| {} | - | - | - | - | - | - | - | - | - | - | {} |\n", e.nodes,
                          t("does not fit", "収まらない"));
        continue;
      }
      const StepPrediction& p = *e.prediction;
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", e.nodes,
                        sig3(p.compute_s), sig3(p.exposed_comm_s), sig3(p.optimizer_s),
                        sig3(p.step_s), count_text(p.tokens_per_s),
                        count_text(p.tokens_per_s_per_gpu), sig3(p.samples_per_s), pct(p.mfu),
                        e.scaling_efficiency ? pct(*e.scaling_efficiency) : "-",
                        e.as_configured ? count_text(e.as_configured->tokens_per_s) : "-",
                        duration_text(e.run_duration_s, t.ja));
    }
    md += t(
        "\nStep = compute + exposed communication + optimizer. Compute = tokens per GPU per step x "
        "executed FLOPs per token (PaLM 6N + 12LdT plus the recomputation's extra forward work) / "
        "the achieved rate; communication = gradient bytes x ring factor (x 1.5 for ZeRO-3) / "
        "all_reduce busbw, less what overlaps the last micro-step's backward; optimizer = AdamW "
        "over this GPU's shard at the stated HBM efficiency. MFU counts model FLOPs only. Samples "
        "are sequences of the planned length.\n\n",
        "\nステップ = 計算 + 隠れない通信 + オプティマイザ。計算 = GPU あたりステップあたり"
        "トークン数 x トークンあたり実行 FLOPs（PaLM 6N + 12LdT に再計算分の順伝播を加算）÷ "
        "実効演算速度; 通信 = 勾配バイト数 x リング係数（ZeRO-3 は x 1.5）÷ all_reduce バス帯域"
        "から最後のマイクロステップの逆伝播と重なる分を引いたもの; オプティマイザ = この GPU の"
        "分割分の AdamW（記載の HBM 効率）。MFU はモデル FLOPs のみで数える。サンプルは計画した"
        "長さのシーケンス。\n\n");
    std::vector<std::string> used;
    for (const auto& e : plan.entries) {
      if (e.model != name) continue;
      for (const auto& f : e.calibration) {
        const std::string line =
            fmt::format("{} = {} {} — {}", f.name, sig3(f.value), f.unit, f.source);
        if (std::find(used.begin(), used.end(), line) == used.end()) used.push_back(line);
      }
    }
    if (used.empty()) {
      md +=
          t("Calibration of this model: none (no measured run applies; the assumptions below "
            "hold).\n\n",
            "このモデルの較正: なし（該当する測定結果がないため、下記の仮定値を使用）。\n\n");
    } else {
      md += t("Measured figures this model's predictions use:\n\n",
              "このモデルの予測に使った測定値:\n\n");
      for (const auto& l : used) md += "- " + l + "\n";
      md += "\n";
    }
  }

  // Inputs.
  md += t("## Inputs\n\n", "## 入力\n\n");
  md += t("### Measured figures (calibration)\n\n", "### 測定値（較正）\n\n");
  if (plan.measured.empty()) {
    md +=
        t("None: no usable run directory was found, so every figure rests on the datasheet "
          "figures and assumptions below.\n\n",
          "なし: 使える実行ディレクトリが見つからなかったため、すべての数値は下記のデータシート"
          "値と仮定値に基づく。\n\n");
  } else {
    md += t("| figure | value | unit | source |\n", "| 項目 | 値 | 単位 | 出典 |\n");
    md += "|---|---|---|---|\n";
    for (const auto& f : plan.measured) {
      md += fmt::format("| {} | {} | {} | {} |\n", f.name, sig3(f.value), f.unit,
                        markdown_cell_text(f.source));
    }
    md += "\n";
  }
  if (!plan.calibration_notes.empty()) {
    md += t("Not calibrated:\n\n", "較正できなかった項目:\n\n");
    for (const auto& n : plan.calibration_notes) md += "- " + n + "\n";
    md += "\n";
  }
  md += t("### Assumptions\n\n", "### 仮定値\n\n");
  md +=
      t("Datasheet figures (configs/hardware) and stated assumptions; none of them is a "
        "measurement of this cluster.\n\n",
        "データシート値（configs/hardware）と明示した仮定値。いずれもこのクラスタの測定値では"
        "ない。\n\n");
  md += t("| assumption | value | unit | source |\n", "| 仮定 | 値 | 単位 | 出典 |\n");
  md += "|---|---|---|---|\n";
  for (const auto& a : plan.assumptions) {
    md += fmt::format("| {} | {} | {} | {} |\n", a.name, sig3(a.value), a.unit,
                      markdown_cell_text(a.source));
  }
  md += "\n";
  md += t("Machine-readable: `plan.json` next to this file (the same figures, unrounded).\n",
          "機械可読版: このファイルと同じ場所の `plan.json`（同じ数値を丸めずに収録）。\n");
  return md;
}

}  // namespace sxb::report
