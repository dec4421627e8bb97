#pragma once
// What libibverbs (rdma-core) says of RDMA ports that sysfs does not: each port's active MTU, the
// RoCE/IB path MTU its queue pairs use. The library is loaded at run time with dlopen (never
// linked: hosts without RDMA have none), so the preflight runs everywhere and says "not run"
// where it is missing; tests load a stand-in through SXB_IBVERBS_LIBRARY.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sxb {

constexpr const char* kDefaultIbverbsLibrary = "libibverbs.so.1";

struct VerbsPortMtu {
  std::string device;  // "mlx5_0"
  int port = 0;        // 1-based
  std::optional<int> active_mtu_bytes;  // 256 .. 4096
  std::string why;                      // why active_mtu_bytes is absent
};

struct NodeVerbs {
  bool loaded = false;
  std::string library;
  std::string why;  // why the library gave nothing (not loaded, a symbol missing)
  std::vector<VerbsPortMtu> ports;  // one per port asked for, in that order
};

// Opens every device that owns one of `ports` ((device, port) pairs, as sysfs names them) and
// queries those ports. Never throws: what cannot be read is said in `why`.
NodeVerbs read_verbs_ports(const std::string& library,
                           const std::vector<std::pair<std::string, int>>& ports);

// ibv_mtu's values (1: 256 ... 5: 4096) in bytes; nullopt for anything else.
std::optional<int> ibv_mtu_bytes(int value);

}  // namespace sxb
