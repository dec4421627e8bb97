// `sxbench preflight`: this host against the node profile (configs/cluster/h200_spectrumx.json by
// default), one row per check: value found, value expected, where the expectation comes from and
// a verdict (pass, warn, fail; unknown when the value cannot be read, with the reason). Every file
// is read under --root, so fixture trees stand in for a host. Under mpirun each host is checked
// once (by its first rank) and rank 0 prints every host and the checks whose values differ
// between hosts. Exit 1 when any check fails on any host.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "comm/job_abort.hpp"
#include "comm/mpi_context.hpp"
#include "commands/command.hpp"
#include "commands/preflight_job.hpp"
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

void print_differences(const nlohmann::json& diffs) {
  if (diffs.empty()) return;
  fmt::print("differences between hosts:\n");
  for (const auto& d : diffs) {
    std::string values;
    for (const auto& v : d["values"]) {
      values += fmt::format("{}{}: {}", values.empty() ? "" : "; ", v["host"].get<std::string>(),
                            v["found"].get<std::string>());
    }
    fmt::print("  {} {}: {}\n", d["check"].get<std::string>(), d["subject"].get<std::string>(),
               values);
  }
}

int run_preflight(const PreflightOptions& o, const CommandContext& ctx) {
  // Checked before MPI starts, so bad input fails fast on every rank.
  check_preflight_inputs(o.root, o.profile, ctx.env);
  MpiContext mpi(nullptr, nullptr);
  mpi.set_timeout(*ctx.env.get_number("COMM_TIMEOUT"));
  return run_as_job(mpi, [&]() -> int {
    const auto documents = gather_host_preflights(
        mpi, [&] { return check_this_host(o.root, o.profile, ctx.env); });
    if (mpi.rank() != 0) return 0;
    bool failed = false;
    for (const auto& d : documents) {
      if (documents.size() > 1) fmt::print("== host {}\n", d.value("hostname", ""));
      std::vector<CheckRow> rows;
      for (const auto& c : d["checks"]) {
        CheckRow r;
        r.id = c["id"];
        r.subject = c["subject"];
        r.found = c["found"];
        r.expected = c["expected"];
        r.source = c["source"];
        r.verdict = verdict_from_name(c["verdict"].get<std::string>());
        r.note = c["note"];
        rows.push_back(r);
      }
      print_rows(rows);
      const auto& n = d["counts"];
      fmt::print("preflight{}: {} pass, {} warn, {} fail, {} unknown: {}\n",
                 documents.size() > 1 ? " " + d.value("hostname", "") : std::string(),
                 n["pass"].get<int>(), n["warn"].get<int>(), n["fail"].get<int>(),
                 n["unknown"].get<int>(), d["passed"].get<bool>() ? "passed" : "FAILED");
      failed = failed || !d["passed"].get<bool>();
    }
    const nlohmann::json file = preflight_file(documents);
    if (documents.size() > 1) print_differences(file["differences"]);
    if (!o.json_path.empty()) write_json_atomic(o.json_path, file);
    return failed ? static_cast<int>(ExitCode::failure) : 0;
  });
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
