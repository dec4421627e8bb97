#include "commands/preflight_job.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "platform/nvml_api.hpp"
#include "validate/preflight.hpp"

namespace sxb {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultProfile = "configs/cluster/h200_spectrumx.json";

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace

namespace {

// The profile as given (or the request's), with the .env overrides; the root must exist.
NodeProfile load_profile(const std::string& root, const std::string& profile_arg,
                         const EnvConfig& env) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw usage_error(fmt::format("--root {}: no such directory", root));
  }
  const std::string shown = profile_arg.empty() ? kDefaultProfile : profile_arg;
  const fs::path file = profile_arg.empty() ? find_config_dir() / "cluster" / "h200_spectrumx.json"
                                            : fs::path(profile_arg);
  if (!fs::is_regular_file(file, ec)) {
    throw usage_error(fmt::format("--profile {}: no such file", file.string()));
  }
  NodeProfile profile = node_profile_from_json(read_json_file(file), shown);
  apply_profile_settings(profile, env);
  return profile;
}

}  // namespace

void check_preflight_inputs(const std::string& root, const std::string& profile_arg,
                            const EnvConfig& env) {
  (void)load_profile(root, profile_arg, env);
}

nlohmann::json check_this_host(const std::string& root, const std::string& profile_arg,
                               const EnvConfig& env) {
  const NodeProfile profile = load_profile(root, profile_arg, env);
  const std::string shown = profile_arg.empty() ? kDefaultProfile : profile_arg;
  // NCCL settings from .env reach NCCL as the environment does: check what NCCL will see.
  env.export_passthrough();
  const std::string nvml_library =
      environment_knob("SXB_NVML_LIBRARY").value_or(nvml::kDefaultLibrary);
  const PreflightInputs inputs =
      read_preflight_inputs(root, profile, nvml_library, nccl_env_from_process(),
                            environment_knob("SXB_IBVERBS_LIBRARY").value_or(kDefaultIbverbsLibrary),
                            environment_knob(kFakeDcbKnob));
  const std::vector<CheckRow> rows = preflight_checks(inputs, profile);
  int counts[4] = {0, 0, 0, 0};
  for (const auto& r : rows) ++counts[static_cast<int>(r.verdict)];
  const bool failed = any_failed(rows);
  nlohmann::json out = {{"schema", "sxbench.preflight/1"},
                  {"tool_version", SXB_VERSION},
                  {"collected_utc", utc_iso8601_now()},
                  {"hostname", host_name()},
                  {"root", root},
                  {"profile", shown},
                  {"profile_name", profile.name},
                  {"nvml", inputs.gpus.nvml ? nlohmann::json(inputs.gpus.library)
                                            : nlohmann::json(nullptr)},
                  {"passed", !failed},
                  {"counts", {{"pass", counts[0]}, {"warn", counts[1]}, {"fail", counts[2]},
                              {"unknown", counts[3]}}},
                  {"checks", nlohmann::json::array()}};
  for (const auto& r : rows) out["checks"].push_back(to_json(r));
  return out;
}

std::vector<nlohmann::json> gather_host_preflights(
    const MpiContext& mpi, const std::function<nlohmann::json()>& check_host) {
  const std::string mine = mpi.local_rank() == 0 ? check_host().dump() : std::string();
  const std::vector<std::string> all = mpi.all_gather(mine);
  std::vector<nlohmann::json> out;
  if (mpi.rank() != 0) return out;
  for (const auto& s : all) {
    if (!s.empty()) out.push_back(nlohmann::json::parse(s));
  }
  return out;
}

nlohmann::json host_differences(const std::vector<nlohmann::json>& documents) {
  nlohmann::json out = nlohmann::json::array();
  if (documents.size() < 2) return out;
  // (check, subject) -> host -> found, in the first host's order of checks.
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<std::string, std::string>>>
      values;
  for (const auto& d : documents) {
    const std::string host = d.value("hostname", "");
    for (const auto& c : d.at("checks")) {
      const auto key = std::make_pair(c.at("id").get<std::string>(), c.at("subject").get<std::string>());
      if (!values.count(key)) order.push_back(key);
      values[key].emplace_back(host, c.at("found").get<std::string>());
    }
  }
  for (const auto& key : order) {
    const auto& v = values[key];
    bool differ = v.size() != documents.size();  // checked on some hosts only
    for (const auto& hv : v) differ = differ || hv.second != v.front().second;
    if (!differ) continue;
    nlohmann::json e = {{"check", key.first}, {"subject", key.second}, {"values", nlohmann::json::array()}};
    for (const auto& d : documents) {
      const std::string host = d.value("hostname", "");
      std::string found = "(not checked)";
      for (const auto& hv : v) {
        if (hv.first == host) found = hv.second;
      }
      e["values"].push_back({{"host", host}, {"found", found}});
    }
    out.push_back(e);
  }
  return out;
}

nlohmann::json preflight_file(const std::vector<nlohmann::json>& documents) {
  if (documents.empty()) throw runtime_error("preflight: no host was checked");
  nlohmann::json out = documents.front();
  if (documents.size() > 1) {
    bool all = true;
    for (const auto& d : documents) all = all && d.value("passed", false);
    out["hosts"] = documents;
    out["differences"] = host_differences(documents);
    out["all_passed"] = all;
  }
  return out;
}

}  // namespace sxb
