#include "platform/node_sysfs.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <system_error>

#include "core/error.hpp"
#include "core/parse.hpp"

namespace sxb {

namespace fs = std::filesystem;

namespace {

std::string trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// The trimmed text of a small sysfs file, or nullopt when it cannot be read (absent, a directory,
// no permission, or an attribute the driver refuses to show).
std::optional<std::string> read_text(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return trimmed(ss.str());
}

// Entry names of a directory (symbolic links included), sorted; empty when it cannot be listed.
std::vector<std::string> names_in(const fs::path& dir, bool* listed = nullptr) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (listed) *listed = !ec;
  if (ec) return out;
  for (const auto& e : it) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// "12" -> 12; nullopt for anything that is not a small non-negative integer.
std::optional<int> small_index(std::string_view s) {
  if (s.empty() || s.size() > 6) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

NetdevSysfs read_netdev(const fs::path& root, const std::string& name, int priority) {
  const fs::path d = root / "sys/class/net" / name;
  NetdevSysfs n;
  n.name = name;
  n.mtu = read_text(d / "mtu");
  n.operstate = read_text(d / "operstate");
  n.ecn_np = read_text(d / "ecn/roce_np/enable" / std::to_string(priority));
  n.ecn_rp = read_text(d / "ecn/roce_rp/enable" / std::to_string(priority));
  return n;
}

void read_port_netdev(const fs::path& root, const fs::path& dev_dir, RdmaPortSysfs& p,
                      int priority) {
  bool listed = false;
  const auto nets = names_in(dev_dir / "device/net", &listed);
  if (!listed || nets.empty()) {
    p.netdev_note = fmt::format("no interface under {}/device/net", dev_dir.lexically_relative(root).string());
    return;
  }
  if (nets.size() == 1) {
    p.netdev = read_netdev(root, nets.front(), priority);
    return;
  }
  for (const auto& n : nets) {
    const auto dev_port = read_text(root / "sys/class/net" / n / "dev_port");
    const auto idx = dev_port ? small_index(*dev_port) : std::nullopt;
    if (idx && *idx == p.port - 1) {
      p.netdev = read_netdev(root, n, priority);
      return;
    }
  }
  p.netdev_note = fmt::format("{} interfaces under {}/device/net and none has dev_port {}",
                              nets.size(), dev_dir.lexically_relative(root).string(), p.port - 1);
}

bool is_bdf(std::string_view s) {
  // dddd:bb:dd.f
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11}) {
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// The PCI function a sysfs link (…/device) points at, resolved inside root.
PciLocation pci_location_of(const fs::path& root, const fs::path& link) {
  PciLocation loc;
  std::error_code ec, root_ec;
  const fs::path rel_link = link.lexically_relative(root);
  const fs::path real = fs::canonical(link, ec);
  const fs::path real_root = fs::canonical(root, root_ec);
  if (ec || root_ec || real.empty()) {
    loc.why = fmt::format("cannot resolve /{}", rel_link.string());
    return loc;
  }
  const fs::path rel = real.lexically_relative(real_root);
  bool in_pci = false;
  for (const auto& part : rel) {
    const std::string c = part.string();
    if (!in_pci && c.rfind("pci", 0) == 0 && c.size() > 3) in_pci = true;
    if (in_pci) loc.path.push_back(c);
  }
  if (loc.path.size() < 2 || !is_bdf(loc.path.back())) {
    loc.path.clear();
    loc.why = fmt::format("/{} resolves to /{}, not a PCI function", rel_link.string(), rel.string());
    return loc;
  }
  loc.bdf = loc.path.back();
  const auto numa = read_text(real / "numa_node");
  if (!numa) {
    loc.why = fmt::format("cannot read /{}/numa_node", rel.string());
  } else {
    try {
      loc.numa_node = static_cast<int>(parse_int_in(*numa, "numa_node", -1, 4095));
    } catch (const Error&) {
      loc.why = fmt::format("/{}/numa_node holds '{}'", rel.string(), quoted_excerpt(*numa));
    }
  }
  return loc;
}

}  // namespace

PciLocation read_pci_location(const fs::path& root, const std::string& bdf) {
  return pci_location_of(root, root / "sys/bus/pci/devices" / bdf);
}

PciRelation pci_relation(const PciLocation& a, const PciLocation& b, std::string* common) {
  if (!a.path.empty() && !b.path.empty()) {
    size_t n = 0;
    while (n < a.path.size() && n < b.path.size() && a.path[n] == b.path[n]) ++n;
    if (n >= 2) {
      if (common) *common = a.path[n - 1];
      return PciRelation::same_switch;
    }
    if (n == 1) return PciRelation::same_host_bridge;
  }
  if (!a.numa_node || !b.numa_node) return PciRelation::unknown;
  return *a.numa_node == *b.numa_node ? PciRelation::same_numa : PciRelation::other_numa;
}

const char* pci_relation_name(PciRelation r) {
  switch (r) {
    case PciRelation::same_switch: return "same PCIe switch";
    case PciRelation::same_host_bridge: return "same host bridge";
    case PciRelation::same_numa: return "same NUMA node";
    case PciRelation::other_numa: return "other NUMA node";
    case PciRelation::unknown: return "unknown";
  }
  return "unknown";
}

std::string port_state_name(std::string_view text) {
  std::string t = trimmed(text);
  const size_t colon = t.find(':');
  if (colon != std::string::npos && colon > 0 &&
      std::all_of(t.begin(), t.begin() + static_cast<long>(colon),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    return trimmed(std::string_view(t).substr(colon + 1));
  }
  return t;
}

bool gid_nonzero(std::string_view text) {
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c)) && c != '0') return true;
  }
  return false;
}

NcclNameList parse_nccl_name_list(std::string_view text, bool with_ports, std::string_view what) {
  NcclNameList out;
  std::string_view s = text;
  if (!s.empty() && s.front() == '^') {
    out.exclude = true;
    s.remove_prefix(1);
  }
  if (!s.empty() && s.front() == '=') {
    out.exact = true;
    s.remove_prefix(1);
  }
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const std::string_view item = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    const std::string entry = trimmed(item);
    if (entry.empty()) continue;
    NcclNameList::Entry e;
    e.text = entry;
    e.name = entry;
    const size_t colon = with_ports ? entry.find(':') : std::string::npos;
    if (colon != std::string::npos) {
      e.name = entry.substr(0, colon);
      const auto port = small_index(entry.substr(colon + 1));
      if (!port || *port < 1) {
        throw usage_error(fmt::format("{}: entry '{}': expected <device>[:<port>] with a port from 1",
                                      what, quoted_excerpt(entry)));
      }
      e.port = *port;
    }
    if (e.name.empty()) {
      throw usage_error(fmt::format("{}: entry '{}' names no device", what, quoted_excerpt(entry)));
    }
    out.entries.push_back(e);
  }
  if (out.entries.empty()) {
    throw usage_error(fmt::format("{}: '{}' names nothing", what, quoted_excerpt(text)));
  }
  return out;
}

bool nccl_name_matches(const NcclNameList& list, const NcclNameList::Entry& entry,
                       std::string_view name) {
  return list.exact ? name == entry.name : name.substr(0, entry.name.size()) == entry.name;
}

NodeSysfs read_node_sysfs(const fs::path& root, int roce_priority) {
  NodeSysfs n;
  n.root = root;
  const fs::path ib = root / "sys/class/infiniband";
  std::error_code ec;
  n.rdma_class_present = fs::is_directory(ib, ec);
  n.rdma_devices = names_in(ib);
  n.net_interfaces = names_in(root / "sys/class/net");
  for (const auto& dev : n.rdma_devices) {
    const fs::path dev_dir = ib / dev;
    std::vector<int> port_numbers;
    for (const auto& p : names_in(dev_dir / "ports")) {
      if (const auto i = small_index(p)) port_numbers.push_back(*i);
    }
    std::sort(port_numbers.begin(), port_numbers.end());
    for (int port : port_numbers) {
      const fs::path pd = dev_dir / "ports" / std::to_string(port);
      RdmaPortSysfs p;
      p.device = dev;
      p.port = port;
      p.state = read_text(pd / "state");
      p.phys_state = read_text(pd / "phys_state");
      p.link_layer = read_text(pd / "link_layer");
      p.rate = read_text(pd / "rate");
      std::vector<int> gid_indices;
      for (const auto& g : names_in(pd / "gids", &p.gid_table_readable)) {
        if (const auto i = small_index(g)) gid_indices.push_back(*i);
      }
      std::sort(gid_indices.begin(), gid_indices.end());
      for (int i : gid_indices) {
        const auto gid = read_text(pd / "gids" / std::to_string(i));
        if (!gid || !gid_nonzero(*gid)) continue;
        GidEntry e;
        e.index = i;
        e.gid = *gid;
        e.nonzero = true;
        // The kernel refuses to read the type of an unused entry (EINVAL): left empty.
        e.type = read_text(pd / "gid_attrs/types" / std::to_string(i)).value_or("");
        p.gids.push_back(e);
      }
      read_port_netdev(root, dev_dir, p, roce_priority);
      n.ports.push_back(std::move(p));
    }
    n.rdma_pci.push_back(
        {dev, pci_location_of(root, dev_dir / "device"), read_text(dev_dir / "fw_ver")});
  }
  n.gpudirect.nvidia_peermem = fs::is_directory(root / "sys/module/nvidia_peermem", ec);
  n.gpudirect.nv_peer_mem = fs::is_directory(root / "sys/module/nv_peer_mem", ec);
  if (const auto v = read_text(root / "proc/driver/nvidia/version")) {
    n.gpudirect.nvidia_version = v->substr(0, v->find('\n'));
  }
  n.gpudirect.kernel_release = read_text(root / "proc/sys/kernel/osrelease");
  return n;
}

}  // namespace sxb
