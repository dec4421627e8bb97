#pragma once
// Acceptance targets (configs/targets.json, schema sxbench.targets/1) and their verdicts.
//
//   {"schema": "sxbench.targets/1", "source": "...",
//    "targets": [{"id": "...", "label": {"en": "...", "ja": "..."}, "metric": KIND, ...params,
//                 "comparator": ">", "threshold": 90, "unit": "%", "over_runs": "min"}]}
//
// Metric kinds and their parameters (which file and field, which runs count):
//   gpu_utilization       gpu_metrics_summary.json gpus[].utilization_gpu_pct.mean, averaged
//                         over every GPU of a run; runs: "training" (runs with sft_metrics.json,
//                         default) or "all"; unit %.
//   scaling_efficiency    sft_metrics.json tokens_per_s_per_device at `nodes` over the same at
//                         `baseline_nodes` (default 1), same model, sequence length and devices
//                         per node, medians over repeated runs; unit %.
//   nccl_busbw            nccl.json out_of_place.busbw_gb_per_s of `collective` (default
//                         all_reduce) at `message_size` ("largest", default, or a size such as
//                         "1G") on runs of at least `min_nodes` nodes (default 2) on `backend`
//                         (default nccl); unit Gbit/s (busbw x 8) or GB/s.
//   tokens_per_s_per_gpu  sft_metrics.json tokens_per_s_per_device; optional `model`, `nodes`;
//                         unit tokens/s.
// over_runs: worst (default: every counted run must meet the threshold, so the figure shown is
// the worst of them), best or median. Verdicts: met / not met / not measured (no run counts); "met"
// always has a measured value behind it.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/hardware.hpp"
#include "report/results/aggregate.hpp"
#include "report/results/figures.hpp"
#include "report/doc/lang.hpp"

namespace sxb::report {

enum class TargetMetric { gpu_utilization, scaling_efficiency, nccl_busbw, tokens_per_s_per_gpu };
enum class Comparator { greater, greater_equal, less, less_equal };
// worst: the minimum for > and >=, the maximum for < and <= (every counted run must pass).
enum class OverRuns { worst, best, median };

std::string comparator_text(Comparator c);  // ">", ">=", "<", "<="
bool compare(double value, Comparator c, double threshold);

struct Target {
  std::string id;
  std::string label_en, label_ja;
  TargetMetric metric = TargetMetric::gpu_utilization;
  Comparator comparator = Comparator::greater;
  double threshold = 0;
  std::string unit;
  OverRuns over_runs = OverRuns::worst;
  std::string note;
  // Metric parameters (see the file comment).
  std::string runs = "training";
  int nodes = 0;  // scaling_efficiency: required; tokens_per_s_per_gpu: 0 = any
  int baseline_nodes = 1;
  std::string collective = "all_reduce";
  std::optional<uint64_t> message_size;  // nullopt: the largest measured size
  int min_nodes = 2;
  std::string backend = "nccl";
  std::string model;  // tokens_per_s_per_gpu: empty = any
};

struct TargetsFile {
  std::string path;  // as given, for messages and the document
  std::string source;
  std::vector<Target> targets;
};

// Parses a targets file; every problem is a one-line sxb::Error naming the file and the target.
TargetsFile parse_targets(const nlohmann::json& j, const std::string& path);
TargetsFile load_targets(const std::filesystem::path& path);

enum class TargetVerdict { met, not_met, not_measured };
std::string verdict_text(TargetVerdict v, ReportLang lang);

// One measured value that counts for a target: a run (or a scaling pair) and its figure.
struct TargetContribution {
  std::string subject;            // run name, or "model, seq N: 4 nodes / 1 node"
  std::vector<std::string> runs;  // every run behind the value
  double value = 0;               // in the target's unit
};

// Whether the threshold can be met at all given configs/hardware, with the arithmetic.
struct Reachability {
  bool checked = false;  // a physical limit applies to this metric
  bool reachable = true;
  double limit = 0;  // in the target's unit
  std::string arithmetic_en, arithmetic_ja;
};

struct TargetResult {
  Target target;
  TargetVerdict verdict = TargetVerdict::not_measured;
  std::optional<double> value;  // aggregated over contributions by over_runs
  std::vector<TargetContribution> contributions;
  Reachability reachability;
};

std::vector<TargetResult> evaluate_targets(const TargetsFile& targets, const Aggregate& aggregate,
                                           const Figures& figures,
                                           const std::vector<HardwareSpec>& specs);

// What the metric measures, in words: file, field, which runs count, the aggregation.
std::string target_definition(const Target& t, ReportLang lang);

nlohmann::json to_json(const std::vector<TargetResult>& results);

}  // namespace sxb::report
