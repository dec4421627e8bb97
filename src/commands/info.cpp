// `sxbench info`: what the hosts of this job have — OS, CPU, memory, GPUs and their peer access,
// NICs (RDMA ports with link layer and rate, Ethernet ports), driver, CUDA, NCCL and MPI versions.
// Under mpirun/srun every host reports (one rank per host), gathered to rank 0.
#include <cstdio>
#include <fmt/format.h>
#include <memory>

#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/units.hpp"
#include "comm/mpi_context.hpp"
#include "platform/system_info.hpp"

namespace sxb {

namespace {

struct InfoOptions {
  std::string json_path;
};

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

void print_host(const nlohmann::json& h) {
  fmt::print("host {}\n", h["hostname"].get<std::string>());
  fmt::print("  os              {}\n", or_dash(h["os"]));
  fmt::print("  kernel          {}\n", or_dash(h["kernel"]));
  fmt::print("  cpu             {} x {}\n", h["cpu_count"].get<int>(), or_dash(h["cpu_model"]));
  fmt::print("  memory          {}\n", format_bytes(h["memory_bytes"].get<uint64_t>()));
  fmt::print("  nvidia driver   {}\n", or_dash(h["nvidia_driver_version"]));
  fmt::print("  cuda            runtime {} / driver API {}{}\n", or_dash(h["cuda_runtime_version"]),
             or_dash(h["cuda_driver_api"]), h["built_with_cuda"].get<bool>() ? "" : " (CPU-only build)");
  fmt::print("  nccl            {}\n", or_dash(h["nccl_version"]));
  fmt::print("  mpi             {}\n", or_dash(h["mpi_library_version"]));
  fmt::print("  gpus            {}\n", h["gpus"].size());
  for (const auto& g : h["gpus"]) {
    std::string peers;
    for (const auto& p : g["peer_access"]) peers += (peers.empty() ? "" : ",") + std::to_string(p.get<int>());
    fmt::print("    [{}] {} {} {} SMs cc {} peers: {}\n", g["index"].get<int>(),
               g["name"].get<std::string>(), g["pci_bus_id"].get<std::string>(),
               g["multiprocessors"].get<int>(), g["compute_capability"].get<std::string>(),
               or_dash(peers));
    fmt::print("        memory {}\n", format_bytes(g["memory_bytes"].get<uint64_t>()));
  }
  fmt::print("  nics            {}\n", h["nics"].size());
  for (const auto& n : h["nics"]) {
    const double rate = n["rate_gbit_per_s"].get<double>();
    fmt::print("    {} ({}{}) {} {}\n", n["name"].get<std::string>(), n["kind"].get<std::string>(),
               n["link_layer"].get<std::string>().empty() ? "" : ", " + n["link_layer"].get<std::string>(),
               rate > 0 ? fmt::format("{:g} Gbit/s", rate) : "rate unknown",
               or_dash(n["state"]));
  }
}

int run_info(const InfoOptions& o, const CommandContext&) {
  MpiContext mpi(nullptr, nullptr);
  // One report per host: the rank with local rank 0 collects it.
  std::string mine;
  if (mpi.local_rank() == 0) {
    HostInfo h = collect_host_info();
    h.mpi_library_version = mpi.library_version();
    mine = nlohmann::json(h).dump();
  }
  const auto all = mpi.all_gather(mine);
  if (mpi.rank() != 0) return 0;
  nlohmann::json out = {{"schema", "sxbench.info/1"},
                        {"tool_version", SXB_VERSION},
                        {"collected_utc", utc_iso8601_now()},
                        {"world_size", mpi.world_size()},
                        {"launcher", mpi.launcher()},
                        {"hosts", nlohmann::json::array()}};
  for (const auto& s : all) {
    if (!s.empty()) out["hosts"].push_back(nlohmann::json::parse(s));
  }
  for (const auto& h : out["hosts"]) print_host(h);
  if (!o.json_path.empty()) write_json_atomic(o.json_path, out);
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& root) {
  auto opts = std::make_shared<InfoOptions>();
  CLI::App* app = root.add_subcommand(
      "info", "Hosts, GPUs, NICs and driver/CUDA/NCCL/MPI versions (every host under mpirun/srun)");
  app->add_option("--json", opts->json_path, "Also write the inventory as JSON to this file");
  return {app, [opts](const CommandContext& ctx) { return run_info(*opts, ctx); }};
}

}  // namespace sxb
