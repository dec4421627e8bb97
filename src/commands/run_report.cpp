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
  if (r.world_size < 2) {
    md += "One rank: no data crosses a link, so bus bandwidth is 0 by definition (nccl-tests' "
          "factors) or measures a local copy or a no-op; only latencies and data checks count here.\n\n";
    md += "| collective | smallest-size time (us) | #wrong |\n|---|---|---|\n";
    for (const auto& s : r.summary) {
      for (const auto& row : r.rows) {
        if (row.op != s.op) continue;
        md += fmt::format("| {} | {:.2f} | {} |\n", s.op, row.out_of_place.time_us,
                          s.checked ? std::to_string(s.wrong) : "not checked");
        break;
      }
    }
    md += fmt::format("\nMeasured: {}. Full tables: nccl_<op>.log; all figures: nccl.json.\n\n", r.method);
    return;
  }
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

std::string num(const nlohmann::json& j, const char* key, const char* fmt_spec = "{:.2f}") {
  if (!j.contains(key) || !j[key].is_number()) return "-";
  return fmt::format(fmt::runtime(fmt_spec), j[key].get<double>());
}

void training(std::string& md, const nlohmann::json& m) {
  const auto& dev = m.value("device", nlohmann::json::object());
  md += fmt::format("## Fine-tuning throughput ({}, {} on {} device(s): {})\n\n",
                    m["model"].value("name", "model"), m.value("engine", "-"),
                    m.value("world_size", 0), dev.value("name", "-"));
  const auto& st = m.value("step_time_s", nlohmann::json::object());
  md += "| figure | value |\n|---|---|\n";
  md += fmt::format("| tokens/s (all devices) | {} |\n", num(m, "tokens_per_s", "{:.1f}"));
  md += fmt::format("| tokens/s per device | {} |\n", num(m, "tokens_per_s_per_device", "{:.1f}"));
  md += fmt::format("| samples/s ({}) | {} |\n", m.value("sample_definition", "sample"),
                    num(m, "samples_per_s", "{:.3f}"));
  md += fmt::format("| step time median / p10 / p90 (s) | {} / {} / {} |\n", num(st, "median", "{:.4f}"),
                    num(st, "p10", "{:.4f}"), num(st, "p90", "{:.4f}"));
  md += fmt::format("| model TFLOP/s per device (PaLM, recomputation not counted) | {} |\n",
                    num(m, "model_tflops_per_s_per_device", "{:.4f}"));
  md += fmt::format("| MFU | {} |\n",
                    m.contains("mfu") && m["mfu"].is_number()
                        ? fmt::format("{:.1f}%", 100 * m["mfu"].get<double>())
                        : "n/a: " + m.value("mfu_note", std::string("no peak for this device")));
  md += fmt::format("| exposed communication share | {} |\n",
                    m.contains("exposed_communication_share") && m["exposed_communication_share"].is_number()
                        ? fmt::format("{:.1f}%", 100 * m["exposed_communication_share"].get<double>())
                        : "-");
  md += fmt::format("| loss first -> last step (nats) | {} -> {} |\n\n", num(m, "initial_loss", "{:.4f}"),
                    num(m, "final_loss", "{:.4f}"));
  md += fmt::format("Measured: {}. All figures: sft_metrics.json.\n\n", m.value("timing_method", "-"));
}

void compute(std::string& md, const nlohmann::json& c) {
  md += "## GPU ceilings (this node)\n\n| measurement | value | datasheet | fraction |\n|---|---|---|---|\n";
  for (const auto& g : c.value("gemm", nlohmann::json::array())) {
    const auto spec = g.value("spec", nlohmann::json::object());
    md += fmt::format("| gpu{} GEMM {} {}x{}x{} | {:.1f} TFLOP/s | {} | {} |\n", g.value("device", 0),
                      g.value("dtype", ""), g.value("m", 0), g.value("n", 0), g.value("k", 0),
                      g.value("tflop_per_s", 0.0), num(spec, "value", "{:.1f}"),
                      spec.contains("fraction") ? fmt::format("{:.1f}%", 100 * spec["fraction"].get<double>()) : "-");
  }
  for (const auto& b : c.value("bandwidth", nlohmann::json::array())) {
    const auto spec = b.value("spec", nlohmann::json::object());
    md += fmt::format("| {} {} gpu{}->gpu{} | {:.1f} GB/s | {} | {} |\n", b.value("test", ""),
                      b.value("variant", ""), b.value("src_device", 0), b.value("dst_device", 0),
                      b.value("gb_per_s", 0.0), num(spec, "value", "{:.1f}"),
                      spec.contains("fraction") ? fmt::format("{:.1f}%", 100 * spec["fraction"].get<double>()) : "-");
  }
  for (const auto& sk : c.value("skipped", nlohmann::json::array())) {
    md += fmt::format("\nNot measured: {} ({}).", sk.value("test", ""), sk.value("reason", ""));
  }
  md += "\n\nMethods and every figure: compute.json.\n\n";
}

void gpu_metrics(std::string& md, const nlohmann::json& s) {
  md += "## GPU metrics during the run\n\n";
  if (!s.value("gpu_metrics", false)) {
    md += fmt::format("No GPU metrics: {}. Host CPU and memory were sampled "
                      "(gpu_metrics.csv).\n\n", s.value("gpu_note", std::string("no GPU")));
    return;
  }
  md += "| GPU | utilisation mean / max (%) | power mean / max (W) | energy (J, counter) |\n|---|---|---|---|\n";
  for (const auto& g : s.value("gpus", nlohmann::json::array())) {
    const auto u = g.value("utilization_gpu_pct", nlohmann::json::object());
    const auto p = g.value("power_w", nlohmann::json::object());
    const auto e = g.value("energy", nlohmann::json::object());
    md += fmt::format("| {} {} | {} / {} | {} / {} | {} |\n", g.value("index", 0),
                      g.value("name", std::string()), num(u, "mean", "{:.1f}"), num(u, "max", "{:.1f}"),
                      num(p, "mean", "{:.0f}"), num(p, "max", "{:.0f}"), num(e, "counter_j", "{:.0f}"));
  }
  md += fmt::format("\nMeasured: {}\n\n", s.value("method", std::string("-")));
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
  md += "## Phases\n\n| phase | status | started (UTC) | finished (UTC) | note |\n|---|---|---|---|---|\n";
  for (const auto& p : run["phases"]) {
    md += fmt::format("| {} | {} | {} | {} | {} |\n", text(p, "name"), text(p, "status"),
                      text(p, "started_utc"), text(p, "finished_utc"), text(p, "reason"));
  }
  md += "\n";
  if (artifacts.nccl) collectives(md, *artifacts.nccl);
  if (artifacts.compute) compute(md, *artifacts.compute);
  if (artifacts.sft) training(md, *artifacts.sft);
  if (artifacts.gpu_metrics_summary) gpu_metrics(md, *artifacts.gpu_metrics_summary);
  md += fmt::format("## Validation: {}\n\n", validation.passed() ? "passed" : "FAILED");
  md += fmt::format("{} ok, {} warning(s){}, {} failed, {} impossible. Each finding shows its "
                    "arithmetic (validation.json).\n\n",
                    validation.count(Verdict::ok), validation.count(Verdict::warning),
                    validation.implausible() > 0
                        ? fmt::format(" ({} implausible: above a published record, to be "
                                      "double-checked)", validation.implausible())
                        : std::string(),
                    validation.count(Verdict::failed), validation.count(Verdict::impossible));
  md += "| verdict | check | subject | arithmetic |\n|---|---|---|---|\n";
  for (const auto& f : validation.findings) {
    md += fmt::format("| {} | {} | {} | {} |\n",
                      f.implausible ? std::string("**warning: implausible** (above a published record)")
                                    : verdict_name(f.verdict),
                      f.check, f.subject, f.arithmetic);
  }
  return md;
}

}  // namespace sxb
