#pragma once
// The charts of the comprehensive report, as chart-API structs (no drawing here): scaling
// efficiency and throughput against node count (projections dashed), bus bandwidth against
// message size per collective (log2 x axis, byte ticks), GPU utilisation and power over
// time, and the pair matrix of each diagnose.json as a heat map. Labels are in the report's language. A chart is only made when it has data.
#include <optional>
#include <string>
#include <vector>

#include "report/results/aggregate.hpp"
#include "report/charts/chart.hpp"
#include "report/results/figures.hpp"
#include "report/doc/lang.hpp"
#include "report/results/targets.hpp"

namespace sxb::report {

struct NamedChart {
  std::string stem;  // file name without extension: docs/charts/<stem>.png and .svg
  Chart chart;
};

struct ReportCharts {
  std::vector<NamedChart> charts;
  std::vector<std::string> notes;  // data left out of a chart, and why (in the report language)
};

// At most this many runs are drawn in the GPU-over-time charts (the latest by directory name).
inline constexpr size_t kMaxTimeSeriesRuns = 8;

ReportCharts build_report_charts(const Aggregate& aggregate, const Figures& figures,
                                 const std::vector<TargetResult>& targets, ReportLang lang);

const std::string& chart_title(const Chart& c);

// The pair matrix of one diagnose.json as a heat map: every pair's median in both of its cells,
// NaN on the diagonal and for pairs not measured, slow pairs marked, units named slow marked.
// Empty (std::nullopt) when the file has no matrix (--pairs none, one unit).
std::optional<HeatMap> diagnose_heat_map(const DiagnoseSummary& d, const std::string& run,
                                         ReportLang lang);
// The chart's file stem for a run: "diagnose_pairs_" and the run name, with characters other
// than letters, digits, '-', '_' and '.' as '_'.
std::string diagnose_chart_stem(const std::string& run);

}  // namespace sxb::report
