#pragma once
// docs/benchmark_execution_plan.md from an ExecutionPlan, in English or Japanese. Every figure is
// labelled as a prediction; the inputs section lists every measured figure with its run directory
// and every assumption with its source.
#include <string>

#include "report/doc/lang.hpp"
#include "report/plan/plan.hpp"

namespace sxb::report {

// `generated_utc` is printed as the time of generation (ISO-8601).
std::string render_plan_markdown(const ExecutionPlan& plan, ReportLang lang,
                                 const std::string& generated_utc);

}  // namespace sxb::report
