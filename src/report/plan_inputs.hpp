#pragma once
// The measured figures the plan and the sales summary use, read from run directories (results/):
// training rate (sft_metrics.json), all_reduce bus bandwidth and sweep wall time (nccl.json),
// compute phase wall time (run.json) and mean GPU board power (gpu_metrics_summary.json).
// A file whose checks failed in validation.json, or that is not complete, is left out with a
// note saying why.
#include <filesystem>
#include <optional>
#include <string>

#include "report/plan.hpp"

namespace sxb::report {

// Seconds between two ISO-8601 UTC stamps ("2026-11-25T12:00:00Z"); nullopt when either is
// malformed.
std::optional<double> seconds_between(const std::string& started_utc,
                                      const std::string& finished_utc);

// Every run directory directly under `results_dir` (a missing directory gives no measurements).
// Throws sxb::Error when `results_dir` exists but is not a directory.
Measurements read_measurements(const std::filesystem::path& results_dir);

// One run directory; appends what it measured to `out`.
void read_run_directory(const std::filesystem::path& dir, Measurements& out);

}  // namespace sxb::report
