#pragma once
// The sales summary (docs/sales_presentation_h200_spectrumx.md), English or Japanese: for every
// measured model x node count on GPUs, cost per million training tokens, time and cost of the
// stated token budget, energy per token from measured GPU board power and the comparison with the
// stated baseline; projections of the performance model for node counts not measured, labelled
// as projections; every input with its value and origin, and the formulas.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/env_config.hpp"
#include "report/results/aggregate.hpp"
#include "report/doc/lang.hpp"
#include "report/plan/plan.hpp"
#include "report/sales/roi.hpp"

namespace sxb::report {

struct SalesInputs {
  RoiSettings settings;
  std::string gpu_name;                  // the planned GPU (datasheet name)
  std::vector<ThroughputCase> measured;  // GPU training runs, latest per model x node count
  std::vector<ThroughputCase> projections;
  std::vector<std::string> excluded;          // runs not priced, each with its reason
  std::vector<std::string> projection_notes;  // the assumptions behind the projections
};

// Measured cases from the training measurements: runs on a GPU only (a CPU reference run is not
// a GPU throughput and is listed as excluded), the latest run per model, node count and sequence
// length. Projections: for each measured model, every node count of `plan_nodes` it was not
// measured at, predicted by the plan (calibrated by `m`), at the measured mean power per GPU of
// the model's run with the nearest node count.
// `request_for(model, seq_len, gpus_per_node)` builds the plan request of one measured model.
using PlanRequestFor = std::function<PlanRequest(const std::string&, int64_t, int)>;
SalesInputs sales_inputs(const Measurements& m, const RoiSettings& settings,
                         const PlanRequestFor& request_for);

std::string render_sales_markdown(const SalesInputs& in, ReportLang lang,
                                  const std::string& generated_utc);

// What `sxbench report` calls, with the aggregate it already read and the inputs it checked
// before writing anything: prices the runs and writes
// out_dir/sales_presentation_h200_spectrumx.md. Returns its path.
std::filesystem::path write_sales_presentation(const Aggregate& aggregate,
                                               const RoiSettings& settings, const EnvConfig& env,
                                               const std::filesystem::path& out_dir,
                                               ReportLang lang, const std::string& generated_utc);
// The same from a results directory (aggregated here).
std::filesystem::path write_sales_presentation(const std::filesystem::path& results_dir,
                                               const std::filesystem::path& out_dir,
                                               const EnvConfig& env, ReportLang lang);

}  // namespace sxb::report
