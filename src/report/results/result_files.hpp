#pragma once
// Internal to report/results (not for callers): one reader per result file kind, from parsed
// JSON (or the core/ result struct) to the aggregate's records. Every error is a one-line
// sxb::Error naming the file and the field path; read_run_directory (aggregate.cpp) decides which
// files a directory must hold and what a standalone directory's identity is.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/compute_results.hpp"
#include "core/result_schema.hpp"
#include "core/error.hpp"
#include "report/results/aggregate.hpp"
#include "validate/findings.hpp"

namespace sxb::report::result_files {

using nlohmann::json;

// Field access into one file's JSON. Every error is one line naming the file, the JSON pointer
// of the field and what was expected ("sft_metrics.json: /step_time_s/median: expected a
// number, found string"), so a skipped directory's reason says exactly what is wrong. Numbers
// must be finite: JSON has no NaN, and a number too large for a double is not a measurement.
// The largest count of ranks, nodes, CPUs or findings a result file may hold: such counts are
// narrowed to int. Far above any real job.
inline constexpr int64_t kMaxRanks = int64_t{1} << 24;

class Fields {
 public:
  Fields(const json& j, std::string file, std::string pointer = "")
      : j_(j), file_(std::move(file)), pointer_(std::move(pointer)) {}

  bool has(const char* key) const {
    return j_.is_object() && j_.contains(key) && !j_[key].is_null();
  }
  const json& raw() const { return j_; }
  const std::string& pointer() const { return pointer_; }

  Fields at(const char* key) const {
    const json& v = get(key, "an object");
    return Fields(v, file_, pointer_child(pointer_, key));
  }
  double num(const char* key) const { return number(get(key, "a number"), key); }
  std::optional<double> opt_num(const char* key) const {
    if (!has(key)) return std::nullopt;
    return number(j_[key], key);
  }
  int64_t integer(const char* key) const {
    const json& v = get(key, "an integer");
    // An unsigned value above the int64 range would wrap to a negative one.
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
      fail(key, "an integer", v);
    }
    return v.get<int64_t>();
  }
  // An integer that must lie in [min, max]: counts and sizes whose products or narrowing
  // (a world size to int) must not overflow.
  int64_t integer(const char* key, int64_t min, int64_t max) const {
    const int64_t x = integer(key);
    if (x < min || x > max) {
      const std::string expected = fmt::format("an integer from {} to {}", min, max);
      fail(key, expected.c_str(), j_[key]);
    }
    return x;
  }
  std::string str(const char* key) const {
    const json& v = get(key, "a string");
    if (!v.is_string()) fail(key, "a string", v);
    return v.get<std::string>();
  }
  std::string opt_str(const char* key) const {
    if (!has(key)) return {};
    if (!j_[key].is_string()) fail(key, "a string", j_[key]);
    return j_[key].get<std::string>();
  }
  bool boolean(const char* key) const {
    const json& v = get(key, "true or false");
    if (!v.is_boolean()) fail(key, "true or false", v);
    return v.get<bool>();
  }
  const json& array(const char* key) const {
    const json& v = get(key, "an array");
    if (!v.is_array()) fail(key, "an array", v);
    return v;
  }
  // The elements of array `key`, each with its own pointer ("/hosts/0", "/hosts/1", ...).
  std::vector<Fields> items(const char* key) const {
    const json& v = array(key);
    std::vector<Fields> out;
    const std::string base = pointer_child(pointer_, key);
    for (size_t i = 0; i < v.size(); ++i) {
      out.emplace_back(v[i], file_, base + "/" + std::to_string(i));
    }
    return out;
  }
  // A one-line error about this object as a whole ("run.json: /phases/2: ...").
  [[noreturn]] void invalid(const std::string& what) const {
    throw usage_error(
        fmt::format("{}: {}: {}", file_, pointer_.empty() ? std::string("/") : pointer_, what));
  }

 private:
  const json& get(const char* key, const char* expected) const {
    if (!j_.is_object()) invalid(fmt::format("expected an object, found {}", j_.type_name()));
    if (!j_.contains(key)) {
      throw usage_error(fmt::format("{}: {}: missing (expected {})", file_,
                                    pointer_child(pointer_, key), expected));
    }
    return j_[key];
  }
  double number(const json& v, const char* key) const {
    if (!v.is_number()) fail(key, "a number", v);
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(key, "a finite number", v);
    return d;
  }
  [[noreturn]] void fail(const char* key, const char* expected, const json& found) const {
    std::string shown = found.dump();
    if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
    throw usage_error(fmt::format("{}: {}: expected {}, found {} {}", file_,
                                  pointer_child(pointer_, key), expected, found.type_name(),
                                  shown));
  }

  const json& j_;
  std::string file_, pointer_;
};

// Runs a reader on a parsed file; a type error inside nlohmann becomes a one-line error naming
// the file.
template <typename F>
auto guarded(const char* file, F&& f) {
  try {
    return f();
  } catch (const json::exception& e) {
    throw usage_error(json_error_line(file, e));
  }
}

// The parsed file `name` of `dir` (one-line error with path and position on bad syntax).
json read_json(const std::filesystem::path& dir, const char* name);

// run.json hosts[]
HostInventory read_host(const Fields& h);
// sft_metrics.json
TrainingMetrics read_training(const json& j);
// nccl.json, already parsed into the core/ struct: ops with their sizes in ascending order
Collectives read_collectives(const CollectiveReport& r);
// compute.json: the best GEMM rate per data type and the best figure per bandwidth test
ComputeFigures read_compute(const ComputeReport& r);
// gpu_metrics_summary.json (every host's block of a multi-node run); notes gpu_metrics.csv
// beside it in `dir`
// with its windows: from the summary, or computed from gpu_metrics.csv with the times in run.json
// and sft_metrics.json (either may be null) when the summary predates them.
GpuMetrics read_gpu_metrics(const json& j, const std::filesystem::path& dir, const json& run_json,
                            const json& sft_metrics);
// validation.json as the run wrote it
ValidationSummary read_validation(const json& j);
// preflight.json: one host's document, or several under "hosts".
PreflightSummary read_preflight(const json& j);
// diagnose.json
DiagnoseSummary read_diagnose(const json& j);
// The same summary from checks run by the report itself; `source` names who ran them.
ValidationSummary summarize(const ValidationReport& r, const std::string& source);

}  // namespace sxb::report::result_files
