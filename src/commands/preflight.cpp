// `sxbench preflight`: this host against the node profile (configs/cluster/h200_spectrumx.json by
// default), one row per check: value found, value expected, where the expectation comes from and
// a verdict (pass, warn, fail; unknown when the value cannot be read, with the reason). Every file
// is read under --root, so fixture trees stand in for a host. Exit 1 when any check fails.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/env_config.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "platform/nvml_api.hpp"
#include "validate/preflight.hpp"

namespace sxb {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultProfile = "configs/cluster/h200_spectrumx.json";

struct PreflightOptions {
  std::string root = "/";
  std::string profile;
  std::string json_path;
};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

void print_rows(const std::vector<CheckRow>& rows) {
  const std::vector<std::string> head = {"verdict", "check", "subject", "found", "expected", "source"};
  std::vector<size_t> w(head.size());
  for (size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  auto cells = [](const CheckRow& r) {
    return std::vector<std::string>{verdict_name(r.verdict), r.id, r.subject, r.found, r.expected, r.source};
  };
  for (const auto& r : rows) {
    const auto c = cells(r);
    for (size_t i = 0; i < c.size(); ++i) w[i] = std::max(w[i], c[i].size());
  }
  auto line = [&](const std::vector<std::string>& c, const std::string& note) {
    std::string s;
    for (size_t i = 0; i < c.size(); ++i) s += fmt::format("{:<{}}  ", c[i], w[i]);
    s += note;
    while (!s.empty() && s.back() == ' ') s.pop_back();
    fmt::print("{}\n", s);
  };
  line(head, "note");
  for (const auto& r : rows) line(cells(r), r.note);
}

int run_preflight(const PreflightOptions& o, const CommandContext& ctx) {
  std::error_code ec;
  if (!fs::is_directory(o.root, ec)) {
    throw usage_error(fmt::format("--root {}: no such directory", o.root));
  }
  const std::string shown = o.profile.empty() ? kDefaultProfile : o.profile;
  const fs::path file = o.profile.empty() ? find_config_dir() / "cluster" / "h200_spectrumx.json"
                                          : fs::path(o.profile);
  if (!fs::is_regular_file(file, ec)) {
    throw usage_error(fmt::format("--profile {}: no such file", file.string()));
  }
  NodeProfile profile = node_profile_from_json(read_json_file(file), shown);
  apply_profile_settings(profile, ctx.env);
  // NCCL settings from .env reach NCCL as the environment does: check what NCCL will see.
  ctx.env.export_passthrough();
  const std::string nvml_library =
      environment_knob("SXB_NVML_LIBRARY").value_or(nvml::kDefaultLibrary);

  const PreflightInputs inputs = read_preflight_inputs(o.root, profile, nvml_library, nccl_env_from_process());
  const auto rows = preflight_checks(inputs, profile);
  print_rows(rows);
  int counts[4] = {0, 0, 0, 0};
  for (const auto& r : rows) ++counts[static_cast<int>(r.verdict)];
  const bool failed = any_failed(rows);
  fmt::print("preflight: {} pass, {} warn, {} fail, {} unknown: {}\n", counts[0], counts[1], counts[2],
             counts[3], failed ? "FAILED" : "passed");
  if (!o.json_path.empty()) {
    nlohmann::json out = {{"schema", "sxbench.preflight/1"},
                          {"tool_version", SXB_VERSION},
                          {"collected_utc", utc_iso8601_now()},
                          {"hostname", host_name()},
                          {"root", o.root},
                          {"profile", shown},
                          {"profile_name", profile.name},
                          {"nvml", inputs.gpus.nvml ? nlohmann::json(inputs.gpus.library)
                                                    : nlohmann::json(nullptr)},
                          {"passed", !failed},
                          {"counts", {{"pass", counts[0]}, {"warn", counts[1]}, {"fail", counts[2]},
                                      {"unknown", counts[3]}}},
                          {"checks", nlohmann::json::array()}};
    for (const auto& r : rows) out["checks"].push_back(to_json(r));
    write_json_atomic(o.json_path, out);
  }
  return failed ? static_cast<int>(ExitCode::failure) : 0;
}

}  // namespace

Command add_preflight_command(CLI::App& root) {
  auto opts = std::make_shared<PreflightOptions>();
  CLI::App* app = root.add_subcommand(
      "preflight",
      "This host's GPUs (NVML), GPU-NIC affinity, GPUDirect RDMA, RDMA ports, RoCE GIDs, MTU, "
      "ECN/PFC and NCCL settings against the node profile, one row per check (exit 1 when any "
      "fails)");
  app->add_option("--root", opts->root, "Read every file under this directory (default /)");
  app->add_option("--profile", opts->profile,
                  std::string("Node profile (default ") + kDefaultProfile + ")");
  app->add_option("--json", opts->json_path, "Also write the rows as JSON (preflight.json) to this file");
  return {app, [opts](const CommandContext& ctx) { return run_preflight(*opts, ctx); }};
}

}  // namespace sxb
