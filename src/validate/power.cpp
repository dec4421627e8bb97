#include <fmt/format.h>

#include <string>

#include "validate/findings.hpp"

namespace sxb {

namespace {

struct PowerMean {
  double watts = 0;
  std::string what;  // "power_w mean, window training", "energy counter, whole run"
};

// The highest mean of one GPU's entry (a summary's gpus[] element or a window's).
void consider(const nlohmann::json& gpu, const std::string& window, PowerMean& best) {
  const auto take = [&](const nlohmann::json* v, const char* source) {
    if (v == nullptr || !v->is_number()) return;
    const double w = v->get<double>();
    if (w > best.watts) best = {w, fmt::format("{}, {}", source, window)};
  };
  if (gpu.contains("power_w") && gpu["power_w"].is_object()) {
    const auto& p = gpu["power_w"];
    take(p.contains("mean") ? &p["mean"] : nullptr, "NVML power mean");
  }
  if (gpu.contains("energy") && gpu["energy"].is_object()) {
    const auto& e = gpu["energy"];
    take(e.contains("mean_power_from_counter_w") ? &e["mean_power_from_counter_w"] : nullptr,
         "energy-counter mean");
  }
}

}  // namespace

std::vector<Finding> validate_gpu_power(const nlohmann::json& summary, const JobLimits& limits) {
  std::vector<Finding> out;
  if (!limits.gpu || !limits.gpu->figures.count("tdp_watts")) return out;
  const HardwareFigure& tdp = limits.gpu->figure("tdp_watts");
  const double bound = tdp.value * (1 + kPowerReadingTolerance);
  // Every host's summary: the run's own, or each of "hosts" on a multi-node run.
  std::vector<std::pair<std::string, const nlohmann::json*>> hosts;
  if (summary.contains("hosts") && summary["hosts"].is_object()) {
    for (const auto& [host, s] : summary["hosts"].items()) hosts.push_back({host, &s});
  } else {
    hosts.push_back({summary.value("host", std::string("this host")), &summary});
  }
  // Windows are cut from every host's rows, so they are looked up by host and index.
  const nlohmann::json* windows = nullptr;
  if (summary.contains("phase_windows") && summary["phase_windows"].is_object() &&
      summary["phase_windows"].contains("windows")) {
    windows = &summary["phase_windows"]["windows"];
  }
  for (const auto& [host, s] : hosts) {
    if (!s->contains("gpus") || !(*s)["gpus"].is_array()) continue;
    for (const auto& gpu : (*s)["gpus"]) {
      const int index = gpu.value("index", -1);
      PowerMean best;
      consider(gpu, "whole run", best);
      if (windows != nullptr && windows->is_array()) {
        for (const auto& w : *windows) {
          if (!w.contains("gpus") || !w["gpus"].is_array()) continue;
          for (const auto& g : w["gpus"]) {
            if (g.value("host", host) != host || g.value("index", -2) != index) continue;
            consider(g, "window " + w.value("name", std::string("?")), best);
          }
        }
      }
      if (!(best.watts > 0)) continue;
      Finding f;
      f.check = "gpu.power_vs_board_limit";
      f.subject = fmt::format("{} gpu {} ({})", host, index, gpu.value("name", std::string("GPU")));
      f.measured = best.watts;
      f.limit = tdp.value;
      f.unit = "W";
      const bool ok = best.watts <= bound;
      f.verdict = ok ? Verdict::ok : Verdict::impossible;
      f.arithmetic = fmt::format(
          "highest mean {:.1f} W ({}) {} {:.0f} W board limit x (1 + {:.0f} % NVML reading "
          "tolerance) = {:.0f} W (tdp_watts of {}: {}){}",
          best.watts, best.what, ok ? "<=" : ">", tdp.value, 100 * kPowerReadingTolerance, bound,
          limits.gpu->id, tdp.source, ok ? "" : " — impossible: the board cannot draw it");
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace sxb
