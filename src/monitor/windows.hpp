#pragma once
// Summaries of gpu_metrics.csv over windows of a run's time: each phase of `run` (run.json
// phases[]) and the training engine's timed steps (sft_metrics.json measured_window_utc). A
// whole-run mean mixes collectives, ceilings and the gaps between phases; a target about the
// GPUs during training is judged on the training window.
//
// Which samples count: a sample at time t describes the interval before it (GPM metrics over the
// sampling interval, NVML utilisation over the driver's sample period, at most that long), so it
// counts when [t - interval_s, t] lies inside the window. A window given in whole seconds may
// have started up to a second after its written start, so its start is taken one second later.
// A window shorter than the interval holds no sample and says so; nothing is interpolated.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sxb {

struct MetricsWindow {
  std::string name;                       // "nccl", "compute", "sft" or "training"
  std::string started_utc, finished_utc;  // ISO 8601 UTC, whole seconds or milliseconds
  std::string source;                     // where the two times come from
};

inline constexpr const char* kTrainingWindow = "training";

// The windows of a run directory's files: every finished phase of run.json (null or missing
// phases give none) and, when sft_metrics.json records it, the training window. Either argument
// may be null (file absent). Throws a one-line sxb::Error on a time that does not parse.
std::vector<MetricsWindow> run_windows(const nlohmann::json& run_json,
                                       const nlohmann::json& sft_metrics);

// {"method": ..., "interval_s": ..., "windows": [{"name", "started_utc", "finished_utc",
// "source", "samples", "gpus": [{"host", <per-GPU summary as in gpus[]>}], "note"?}]}
// from the samples of `csv`. Throws a one-line sxb::Error naming the file on a malformed CSV or
// a window time that does not parse.
nlohmann::json summarize_windows(const std::filesystem::path& csv,
                                 const std::vector<MetricsWindow>& windows, double interval_s);

}  // namespace sxb
