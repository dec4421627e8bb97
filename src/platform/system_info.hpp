#pragma once
// Inventory of one host: OS, CPU, memory, GPUs (through the CUDA runtime), NICs (sysfs), and the
// versions of the libraries sxbench measures with. Gathered per rank and recorded in run.json;
// printed by `sxbench info`. Only what the machine reports is recorded; unknown fields are empty.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sxb {

struct GpuInfo {
  int index = 0;
  std::string name;
  std::string pci_bus_id;  // "0000:1b:00.0"
  uint64_t memory_bytes = 0;
  int multiprocessors = 0;
  std::string compute_capability;  // "9.0"
  std::vector<int> peer_access;    // indices of GPUs this one can access directly (P2P)
};

struct NicInfo {
  std::string name;        // "mlx5_0" (RDMA device) or "eth0"
  std::string kind;        // "rdma" or "ethernet"
  std::string link_layer;  // "Ethernet" (RoCE) or "InfiniBand" for RDMA devices
  double rate_gbit_per_s = 0;  // as the kernel reports it; 0 when unknown
  std::string state;
};

struct HostInfo {
  std::string hostname;
  std::string os;
  std::string kernel;
  std::string cpu_model;
  int cpu_count = 0;
  uint64_t memory_bytes = 0;
  std::string nvidia_driver_version;  // from /proc/driver/nvidia/version; empty when absent
  std::string cuda_driver_api;        // "13.0" (what the driver supports)
  std::string cuda_runtime_version;   // "13.0" (what sxbench was built with)
  std::string nccl_version;
  std::string mpi_library_version;
  bool built_with_cuda = false;
  std::vector<GpuInfo> gpus;
  std::vector<NicInfo> nics;
};

// The CUDA runtime this binary runs with (12050 for 12.5); 0 in a build without CUDA.
int cuda_runtime_version_number();

// mpi_library_version is filled by the caller (it needs MPI).
HostInfo collect_host_info();

void to_json(nlohmann::json& j, const GpuInfo& g);
void to_json(nlohmann::json& j, const NicInfo& n);
void to_json(nlohmann::json& j, const HostInfo& h);

// Parsers for the sysfs / procfs texts, separated so they can be tested.
double parse_ib_rate_gbit(const std::string& rate_file_text);  // "400 Gb/sec (4X NDR)" -> 400
std::string parse_nvidia_driver_version(const std::string& proc_text);
std::string parse_os_release_pretty_name(const std::string& text);

}  // namespace sxb
