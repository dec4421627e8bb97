#pragma once
// `sxbench preflight`: this host against a node profile (configs/cluster/*.json), one row per
// check with the value found, the value expected, where the expectation comes from and a verdict.
// It checks the GPUs through NVML (platform/node_gpus), what sysfs shows of the RDMA ports, their
// interfaces, where GPUs and NICs sit on the PCIe tree and GPUDirect RDMA's kernel parts
// (platform/node_sysfs), each RoCE interface's PFC through DCB netlink (platform/dcb_netlink),
// each port's active MTU through libibverbs (platform/rdma_verbs), and the NCCL settings.
// "unknown" is no verdict: the value could not be read, and the row says why. The profile's expectations can be replaced by .env settings
// (PREFLIGHT_*), and a row whose expectation comes from one names it as its source.
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "platform/dcb_netlink.hpp"
#include "platform/node_gpus.hpp"
#include "platform/node_sysfs.hpp"
#include "platform/rdma_verbs.hpp"

namespace sxb {

class EnvConfig;

struct NodeProfile {
  std::string file;  // as given (named in rows and messages)
  std::string name;
  int gpus_per_node = 0;
  std::string gpu_model;         // "H200": a GPU passes when its NVML name contains it
  std::string cuda_min_version;  // "12.5"
  int cuda_min = 0;              // the same in CUDA's encoding, 12050
  int nvlinks_per_gpu = 0;       // active NVLink links each GPU should have
  bool persistence_mode = false;
  bool ecc_enabled = false;
  int roce_ports_per_node = 0;
  double port_rate_gbit_per_s = 0;
  std::string link_layer;  // "Ethernet"
  std::string gid_type;    // "RoCE v2"
  int mtu_bytes = 0;
  bool pfc_enabled = false;
  bool ecn_enabled = false;
  int roce_priority = 0;  // 0-7
  std::map<std::string, std::string> sources;  // expectation key -> its citation
  struct Override {
    std::string setting;  // "PREFLIGHT_MTU"
    std::string where;    // "environment" or ".env:12", as EnvConfig::source says
  };
  std::map<std::string, Override> overrides;  // expectation key -> the setting that replaced it
};

// The .env settings (PREFLIGHT_*) that replace a profile expectation, key by key.
struct ProfileSetting {
  const char* key;      // "mtu_bytes"
  const char* setting;  // "PREFLIGHT_MTU"
};
const std::vector<ProfileSetting>& profile_settings();
// Replaces every expectation whose setting is set (environment > .env) and records it in
// `overrides`; a bad value is a one-line usage error naming the setting and where it was set.
void apply_profile_settings(NodeProfile& profile, const EnvConfig& env);

// Reads and checks a profile; any missing or malformed key is a one-line usage error naming the
// file and the key.
NodeProfile load_node_profile(const std::filesystem::path& file);
NodeProfile node_profile_from_json(const nlohmann::json& j, const std::string& file);

enum class Verdict { pass, warn, fail, unknown };
const char* verdict_name(Verdict v);
// The inverse of verdict_name; an unknown name is a one-line sxb::Error.
Verdict verdict_from_name(const std::string& name);

struct CheckRow {
  std::string id;       // "rdma.roce_ports", "net.mtu", ...
  std::string subject;  // "mlx5_0:1 eth2", "node", "NCCL_IB_HCA"
  std::string found;
  std::string expected;
  std::string source;   // "<profile file>:<key>", or "NCCL" for NCCL's own rules
  std::string citation; // what the profile cites for that key (empty for NCCL's rules)
  Verdict verdict = Verdict::unknown;
  std::string note;     // why, for warn / fail / unknown
};

// NCCL settings as the environment gives them; absent names are unset.
using NcclEnv = std::map<std::string, std::string>;
// NCCL_IB_HCA, NCCL_IB_GID_INDEX, NCCL_SOCKET_IFNAME, NCCL_NET_PLUGIN from the process
// environment.
NcclEnv nccl_env_from_process();

// Everything the checks look at, read once: sysfs under one root, NVML through one library.
struct PreflightInputs {
  NodeSysfs node;
  NodeGpus gpus;
  std::vector<PciLocation> gpu_pci;  // one per gpus.gpus entry, from its NVML bus id
  NcclEnv env;
  int cuda_runtime = 0;  // this binary's CUDA runtime (12050); 0 in a build without CUDA
  NodeVerbs verbs;       // active MTU of every port in node.ports, in that order
  std::vector<DcbPfc> dcb;  // PFC of every port's interface in node.ports, in that order
};
// verbs_library: the libibverbs to load (SXB_IBVERBS_LIBRARY; not loaded without RDMA ports).
// PFC comes from the kernel's DCB netlink when root is / (this host), from dcb_script (the
// SXB_FAKE_DCB stand-in, "eth0:0x08,eth1:none,eth2:err") when given; a fixture root without a
// script has no DCB state, and this host's interfaces are never asked in its place.
PreflightInputs read_preflight_inputs(const std::filesystem::path& root, const NodeProfile& profile,
                                      const std::string& nvml_library, const NcclEnv& env,
                                      const std::string& verbs_library = kDefaultIbverbsLibrary,
                                      const std::optional<std::string>& dcb_script = std::nullopt);
// The name of the DCB stand-in's setting.
constexpr const char* kFakeDcbKnob = "SXB_FAKE_DCB";
// The PFC state of each port's interface in node.ports, in that order, as read_preflight_inputs
// reads it (a port without a RoCE interface gets an entry saying so).
std::vector<DcbPfc> read_ports_pfc(const std::filesystem::path& root, const NodeSysfs& node,
                                   const std::optional<std::string>& dcb_script);

// Every check: GPUs, GPU-NIC affinity, GPUDirect RDMA, RDMA ports and interfaces, NCCL settings.
std::vector<CheckRow> preflight_checks(const PreflightInputs& in, const NodeProfile& profile);
// The RDMA port, interface and NCCL rows alone; dcb as PreflightInputs::dcb (empty: PFC unknown).
std::vector<CheckRow> preflight_checks(const NodeSysfs& node, const NodeProfile& profile,
                                       const NcclEnv& env, const std::vector<DcbPfc>& dcb = {});
bool any_failed(const std::vector<CheckRow>& rows);

nlohmann::json to_json(const CheckRow& row);

}  // namespace sxb
