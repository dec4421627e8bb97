#pragma once
// `sxbench preflight`: this host against a node profile (configs/cluster/*.json), one row per
// check with the value found, the value expected, where the expectation comes from and a verdict.
// This slice checks what sysfs shows of the RDMA ports and their interfaces (platform/node_sysfs)
// and the NCCL settings that name them; GPUs (NVML) come later. "unknown" is no verdict: the
// value could not be read, and the row says why.
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "platform/node_sysfs.hpp"

namespace sxb {

struct NodeProfile {
  std::string file;  // as given (named in rows and messages)
  std::string name;
  int gpus_per_node = 0;
  int roce_ports_per_node = 0;
  double port_rate_gbit_per_s = 0;
  std::string link_layer;  // "Ethernet"
  std::string gid_type;    // "RoCE v2"
  int mtu_bytes = 0;
  bool pfc_enabled = false;
  bool ecn_enabled = false;
  int roce_priority = 0;  // 0-7
  std::map<std::string, std::string> sources;  // expectation key -> its citation
};

// Reads and checks a profile; any missing or malformed key is a one-line usage error naming the
// file and the key.
NodeProfile load_node_profile(const std::filesystem::path& file);
NodeProfile node_profile_from_json(const nlohmann::json& j, const std::string& file);

enum class Verdict { pass, warn, fail, unknown };
const char* verdict_name(Verdict v);

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
// NCCL_IB_HCA, NCCL_IB_GID_INDEX, NCCL_SOCKET_IFNAME from the process environment.
NcclEnv nccl_env_from_process();

std::vector<CheckRow> preflight_checks(const NodeSysfs& node, const NodeProfile& profile,
                                       const NcclEnv& env);
bool any_failed(const std::vector<CheckRow>& rows);

nlohmann::json to_json(const CheckRow& row);

}  // namespace sxb
