#pragma once
// What a run measured, and its summary_report.md.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/collective_results.hpp"
#include "validate/findings.hpp"

namespace sxb {

struct RunArtifacts {
  std::optional<CollectiveReport> nccl;
  std::optional<nlohmann::json> compute;              // compute.json (this node)
  std::optional<nlohmann::json> sft;                  // sft_metrics.json
  std::optional<nlohmann::json> gpu_metrics_summary;  // gpu_metrics_summary.json
};

// Markdown summary of one run: inventory, phases, headline figures (each with its method) and
// validation findings. Uses only what the run recorded.
std::string render_run_summary(const nlohmann::json& run, const RunArtifacts& artifacts,
                               const ValidationReport& validation);

}  // namespace sxb
