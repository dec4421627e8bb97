// report.json (schema sxbench.report/1): the figures the comprehensive report shows, with the
// runs, skipped directories, targets and charts they come from, for machines to read.
#include <nlohmann/json.hpp>

#include "report/results/comprehensive.hpp"

namespace sxb::report {

using nlohmann::json;

json report_json(const ReportContext& ctx, ReportLang lang) {
  const Aggregate& a = *ctx.aggregate;
  json runs = json::array();
  for (const auto& r : a.runs) {
    json hosts = json::array();
    for (const auto& h : r.hosts) {
      hosts.push_back({{"hostname", h.hostname},
                       {"gpus", h.gpu_names},
                       {"nvidia_driver_version", h.nvidia_driver_version},
                       {"cuda_runtime_version", h.cuda_runtime_version},
                       {"nccl_version", h.nccl_version},
                       {"mpi_library_version", h.mpi_library_version},
                       {"os", h.os},
                       {"nics", h.nics}});
    }
    json v = nullptr;
    if (r.validation) {
      v = {{"source", r.validation->source}, {"passed", r.validation->passed},
           {"ok", r.validation->ok},         {"warning", r.validation->warning},
           {"failed", r.validation->failed}, {"impossible", r.validation->impossible},
           {"implausible", r.validation->implausible}};
    }
    runs.push_back({{"name", r.name},
                    {"written_by", run_kind_name(r.kind)},
                    {"model", r.model},
                    {"nodes", r.nodes},
                    {"world_size", r.world_size},
                    {"gpus_per_node", r.gpus_per_node},
                    {"mode", r.mode},
                    {"status", r.status},
                    {"error", r.error},
                    {"used_for_figures", r.usable()},
                    {"started_utc", r.started_utc},
                    {"finished_utc", r.finished_utc},
                    {"files", r.files},
                    {"hosts", hosts},
                    {"validation", v}});
  }
  json skipped = json::array();
  for (const auto& s : a.skipped)
    // Relative to the results directory, like the runs' names: the report stays valid when the
    // results directory is copied or moved.
    skipped.push_back(
        {{"directory", s.dir.lexically_relative(a.results_dir).lexically_normal().string()},
         {"reason", s.reason}});
  json charts = json::array();
  for (const auto& c : ctx.charts) {
    charts.push_back({{"title", c.title},
                      {"png", "charts/" + c.stem + ".png"},
                      {"svg", "charts/" + c.stem + ".svg"}});
  }
  return {{"schema", "sxbench.report/1"},
          {"tool_version", ctx.tool_version},
          {"generated_utc", ctx.generated_utc},
          {"results_dir", ctx.results_dir},
          {"lang", report_lang_name(lang)},
          {"runs", runs},
          {"skipped", skipped},
          {"figures", to_json(*ctx.figures)},
          {"targets_file", ctx.targets_file.empty() ? ctx.targets->path : ctx.targets_file},
          {"targets", to_json(*ctx.target_results)},
          {"charts", charts},
          {"charts_grid", ctx.grid_file.empty() ? json(nullptr) : json(ctx.grid_file)},
          {"charts_absent", ctx.charts_absent.empty() ? json(nullptr) : json(ctx.charts_absent)},
          {"chart_notes", ctx.chart_notes}};
}

}  // namespace sxb::report
