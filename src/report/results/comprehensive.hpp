#pragma once
// The comprehensive report (docs/h200_benchmark_comprehensive_report.md and .html): inventory,
// throughput, scaling efficiency, collective bandwidth, GPU utilisation and power, GPU ceilings,
// targets, validation findings and predicted vs measured, in English or Japanese; and
// report.json, the figures the documents show. Built from data only; drawing and writing files
// are the caller's (commands/report.cpp).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/doc/document.hpp"
#include "report/doc/lang.hpp"
#include "report/doc/number_format.hpp"  // format_figure, which report.json readers share
#include "report/results/aggregate.hpp"
#include "report/results/figures.hpp"
#include "report/results/targets.hpp"

namespace sxb::report {

// A drawn chart as the documents reference it.
struct ChartImage {
  std::string stem;   // charts/<stem>.png and charts/<stem>.svg
  std::string title;  // caption
  std::string svg;    // embedded in the HTML page
};

struct ReportContext {
  const Aggregate* aggregate = nullptr;
  const Figures* figures = nullptr;
  const TargetsFile* targets = nullptr;
  const std::vector<TargetResult>* target_results = nullptr;
  std::vector<ChartImage> charts;  // empty when charts were not drawn
  std::string charts_absent;       // why there are no charts (empty when drawn)
  std::vector<std::string> chart_notes;
  std::string grid_file;  // the combined image next to the documents (empty when not drawn)
  std::string generated_utc;
  std::string tool_version;
  // Paths as the documents show them: never the absolute path of the machine that wrote them,
  // so a report copied elsewhere names files its reader can find. The results directory
  // relative to the repository root or the working directory when under one (else as given);
  // the targets file relative to the repository root when it is a repository file.
  std::string results_dir;
  std::string targets_file;
};

Document build_comprehensive_report(const ReportContext& ctx, ReportLang lang);

// report.json: schema sxbench.report/1.
nlohmann::json report_json(const ReportContext& ctx, ReportLang lang);

}  // namespace sxb::report
