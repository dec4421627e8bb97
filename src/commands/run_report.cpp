#include "commands/run_report.hpp"

#include <fmt/format.h>

#include "core/units.hpp"

namespace sxb {

namespace {

std::string text(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()
             ? j[key].get<std::string>()
             : "-";
}

void inventory(std::string& md, const nlohmann::json& run) {
  md += "## Hardware and software\n\n";
  md += "| host | GPUs | driver | CUDA runtime | NCCL | MPI | OS |\n|---|---|---|---|---|---|---|\n";
  for (const auto& h : run["hosts"]) {
    std::string gpus = "none";
    if (!h["gpus"].empty()) {
      gpus = fmt::format("{} x {} ({})", h["gpus"].size(), h["gpus"][0]["name"].get<std::string>(),
                         format_bytes(h["gpus"][0]["memory_bytes"].get<uint64_t>()));
    }
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", text(h, "hostname"), gpus,
                      text(h, "nvidia_driver_version"), text(h, "cuda_runtime_version"),
                      text(h, "nccl_version"), text(h, "mpi_library_version"), text(h, "os"));
  }
  md += "\n";
}

void collectives(std::string& md, const CollectiveReport& r) {
  md += fmt::format("## Collectives ({} backend, {}, {} ranks on {} node(s))\n\n",
                    r.params.backend, r.library_version, r.world_size, r.node_count);
  md += "| collective | peak busbw (GB/s) | at size | average busbw (GB/s) | smallest-size time (us) | #wrong |\n";
  md += "|---|---|---|---|---|---|\n";
  for (const auto& s : r.summary) {
    double small_us = 0;
    for (const auto& row : r.rows) {
      if (row.op == s.op) {
        small_us = row.out_of_place.time_us;
        break;
      }
    }
    md += fmt::format("| {} | {:.2f} | {} | {:.2f} | {:.2f} | {} |\n", s.op, s.max_busbw_gb_per_s,
                      format_bytes(s.max_busbw_size_bytes), s.avg_busbw_gb_per_s, small_us,
                      s.checked ? std::to_string(s.wrong) : "not checked");
  }
  md += fmt::format("\nMeasured: {}. Full tables: nccl_<op>.log; all figures: nccl.json.\n\n",
                    r.method);
}

}  // namespace

std::string render_run_summary(const nlohmann::json& run, const RunArtifacts& artifacts,
                               const ValidationReport& validation) {
  std::string md = fmt::format("# sxbench run summary: {} on {} node(s), mode {}\n\n",
                               run["model"].get<std::string>(), run["nodes"].get<int>(),
                               run["mode"].get<std::string>());
  md += fmt::format("- status: **{}**\n", run["status"].get<std::string>());
  if (run["error"].is_string()) md += fmt::format("- error: {}\n", run["error"].get<std::string>());
  md += fmt::format("- started {}, finished {}\n", text(run, "started_utc"),
                    text(run, "finished_utc"));
  md += fmt::format("- {} rank(s) launched by {}; sxbench {}\n\n", run["world_size"].get<int>(),
                    run["launcher"].get<std::string>(), run["tool_version"].get<std::string>());
  inventory(md, run);
  md += "## Phases\n\n| phase | status | started (UTC) | finished (UTC) |\n|---|---|---|---|\n";
  for (const auto& p : run["phases"]) {
    md += fmt::format("| {} | {} | {} | {} |\n", text(p, "name"), text(p, "status"),
                      text(p, "started_utc"), text(p, "finished_utc"));
  }
  md += "\n";
  if (artifacts.nccl) collectives(md, *artifacts.nccl);
  md += fmt::format("## Validation: {}\n\n", validation.passed() ? "passed" : "FAILED");
  md += fmt::format("{} ok, {} warning(s), {} failed, {} impossible. Each finding shows its "
                    "arithmetic (validation.json).\n\n",
                    validation.count(Verdict::ok), validation.count(Verdict::warning),
                    validation.count(Verdict::failed), validation.count(Verdict::impossible));
  md += "| verdict | check | subject | arithmetic |\n|---|---|---|---|\n";
  for (const auto& f : validation.findings) {
    md += fmt::format("| {} | {} | {} | {} |\n", verdict_name(f.verdict), f.check, f.subject,
                      f.arithmetic);
  }
  return md;
}

}  // namespace sxb
