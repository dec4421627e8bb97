#include "validate/preflight.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "platform/system_info.hpp"

namespace sxb {

namespace {

const nlohmann::json& expectation(const nlohmann::json& expectations, const std::string& key,
                                  const std::string& file, std::map<std::string, std::string>& sources) {
  const std::string where = "expectations." + key;
  if (!expectations.contains(key) || !expectations[key].is_object()) {
    throw usage_error(fmt::format("{}: missing (an object with \"value\" and \"source\")",
                                  json_key_name(file, where)));
  }
  const auto& e = expectations[key];
  const auto source = json_string_member(e, "source", file + ": " + where);
  if (!source || source->empty()) {
    throw usage_error(fmt::format("{}: missing (where the expectation comes from)",
                                  json_key_name(file, where + ".source")));
  }
  if (!e.contains("value") || e["value"].is_null()) {
    throw usage_error(fmt::format("{}: missing", json_key_name(file, where + ".value")));
  }
  sources[key] = *source;
  return e["value"];
}

}  // namespace

NodeProfile node_profile_from_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) throw usage_error(fmt::format("{}: expected a JSON object", file));
  NodeProfile p;
  p.file = file;
  p.name = json_string_member(j, "name", file).value_or("");
  if (!j.contains("expectations") || !j["expectations"].is_object()) {
    throw usage_error(fmt::format("{}: missing (an object of expectations)",
                                  json_key_name(file, "expectations")));
  }
  const auto& ex = j["expectations"];
  auto& src = p.sources;
  auto name = [&](const std::string& key) { return json_key_name(file, "expectations." + key + ".value"); };
  p.gpus_per_node = static_cast<int>(json_int(expectation(ex, "gpus_per_node", file, src),
                                              name("gpus_per_node"), 1, 64));
  p.roce_ports_per_node = static_cast<int>(json_int(
      expectation(ex, "roce_ports_per_node", file, src), name("roce_ports_per_node"), 1, 64));
  p.port_rate_gbit_per_s = json_number(expectation(ex, "port_rate_gbit_per_s", file, src),
                                       name("port_rate_gbit_per_s"), 1, 100000);
  p.link_layer = json_string(expectation(ex, "link_layer", file, src), name("link_layer"));
  if (p.link_layer != "Ethernet" && p.link_layer != "InfiniBand") {
    throw usage_error(fmt::format("{}: expected \"Ethernet\" or \"InfiniBand\", got \"{}\"",
                                  name("link_layer"), quoted_excerpt(p.link_layer)));
  }
  p.gid_type = json_string(expectation(ex, "gid_type", file, src), name("gid_type"));
  if (p.gid_type != "RoCE v2" && p.gid_type != "IB/RoCE v1") {
    throw usage_error(fmt::format("{}: expected \"RoCE v2\" or \"IB/RoCE v1\", got \"{}\"",
                                  name("gid_type"), quoted_excerpt(p.gid_type)));
  }
  p.mtu_bytes = static_cast<int>(
      json_int(expectation(ex, "mtu_bytes", file, src), name("mtu_bytes"), 68, 65535));
  p.pfc_enabled = json_bool(expectation(ex, "pfc_enabled", file, src), name("pfc_enabled"));
  p.ecn_enabled = json_bool(expectation(ex, "ecn_enabled", file, src), name("ecn_enabled"));
  p.roce_priority = static_cast<int>(
      json_int(expectation(ex, "roce_priority", file, src), name("roce_priority"), 0, 7));
  return p;
}

NodeProfile load_node_profile(const std::filesystem::path& file) {
  return node_profile_from_json(read_json_file(file), file.string());
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass: return "pass";
    case Verdict::warn: return "warn";
    case Verdict::fail: return "fail";
    case Verdict::unknown: return "unknown";
  }
  return "unknown";
}

NcclEnv nccl_env_from_process() {
  NcclEnv env;
  for (const char* k : {"NCCL_IB_HCA", "NCCL_IB_GID_INDEX", "NCCL_SOCKET_IFNAME"}) {
    if (const char* v = std::getenv(k)) env[k] = v;
  }
  return env;
}

namespace {

struct Rows {
  const NodeProfile& profile;
  std::vector<CheckRow> rows;

  CheckRow& add(std::string id, std::string subject, std::string found, std::string expected,
                const std::string& key, Verdict v, std::string note = "") {
    CheckRow r;
    r.id = std::move(id);
    r.subject = std::move(subject);
    r.found = std::move(found);
    r.expected = std::move(expected);
    if (key.empty()) {
      r.source = "NCCL";
    } else {
      r.source = profile.file + ":" + key;
      const auto it = profile.sources.find(key);
      if (it != profile.sources.end()) r.citation = it->second;
    }
    r.verdict = v;
    r.note = std::move(note);
    rows.push_back(std::move(r));
    return rows.back();
  }
};

std::string port_name(const RdmaPortSysfs& p) { return fmt::format("{}:{}", p.device, p.port); }

std::string port_subject(const RdmaPortSysfs& p) {
  return p.netdev ? fmt::format("{} {}", port_name(p), p.netdev->name) : port_name(p);
}

bool is_active(const RdmaPortSysfs& p) { return p.state && port_state_name(*p.state) == "ACTIVE"; }
bool is_ethernet(const RdmaPortSysfs& p) { return p.link_layer && *p.link_layer == "Ethernet"; }

const GidEntry* lowest_gid_of_type(const RdmaPortSysfs& p, const std::string& type) {
  for (const auto& g : p.gids)
    if (g.type == type) return &g;
  return nullptr;
}

std::string or_unset(const NcclEnv& env, const std::string& k) {
  const auto it = env.find(k);
  return it == env.end() ? std::string() : it->second;
}

void no_rdma_rows(Rows& r, const NodeSysfs& node) {
  const std::string why =
      !node.rdma_class_present
          ? "no RDMA device: /sys/class/infiniband does not exist (no RDMA driver loaded)"
      : node.rdma_devices.empty()
          ? "no RDMA device: /sys/class/infiniband is empty"
          : fmt::format("RDMA devices ({}) show no readable port under ports/", node.rdma_devices.size());
  const auto& p = r.profile;
  r.add("rdma.roce_ports", "node", "0", fmt::format(">= {} ACTIVE {} ports", p.roce_ports_per_node, p.link_layer),
        "roce_ports_per_node", Verdict::fail, why);
  r.add("rdma.port_rate", "-", "no RDMA port", fmt::format(">= {:g} Gb/s", p.port_rate_gbit_per_s),
        "port_rate_gbit_per_s", Verdict::unknown, why);
  r.add("rdma.gid", "-", "no RDMA port", fmt::format("a {} GID", p.gid_type), "gid_type",
        Verdict::unknown, why);
  r.add("net.mtu", "-", "no RDMA port", fmt::format(">= {}", p.mtu_bytes), "mtu_bytes",
        Verdict::unknown, why);
  r.add("net.ecn", "-", "no RDMA port", fmt::format("on at priority {}", p.roce_priority),
        "ecn_enabled", Verdict::unknown, why);
  r.add("net.pfc", "-", "no RDMA port", fmt::format("on at priority {}", p.roce_priority),
        "pfc_enabled", Verdict::unknown, why);
}

void port_rows(Rows& r, const RdmaPortSysfs& port) {
  const auto& p = r.profile;
  const std::string subj = port_subject(port);
  // State.
  if (!port.state) {
    r.add("rdma.port_state", subj, "cannot read", "ACTIVE", "roce_ports_per_node", Verdict::unknown,
          "cannot read ports/N/state");
  } else {
    const std::string st = port_state_name(*port.state);
    const std::string phys = port.phys_state ? port_state_name(*port.phys_state) : "phys_state unreadable";
    r.add("rdma.port_state", subj, st + " / " + phys, "ACTIVE", "roce_ports_per_node",
          st == "ACTIVE" ? Verdict::pass : Verdict::warn,
          st == "ACTIVE" ? "" : "port is not ACTIVE: not counted");
  }
  // Link layer.
  if (!port.link_layer) {
    r.add("rdma.link_layer", subj, "cannot read", p.link_layer, "link_layer", Verdict::unknown,
          "cannot read ports/N/link_layer");
  } else if (*port.link_layer == p.link_layer) {
    r.add("rdma.link_layer", subj, *port.link_layer, p.link_layer, "link_layer", Verdict::pass);
  } else {
    r.add("rdma.link_layer", subj, *port.link_layer, p.link_layer, "link_layer", Verdict::warn,
          fmt::format("{} port, the profile says {}: not counted", *port.link_layer, p.link_layer));
  }
  // Rate.
  const std::string rate_expected = fmt::format(">= {:g} Gb/s", p.port_rate_gbit_per_s);
  if (!port.rate) {
    r.add("rdma.port_rate", subj, "cannot read", rate_expected, "port_rate_gbit_per_s",
          Verdict::unknown, "cannot read ports/N/rate");
  } else {
    const double g = parse_ib_rate_gbit(*port.rate);
    if (g <= 0) {
      r.add("rdma.port_rate", subj, *port.rate, rate_expected, "port_rate_gbit_per_s",
            Verdict::unknown, "rate text not understood");
    } else if (!is_active(port)) {
      r.add("rdma.port_rate", subj, *port.rate, rate_expected, "port_rate_gbit_per_s",
            Verdict::warn, "port is not ACTIVE: the rate is not a link's");
    } else {
      const bool ok = g >= p.port_rate_gbit_per_s;
      r.add("rdma.port_rate", subj, *port.rate, rate_expected, "port_rate_gbit_per_s",
            ok ? Verdict::pass : Verdict::fail,
            ok ? "" : fmt::format("{:g} Gb/s is below {:g} Gb/s", g, p.port_rate_gbit_per_s));
    }
  }
  if (!is_ethernet(port)) return;  // GIDs of the RoCE kind, MTU, ECN and PFC concern RoCE ports
  // RoCE v2 GID.
  if (!port.gid_table_readable) {
    r.add("rdma.gid", subj, "cannot read", fmt::format("a {} GID", p.gid_type), "gid_type",
          Verdict::unknown, "cannot list ports/N/gids");
  } else if (const GidEntry* g = lowest_gid_of_type(port, p.gid_type)) {
    // Routed RoCE v2 needs the GID of the interface's IPv4 address (NCCL's default address
    // family); the link-local one is usually the lowest.
    std::string v4;
    for (const auto& e : port.gids) {
      if (e.type == p.gid_type && e.gid.rfind("0000:0000:0000:0000:0000:ffff:", 0) == 0) {
        v4 = fmt::format("; IPv4-mapped: {}", e.index);
        break;
      }
    }
    r.add("rdma.gid", subj, fmt::format("index {} ({}) {}", g->index, g->type, g->gid),
          fmt::format("a {} GID", p.gid_type), "gid_type", Verdict::pass,
          fmt::format("lowest {} GID index: {}{}", p.gid_type, g->index, v4));
  } else {
    std::string types;
    for (const auto& e : port.gids)
      types += (types.empty() ? "" : ", ") + fmt::format("{}:{}", e.index, e.type.empty() ? "?" : e.type);
    r.add("rdma.gid", subj, types.empty() ? "no non-zero GID" : types,
          fmt::format("a {} GID", p.gid_type), "gid_type", Verdict::fail,
          fmt::format("no {} GID on this port", p.gid_type));
  }
  // Interface.
  if (!port.netdev) {
    r.add("net.mtu", subj, "no interface", fmt::format(">= {}", p.mtu_bytes), "mtu_bytes",
          Verdict::unknown, port.netdev_note);
    return;
  }
  const auto& nd = *port.netdev;
  if (!nd.mtu) {
    r.add("net.mtu", subj, "cannot read", fmt::format(">= {}", p.mtu_bytes), "mtu_bytes",
          Verdict::unknown, fmt::format("cannot read /sys/class/net/{}/mtu", nd.name));
  } else {
    std::optional<int64_t> mtu;
    try {
      mtu = parse_int_in(*nd.mtu, "mtu", 0, 1 << 20);
    } catch (const Error&) {
    }
    if (!mtu) {
      r.add("net.mtu", subj, *nd.mtu, fmt::format(">= {}", p.mtu_bytes), "mtu_bytes",
            Verdict::unknown, "mtu text not understood");
    } else {
      const bool ok = *mtu >= p.mtu_bytes;
      r.add("net.mtu", subj, std::to_string(*mtu), fmt::format(">= {}", p.mtu_bytes), "mtu_bytes",
            ok ? Verdict::pass : Verdict::fail,
            ok ? "" : fmt::format("{} MTU {} is below {}", nd.name, *mtu, p.mtu_bytes));
    }
  }
  if (!nd.operstate) {
    r.add("net.operstate", subj, "cannot read", "up", "roce_ports_per_node", Verdict::unknown,
          fmt::format("cannot read /sys/class/net/{}/operstate", nd.name));
  } else {
    const bool up = *nd.operstate == "up";
    r.add("net.operstate", subj, *nd.operstate, "up", "roce_ports_per_node",
          up ? Verdict::pass : Verdict::warn, up ? "" : fmt::format("{} is not up", nd.name));
  }
  // ECN on the RoCE priority (mlx5: notification and reaction point switches).
  const std::string ecn_expected = fmt::format("{} at priority {}", p.ecn_enabled ? "on" : "off", p.roce_priority);
  if (!nd.ecn_np || !nd.ecn_rp) {
    r.add("net.ecn", subj, "cannot read", ecn_expected, "ecn_enabled", Verdict::unknown,
          fmt::format("cannot read ECN state from sysfs on this driver (no /sys/class/net/{0}/ecn/roce_{1}/enable/{2})",
                      nd.name, nd.ecn_np ? "rp" : "np", p.roce_priority));
  } else {
    const bool np = *nd.ecn_np == "1", rp = *nd.ecn_rp == "1";
    const bool on = np && rp;
    const bool ok = on == p.ecn_enabled;
    r.add("net.ecn", subj, fmt::format("np={} rp={}", *nd.ecn_np, *nd.ecn_rp), ecn_expected,
          "ecn_enabled", ok ? Verdict::pass : Verdict::fail,
          ok ? "" : fmt::format("ECN at priority {} is {}", p.roce_priority, on ? "on" : "not on for both points"));
  }
  // PFC: mlx5 shows it only through DCB netlink (mlnx_qos, dcb); not read in this version.
  r.add("net.pfc", subj, "cannot read", fmt::format("{} at priority {}", p.pfc_enabled ? "on" : "off", p.roce_priority),
        "pfc_enabled", Verdict::unknown,
        fmt::format("cannot read PFC state from sysfs on this driver (use mlnx_qos -i {})", nd.name));
}

void nccl_rows(Rows& r, const NodeSysfs& node, const NcclEnv& env) {
  const auto& p = r.profile;
  // NCCL_IB_HCA.
  const std::string hca = or_unset(env, "NCCL_IB_HCA");
  if (hca.empty()) {
    r.add("nccl.ib_hca", "NCCL_IB_HCA", "unset", "names of RDMA devices here", "", Verdict::pass,
          "unset: NCCL uses every RDMA device");
  } else {
    try {
      const auto list = parse_nccl_name_list(hca, true, "NCCL_IB_HCA");
      std::vector<std::string> missing;
      for (const auto& e : list.entries) {
        bool found = false;
        for (const auto& port : node.ports) {
          if (!nccl_name_matches(list, e, port.device)) continue;
          if (e.port && *e.port != port.port) continue;
          found = true;
        }
        if (!found) missing.push_back(e.text);
      }
      std::string devs;
      for (const auto& d : node.rdma_devices) devs += (devs.empty() ? "" : ",") + d;
      if (missing.empty()) {
        r.add("nccl.ib_hca", "NCCL_IB_HCA", hca, "names of RDMA devices here", "", Verdict::pass);
      } else {
        std::string m;
        for (const auto& s : missing) m += (m.empty() ? "" : ", ") + s;
        // Excluding what is not there changes nothing; selecting it leaves NCCL without it.
        r.add("nccl.ib_hca", "NCCL_IB_HCA", hca, "names of RDMA devices here", "",
              list.exclude ? Verdict::pass : Verdict::fail,
              fmt::format("{} {} no RDMA device or port here (devices: {}){}", m,
                          missing.size() == 1 ? "names" : "name", devs.empty() ? "none" : devs,
                          list.exclude ? ": excluded, so nothing changes" : ""));
      }
    } catch (const Error& e) {
      r.add("nccl.ib_hca", "NCCL_IB_HCA", hca, "names of RDMA devices here", "", Verdict::fail, e.what());
    }
  }
  // NCCL_IB_GID_INDEX.
  const std::string gid_text = or_unset(env, "NCCL_IB_GID_INDEX");
  std::vector<const RdmaPortSysfs*> roce;
  for (const auto& port : node.ports)
    if (is_ethernet(port)) roce.push_back(&port);
  if (gid_text.empty()) {
    std::string lowest;
    for (const auto* port : roce) {
      if (const auto* g = lowest_gid_of_type(*port, p.gid_type))
        lowest += (lowest.empty() ? "" : ", ") + fmt::format("{} {}", port_name(*port), g->index);
    }
    r.add("nccl.ib_gid_index", "NCCL_IB_GID_INDEX", "unset", fmt::format("a {} GID index", p.gid_type),
          "gid_type", Verdict::pass,
          fmt::format("unset: NCCL picks the GID itself; lowest {} index here: {}", p.gid_type,
                      lowest.empty() ? "none" : lowest));
  } else {
    std::optional<int64_t> idx;
    try {
      idx = parse_int_in(gid_text, "NCCL_IB_GID_INDEX", 0, 65535);
    } catch (const Error&) {
    }
    if (!idx) {
      r.add("nccl.ib_gid_index", "NCCL_IB_GID_INDEX", gid_text, fmt::format("a {} GID index", p.gid_type),
            "gid_type", Verdict::fail, "not a GID index (an integer from 0 to 65535)");
    } else if (roce.empty()) {
      r.add("nccl.ib_gid_index", "NCCL_IB_GID_INDEX", gid_text, fmt::format("a {} GID index", p.gid_type),
            "gid_type", Verdict::unknown, "no RoCE port to look the index up on");
    } else {
      std::string bad;
      for (const auto* port : roce) {
        const auto it = std::find_if(port->gids.begin(), port->gids.end(),
                                     [&](const GidEntry& g) { return g.index == *idx; });
        if (it == port->gids.end()) {
          bad += (bad.empty() ? "" : "; ") + fmt::format("{}: index {} is empty", port_name(*port), *idx);
        } else if (it->type != p.gid_type) {
          bad += (bad.empty() ? "" : "; ") +
                 fmt::format("{}: index {} is {}", port_name(*port), *idx, it->type.empty() ? "of unreadable type" : it->type);
        }
      }
      r.add("nccl.ib_gid_index", "NCCL_IB_GID_INDEX", gid_text, fmt::format("a {} GID index", p.gid_type),
            "gid_type", bad.empty() ? Verdict::pass : Verdict::fail, bad);
    }
  }
  // NCCL_SOCKET_IFNAME.
  const std::string ifn = or_unset(env, "NCCL_SOCKET_IFNAME");
  if (ifn.empty()) {
    r.add("nccl.socket_ifname", "NCCL_SOCKET_IFNAME", "unset", "interfaces here", "", Verdict::pass,
          "unset: NCCL picks an interface (ib*, then any but docker* and lo)");
  } else {
    try {
      const auto list = parse_nccl_name_list(ifn, false, "NCCL_SOCKET_IFNAME");
      std::string missing;
      for (const auto& e : list.entries) {
        const bool found = std::any_of(node.net_interfaces.begin(), node.net_interfaces.end(),
                                       [&](const std::string& n) { return nccl_name_matches(list, e, n); });
        if (!found) missing += (missing.empty() ? "" : ", ") + e.text;
      }
      if (missing.empty()) {
        r.add("nccl.socket_ifname", "NCCL_SOCKET_IFNAME", ifn, "interfaces here", "", Verdict::pass);
      } else {
        r.add("nccl.socket_ifname", "NCCL_SOCKET_IFNAME", ifn, "interfaces here", "",
              list.exclude ? Verdict::pass : Verdict::fail,
              fmt::format("{} matches no interface under /sys/class/net{}", missing,
                          list.exclude ? ": excluded, so nothing changes" : ""));
      }
    } catch (const Error& e) {
      r.add("nccl.socket_ifname", "NCCL_SOCKET_IFNAME", ifn, "interfaces here", "", Verdict::fail, e.what());
    }
  }
}

}  // namespace

std::vector<CheckRow> preflight_checks(const NodeSysfs& node, const NodeProfile& profile,
                                       const NcclEnv& env) {
  Rows r{profile, {}};
  if (node.ports.empty()) {
    no_rdma_rows(r, node);
  } else {
    std::string counted;
    int n = 0;
    for (const auto& port : node.ports) {
      if (is_active(port) && port.link_layer && *port.link_layer == profile.link_layer) {
        ++n;
        counted += (counted.empty() ? "" : ", ") + port_name(port);
      }
    }
    const bool ok = n >= profile.roce_ports_per_node;
    r.add("rdma.roce_ports", "node", counted.empty() ? "0" : fmt::format("{} ({})", n, counted),
          fmt::format(">= {} ACTIVE {} ports", profile.roce_ports_per_node, profile.link_layer),
          "roce_ports_per_node", ok ? Verdict::pass : Verdict::fail,
          ok ? "" : fmt::format("{} ACTIVE {} ports of {} RDMA ports", n, profile.link_layer, node.ports.size()));
    for (const auto& port : node.ports) port_rows(r, port);
  }
  nccl_rows(r, node, env);
  return r.rows;
}

bool any_failed(const std::vector<CheckRow>& rows) {
  return std::any_of(rows.begin(), rows.end(), [](const CheckRow& r) { return r.verdict == Verdict::fail; });
}

nlohmann::json to_json(const CheckRow& r) {
  nlohmann::json j = {{"id", r.id},           {"subject", r.subject},   {"found", r.found},
                      {"expected", r.expected}, {"source", r.source},   {"verdict", verdict_name(r.verdict)},
                      {"note", r.note}};
  if (!r.citation.empty()) j["citation"] = r.citation;
  return j;
}

}  // namespace sxb
