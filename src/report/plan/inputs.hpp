#pragma once
// The measured figures the plan and the sales summary use, taken from the aggregation of the
// run directories (report/aggregate.hpp): training rate (sft_metrics.json), all_reduce bus
// bandwidth and sweep wall time (nccl.json, run.json), compute phase wall time and mean GPU board
// power (gpu_metrics_summary.json). A failed run, a skipped directory, or a file whose checks
// failed validation is left out with a note saying why.
#include <filesystem>
#include <optional>
#include <string>

#include "report/results/aggregate.hpp"
#include "report/plan/plan.hpp"

namespace sxb::report {

// Seconds between two ISO-8601 UTC stamps ("2026-11-25T12:00:00Z"); nullopt when either is
// malformed or the second is earlier.
std::optional<double> seconds_between(const std::string& started_utc,
                                      const std::string& finished_utc);

Measurements measurements_from(const Aggregate& aggregate);

// Aggregates `results_dir` and takes its measurements; a results directory that does not exist
// gives none (a plan before any run). Throws sxb::Error when it exists but is not a directory.
Measurements read_measurements(const std::filesystem::path& results_dir);

}  // namespace sxb::report
