#pragma once
// What a Linux host's sysfs says about its RDMA ports and their network interfaces, where its PCI
// devices sit (NUMA node, path through bridges and switches) and whether GPUDirect RDMA's kernel
// parts are there, read under a root directory ("/" on a real host, a fixture tree in tests). Nothing is inferred: a file that
// cannot be read stays absent (std::nullopt), so the checks above can say "cannot read" instead
// of guessing. Read by `sxbench preflight` (validate/preflight).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sxb {

// One entry of a port's GID table: ports/<n>/gids/<index> and gid_attrs/types/<index>.
struct GidEntry {
  int index = 0;
  std::string gid;   // "fe80:0000:0000:0000:0e42:a1ff:fe00:0001"
  std::string type;  // "RoCE v2", "IB/RoCE v1"; empty when the type file cannot be read
  bool nonzero = false;
};

// A network interface (/sys/class/net/<name>) and the ECN switches mlx5 exposes per priority.
struct NetdevSysfs {
  std::string name;
  std::optional<std::string> mtu;        // text of .../mtu, trimmed
  std::optional<std::string> operstate;  // "up", "down", ...
  std::optional<std::string> ecn_np;     // ecn/roce_np/enable/<priority> (notification point)
  std::optional<std::string> ecn_rp;     // ecn/roce_rp/enable/<priority> (reaction point)
};

struct RdmaPortSysfs {
  std::string device;  // "mlx5_0"
  int port = 0;        // 1-based, as sysfs numbers them
  std::optional<std::string> state;       // "4: ACTIVE"
  std::optional<std::string> phys_state;  // "5: LinkUp"
  std::optional<std::string> link_layer;  // "Ethernet" or "InfiniBand"
  std::optional<std::string> rate;        // "400 Gb/sec (4X NDR)"
  bool gid_table_readable = false;        // ports/<n>/gids exists and can be listed
  std::vector<GidEntry> gids;             // non-zero entries only, in index order
  // The interface of this port: the only one under <dev>/device/net/, or the one whose dev_port
  // is port - 1. nullopt when none is found or several match and none says which (never guessed).
  std::optional<NetdevSysfs> netdev;
  std::string netdev_note;  // why netdev is absent
};

// Where a PCI function sits: its NUMA node and the chain of PCI devices from the host bridge
// down to it, as the resolved sysfs path shows it (/sys/devices/pci0000:00/0000:00:01.0/...).
struct PciLocation {
  std::string bdf;                // "0000:1b:00.0"; empty when the link cannot be resolved
  std::vector<std::string> path;  // {"pci0000:00", "0000:00:01.0", ..., bdf}; empty: unresolved
  std::optional<int> numa_node;   // numa_node; -1 when the kernel assigns none
  std::string why;                // what could not be read
};

// What two PCI functions share, nearest first.
enum class PciRelation {
  same_switch,       // a common bridge below the host bridge (one PCIe switch / root port)
  same_host_bridge,  // the same host bridge (pciDDDD:BB) only
  same_numa,         // different host bridges on the same NUMA node
  other_numa,        // different NUMA nodes
  unknown,           // a path or NUMA node could not be read
};
// The relation, and for same_switch the deepest common bridge.
PciRelation pci_relation(const PciLocation& a, const PciLocation& b, std::string* common = nullptr);
const char* pci_relation_name(PciRelation r);

struct RdmaDeviceSysfs {
  std::string name;  // "mlx5_0"
  PciLocation pci;   // of /sys/class/infiniband/<name>/device
  std::optional<std::string> fw_ver;  // /sys/class/infiniband/<name>/fw_ver, trimmed
};

// The kernel parts GPUDirect RDMA needs: the peer-memory module, or the open NVIDIA kernel
// module whose dma-buf export the RDMA stack can import (kernel 5.12 or later).
struct GpuDirectSysfs {
  bool nvidia_peermem = false;  // /sys/module/nvidia_peermem
  bool nv_peer_mem = false;     // /sys/module/nv_peer_mem (MLNX_OFED's older module)
  std::optional<std::string> nvidia_version;  // first line of /proc/driver/nvidia/version
  std::optional<std::string> kernel_release;  // /proc/sys/kernel/osrelease
};

struct NodeSysfs {
  std::filesystem::path root;
  bool rdma_class_present = false;          // <root>/sys/class/infiniband exists
  std::vector<std::string> rdma_devices;    // names under /sys/class/infiniband, sorted
  std::vector<RdmaPortSysfs> ports;         // every port of every device, sorted
  std::vector<std::string> net_interfaces;  // names under /sys/class/net, sorted
  std::vector<RdmaDeviceSysfs> rdma_pci;    // one per RDMA device, in rdma_devices' order
  GpuDirectSysfs gpudirect;
};

// /sys/bus/pci/devices/<bdf> under root ("0000:1b:00.0", lower-case hex).
PciLocation read_pci_location(const std::filesystem::path& root, const std::string& bdf);

// Reads everything under `root`; ECN is read for `roce_priority` (0-7).
NodeSysfs read_node_sysfs(const std::filesystem::path& root, int roce_priority);

// Parsers for the sysfs texts, separated so they can be tested.
// "4: ACTIVE" -> "ACTIVE", "5: LinkUp" -> "LinkUp"; text without a "<n>: " prefix is returned trimmed.
std::string port_state_name(std::string_view text);
// True when a GID text has any non-zero hex digit ("0000:...:0000" and "::" are zero).
bool gid_nonzero(std::string_view text);

// A list in NCCL's syntax (NCCL_IB_HCA, NCCL_SOCKET_IFNAME): a leading '^' excludes the names,
// a leading '=' (after any '^') asks for exact names instead of prefixes, entries are separated by
// commas and an NCCL_IB_HCA entry may end in ":<port>".
struct NcclNameList {
  bool exclude = false;
  bool exact = false;
  struct Entry {
    std::string name;
    std::optional<int> port;  // from "name:port"; nullopt without a suffix
    std::string text;         // the entry as written
  };
  std::vector<Entry> entries;
};
// with_ports: ":<n>" suffixes are read as ports (NCCL_IB_HCA); an unreadable port is a one-line
// sxb::Error naming `what`.
NcclNameList parse_nccl_name_list(std::string_view text, bool with_ports, std::string_view what);
// Whether `name` is what an entry selects under NCCL's rule (prefix unless exact).
bool nccl_name_matches(const NcclNameList& list, const NcclNameList::Entry& entry,
                       std::string_view name);

}  // namespace sxb
