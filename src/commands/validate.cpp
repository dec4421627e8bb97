// `sxbench validate PATH`: a run directory (its nccl.json, sft_metrics.json, ... re-checked) or a
// claims JSON (configs/claims/*.json) against the physical limits in configs/hardware. Prints
// every finding with its arithmetic; exits 1 when anything failed or is impossible.
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>

#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/result_schema.hpp"
#include "core/hardware.hpp"
#include "hub/hub_cache.hpp"
#include "model/model_shape.hpp"
#include "report/results/aggregate.hpp"
#include "validate/claims.hpp"
#include "validate/findings.hpp"

namespace sxb {

namespace {

namespace fs = std::filesystem;

struct ValidateOptions {
  std::string path;
  std::string json_out;
};

// One result file of a run directory with its format version checked (an older or newer file
// is named as such), and the library's type errors in its checks turned into one line naming it.
nlohmann::json read_result(const fs::path& dir, const char* file, const char* schema) {
  nlohmann::json j = read_json_file(dir / file);
  check_schema_version(j, (dir / file).string(), schema, 1);
  return j;
}
template <typename F>
auto naming(const fs::path& file, F&& f) {
  try {
    return f();
  } catch (const nlohmann::json::exception& e) {
    throw usage_error(json_error_line(file.string(), e));
  }
}

// The GPU name and job shape a run directory records (run.json, else nccl.json).
JobLimits limits_of_run(const fs::path& dir, const std::vector<HardwareSpec>& specs,
                        const std::vector<Record>& records) {
  std::string gpu;
  int nodes = 1, world = 1;
  if (fs::exists(dir / "run.json")) {
    const auto run = read_result(dir, "run.json", "run");
    nodes = run.value("nodes", 1);
    world = run.value("world_size", 1);
    for (const auto& h : run.value("hosts", nlohmann::json::array())) {
      if (!h["gpus"].empty()) gpu = h["gpus"][0].value("name", "");
    }
  } else if (fs::exists(dir / "nccl.json")) {
    const auto n = read_result(dir, "nccl.json", "nccl");
    nodes = n.value("node_count", 1);
    world = n.value("world_size", 1);
    for (const auto& r : n.value("ranks", nlohmann::json::array())) gpu = r.value("device", gpu);
  }
  return job_limits(specs, gpu, nodes, std::max(1, world / std::max(1, nodes)), records);
}

ValidationReport validate_run_directory(const fs::path& dir, const std::vector<HardwareSpec>& specs,
                                        const std::vector<Record>& records) {
  // Read as `report` reads it first: every field of the right type and finite, every file of
  // this format version; a broken file is a one-line error naming it and the field, never a
  // "validation passed" over figures that are not numbers.
  (void)report::read_run_directory(dir, report::ReadOptions{});
  const JobLimits limits = naming(fs::exists(dir / "run.json") ? dir / "run.json" : dir / "nccl.json",
                                  [&] { return limits_of_run(dir, specs, records); });
  ValidationReport report;
  bool any = false;
  if (fs::exists(dir / "nccl.json")) {
    const auto j = read_result(dir, "nccl.json", "nccl");
    report.add(naming(dir / "nccl.json", [&] {
      return validate_collectives(j.get<CollectiveReport>(), limits);
    }));
    any = true;
  }
  if (fs::exists(dir / "compute.json")) {
    const auto j = read_result(dir, "compute.json", "compute");
    report.add(naming(dir / "compute.json", [&] { return validate_compute(j, records); }));
    any = true;
  }
  if (fs::exists(dir / "sft_metrics.json")) {
    const auto j = read_result(dir, "sft_metrics.json", "sft_metrics");
    report.add(naming(dir / "sft_metrics.json", [&] { return validate_training(j, limits); }));
    any = true;
  }
  // The power drawn, when GPU metrics were sampled: checked beside the figures they belong to,
  // not a result on their own.
  if (any && fs::exists(dir / "gpu_metrics_summary.json")) {
    const auto j = read_json_file(dir / "gpu_metrics_summary.json");
    report.add(naming(dir / "gpu_metrics_summary.json",
                      [&] { return validate_gpu_power(j, limits); }));
  }
  if (!any) {
    throw usage_error(fmt::format("{}: no result files to validate (nccl.json, compute.json, sft_metrics.json)",
                                  dir.string()));
  }
  return report;
}

int run_validate(const ValidateOptions& o, const CommandContext& ctx) {
  const fs::path path(o.path);
  if (!fs::exists(path)) throw usage_error(fmt::format("{}: no such file or directory", o.path));
  const auto specs = load_hardware_specs(find_config_dir() / "hardware");
  const auto records = load_records(find_config_dir() / "records");
  ValidationReport report;
  if (fs::is_directory(path)) {
    report = validate_run_directory(path, specs, records);
  } else {
    const hub::HubSettings hub = hub::hub_settings(ctx.env);
    report.add(validate_claims(
        read_json_file(path), specs,
        [&](const std::string& model) { return model_shape(model, hub); }, path.string(),
        records));
  }
  for (const auto& f : report.findings) {
    fmt::print("{:<10} {:<34} {}\n           {}\n",
               f.implausible ? std::string("implausible") : verdict_name(f.verdict), f.check,
               f.subject, f.arithmetic);
  }
  fmt::print("validation {}: {} ok, {} warning(s){}, {} failed, {} impossible\n",
             report.passed() ? "passed" : "FAILED", report.count(Verdict::ok),
             report.count(Verdict::warning),
             report.implausible() > 0
                 ? fmt::format(" ({} implausible: above a published record)", report.implausible())
                 : std::string(),
             report.count(Verdict::failed), report.count(Verdict::impossible));
  if (!o.json_out.empty()) write_json_atomic(o.json_out, report);
  return report.passed() ? 0 : static_cast<int>(ExitCode::failure);
}

}  // namespace

Command add_validate_command(CLI::App& root) {
  auto opts = std::make_shared<ValidateOptions>();
  CLI::App* app = root.add_subcommand(
      "validate", "Check a run directory or a claims JSON against physical limits "
                  "(configs/hardware); every finding shows its arithmetic");
  app->add_option("path", opts->path, "Run directory or claims file (e.g. configs/claims/seed_claims.json)")
      ->required();
  app->add_option("--json", opts->json_out, "Also write the findings as JSON");
  return {app, [opts](const CommandContext& ctx) { return run_validate(*opts, ctx); }};
}

}  // namespace sxb
