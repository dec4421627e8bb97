#pragma once
// Internal to report/results (not for callers): one reader per result file kind, from parsed
// JSON (or the core/ result struct) to the aggregate's records. Every error is a one-line
// sxb::Error naming the file and the field path; read_run_directory (aggregate.cpp) decides which
// files a directory must hold and what a standalone directory's identity is.
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/compute_results.hpp"
#include "core/error.hpp"
#include "report/results/aggregate.hpp"
#include "validate/findings.hpp"

namespace sxb::report::result_files {

using nlohmann::json;

// Field access into one file's JSON; every error names the file and the field path, so a
// skipped directory's reason says exactly what is wrong.
class Fields {
 public:
  Fields(const json& j, std::string file, std::string path = "")
      : j_(j), file_(std::move(file)), path_(std::move(path)) {}

  bool has(const char* key) const {
    return j_.is_object() && j_.contains(key) && !j_[key].is_null();
  }
  const json& raw() const { return j_; }

  Fields at(const char* key) const {
    if (!j_.is_object() || !j_.contains(key)) fail(key, "is missing");
    return Fields(j_[key], file_, path_ + key + ".");
  }
  double num(const char* key) const {
    const json& v = get(key);
    if (!v.is_number()) fail(key, "is not a number");
    return v.get<double>();
  }
  std::optional<double> opt_num(const char* key) const {
    if (!has(key)) return std::nullopt;
    if (!j_[key].is_number()) fail(key, "is not a number");
    return j_[key].get<double>();
  }
  int64_t integer(const char* key) const {
    const json& v = get(key);
    if (!v.is_number_integer()) fail(key, "is not an integer");
    return v.get<int64_t>();
  }
  std::string str(const char* key) const {
    const json& v = get(key);
    if (!v.is_string()) fail(key, "is not a string");
    return v.get<std::string>();
  }
  std::string opt_str(const char* key) const {
    if (!has(key)) return {};
    if (!j_[key].is_string()) fail(key, "is not a string");
    return j_[key].get<std::string>();
  }
  bool boolean(const char* key) const {
    const json& v = get(key);
    if (!v.is_boolean()) fail(key, "is not true/false");
    return v.get<bool>();
  }
  const json& array(const char* key) const {
    const json& v = get(key);
    if (!v.is_array()) fail(key, "is not an array");
    return v;
  }

 private:
  const json& get(const char* key) const {
    if (!j_.is_object() || !j_.contains(key)) fail(key, "is missing");
    return j_[key];
  }
  [[noreturn]] void fail(const char* key, const char* what) const {
    throw usage_error(fmt::format("{}: field {}{} {}", file_, path_, key, what));
  }

  const json& j_;
  std::string file_, path_;
};

// Runs a reader on a parsed file; a type error inside nlohmann becomes a one-line error naming
// the file.
template <typename F>
auto guarded(const char* file, F&& f) {
  try {
    return f();
  } catch (const json::exception& e) {
    throw usage_error(fmt::format("{}: {}", file, e.what()));
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
GpuMetrics read_gpu_metrics(const json& j, const std::filesystem::path& dir);
// validation.json as the run wrote it
ValidationSummary read_validation(const json& j);
// The same summary from checks run by the report itself; `source` names who ran them.
ValidationSummary summarize(const ValidationReport& r, const std::string& source);

}  // namespace sxb::report::result_files
