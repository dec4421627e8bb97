#include "monitor/windows.hpp"

#include <fmt/format.h>

#include <map>

#include "core/error.hpp"
#include "core/utc_time.hpp"
#include "monitor/metrics_csv.hpp"
#include "monitor/summary.hpp"

namespace sxb {

namespace {

using json = nlohmann::json;

UtcTime parse_time(const std::string& text, const MetricsWindow& w, const char* which) {
  const auto t = parse_utc_iso8601(text);
  if (!t) {
    throw usage_error(fmt::format("{}: {} of window '{}' is '{}', not an ISO 8601 UTC time",
                                  w.source, which, w.name, text));
  }
  return *t;
}

std::string text_at(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

std::vector<MetricsWindow> run_windows(const json& run_json, const json& sft_metrics) {
  std::vector<MetricsWindow> out;
  if (run_json.is_object() && run_json.contains("phases") && run_json["phases"].is_array()) {
    for (size_t i = 0; i < run_json["phases"].size(); ++i) {
      const json& p = run_json["phases"][i];
      const std::string name = text_at(p, "name"), started = text_at(p, "started_utc"),
                        finished = text_at(p, "finished_utc");
      if (name.empty() || started.empty() || finished.empty()) continue;  // still running
      out.push_back({name, started, finished, fmt::format("run.json /phases/{}", i)});
    }
  }
  if (sft_metrics.is_object() && sft_metrics.contains("measured_window_utc") &&
      sft_metrics["measured_window_utc"].is_object()) {
    const json& w = sft_metrics["measured_window_utc"];
    out.push_back({kTrainingWindow, text_at(w, "started"), text_at(w, "finished"),
                   "sft_metrics.json /measured_window_utc"});
  }
  for (const auto& w : out) {
    parse_time(w.started_utc, w, "start");
    parse_time(w.finished_utc, w, "end");
  }
  return out;
}

json summarize_windows(const std::filesystem::path& csv, const std::vector<MetricsWindow>& windows,
                       double interval_s) {
  struct Span {
    double from = 0, to = 0;  // the sample's time t must satisfy from <= t - interval, t <= to
    std::map<std::string, MetricsSummary> hosts;
    size_t samples = 0;
  };
  std::vector<Span> spans;
  for (const auto& w : windows) {
    const UtcTime a = parse_time(w.started_utc, w, "start");
    const UtcTime b = parse_time(w.finished_utc, w, "end");
    spans.push_back({a.epoch_s + (a.whole_seconds ? 1.0 : 0.0), b.epoch_s, {}, 0});
  }
  const std::string file = csv.filename().string();
  read_metrics_csv(csv, [&](const Tick& tick) {
    const auto t = parse_utc_iso8601(tick.timestamp_utc);
    if (!t) {
      throw usage_error(fmt::format("{}: timestamp_utc '{}' is not an ISO 8601 UTC time", file,
                                    tick.timestamp_utc));
    }
    for (auto& s : spans) {
      if (t->epoch_s - interval_s + 1e-6 < s.from || t->epoch_s > s.to + 1e-6) continue;
      s.hosts[tick.host].add(tick);
      ++s.samples;
    }
  });
  json list = json::array();
  for (size_t i = 0; i < windows.size(); ++i) {
    const MetricsWindow& w = windows[i];
    json gpus = json::array();
    for (const auto& [host, summary] : spans[i].hosts) {
      for (const auto& g : summary.gpus) {
        json one = {{"host", host}};
        one.update(g.to_json());
        gpus.push_back(std::move(one));
      }
    }
    json entry = {{"name", w.name},
                  {"started_utc", w.started_utc},
                  {"finished_utc", w.finished_utc},
                  {"source", w.source},
                  {"samples", spans[i].samples},
                  {"gpus", gpus}};
    if (spans[i].samples == 0) {
      entry["note"] = fmt::format(
          "no sample covers a whole sampling interval ({:g} s) inside this window; shorten "
          "METRICS_INTERVAL or lengthen the phase",
          interval_s);
    }
    list.push_back(std::move(entry));
  }
  return {{"interval_s", interval_s},
          {"method",
           "samples of gpu_metrics.csv whose interval [t - interval_s, t] lies inside the window "
           "(a start written in whole seconds counts from the next second); the per-GPU "
           "figures are those of gpus[] over these samples only"},
          {"windows", list}};
}

}  // namespace sxb
