#include "validate/preflight.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "core/atomic_file.hpp"
#include "core/env_config.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "monitor/throttle.hpp"
#include "platform/library_probe.hpp"
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
  p.gpu_model = json_string(expectation(ex, "gpu_model", file, src), name("gpu_model"));
  if (p.gpu_model.empty()) throw usage_error(fmt::format("{}: empty", name("gpu_model")));
  p.cuda_min_version =
      json_string(expectation(ex, "cuda_min_version", file, src), name("cuda_min_version"));
  const auto cuda = parse_cuda_version(p.cuda_min_version);
  if (!cuda) {
    throw usage_error(fmt::format("{}: expected MAJOR.MINOR such as \"12.5\", got \"{}\"",
                                  name("cuda_min_version"), quoted_excerpt(p.cuda_min_version)));
  }
  p.cuda_min = *cuda;
  p.nvlinks_per_gpu = static_cast<int>(json_int(expectation(ex, "nvlinks_per_gpu", file, src),
                                                name("nvlinks_per_gpu"), 0, 18));
  p.persistence_mode =
      json_bool(expectation(ex, "persistence_mode", file, src), name("persistence_mode"));
  p.ecc_enabled = json_bool(expectation(ex, "ecc_enabled", file, src), name("ecc_enabled"));
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

const std::vector<ProfileSetting>& profile_settings() {
  static const std::vector<ProfileSetting> s = {
      {"gpus_per_node", "PREFLIGHT_GPUS_PER_NODE"},
      {"gpu_model", "PREFLIGHT_GPU_MODEL"},
      {"cuda_min_version", "PREFLIGHT_CUDA_MIN_VERSION"},
      {"nvlinks_per_gpu", "PREFLIGHT_NVLINKS_PER_GPU"},
      {"persistence_mode", "PREFLIGHT_PERSISTENCE_MODE"},
      {"ecc_enabled", "PREFLIGHT_ECC_ENABLED"},
      {"roce_ports_per_node", "PREFLIGHT_NIC_PORTS"},
      {"port_rate_gbit_per_s", "PREFLIGHT_NIC_GBPS"},
      {"link_layer", "PREFLIGHT_LINK_LAYER"},
      {"gid_type", "PREFLIGHT_GID_TYPE"},
      {"mtu_bytes", "PREFLIGHT_MTU"},
      {"pfc_enabled", "PREFLIGHT_PFC"},
      {"ecn_enabled", "PREFLIGHT_ECN"},
      {"roce_priority", "PREFLIGHT_ROCE_PRIORITY"},
  };
  return s;
}

void apply_profile_settings(NodeProfile& p, const EnvConfig& env) {
  for (const auto& ps : profile_settings()) {
    const auto text = env.lookup(ps.setting);  // validated against the setting's kind and range
    if (!text) continue;
    const std::string key = ps.key;
    const std::string where = env.source(ps.setting);
    const auto as_int = [&] { return static_cast<int>(*env.get_int(ps.setting)); };
    const auto as_bool = [&] { return *env.get_bool(ps.setting); };
    if (key == "cuda_min_version") {
      const auto v = parse_cuda_version(*text);
      if (!v) {
        throw usage_error(fmt::format("{} ({}): expected MAJOR.MINOR such as 12.5, got '{}'",
                                      ps.setting, where, quoted_excerpt(*text)));
      }
      p.cuda_min_version = *text;
      p.cuda_min = *v;
    } else if (key == "port_rate_gbit_per_s") {
      p.port_rate_gbit_per_s = *env.get_number(ps.setting);
    } else {
      const std::map<std::string, int*> ints = {{"gpus_per_node", &p.gpus_per_node},
                                                {"nvlinks_per_gpu", &p.nvlinks_per_gpu},
                                                {"roce_ports_per_node", &p.roce_ports_per_node},
                                                {"mtu_bytes", &p.mtu_bytes},
                                                {"roce_priority", &p.roce_priority}};
      const std::map<std::string, bool*> bools = {{"persistence_mode", &p.persistence_mode},
                                                  {"ecc_enabled", &p.ecc_enabled},
                                                  {"pfc_enabled", &p.pfc_enabled},
                                                  {"ecn_enabled", &p.ecn_enabled}};
      const std::map<std::string, std::string*> texts = {{"gpu_model", &p.gpu_model},
                                                         {"link_layer", &p.link_layer},
                                                         {"gid_type", &p.gid_type}};
      if (const auto i = ints.find(key); i != ints.end()) {
        *i->second = as_int();
      } else if (const auto b = bools.find(key); b != bools.end()) {
        *b->second = as_bool();
      } else {
        *texts.at(key) = *text;
      }
    }
    p.overrides[key] = {ps.setting, where};
  }
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

Verdict verdict_from_name(const std::string& name) {
  for (Verdict v : {Verdict::pass, Verdict::warn, Verdict::fail, Verdict::unknown}) {
    if (name == verdict_name(v)) return v;
  }
  throw usage_error(fmt::format("preflight: unknown verdict '{}'", name));
}

NcclEnv nccl_env_from_process() {
  NcclEnv env;
  for (const char* k : {"NCCL_IB_HCA", "NCCL_IB_GID_INDEX", "NCCL_SOCKET_IFNAME", "NCCL_NET_PLUGIN"}) {
    if (const char* v = std::getenv(k)) env[k] = v;
  }
  return env;
}

namespace {

// A row's source that is a rule rather than a profile key: "rule:NVML" -> source "NVML".
const std::string kRule = "rule:";

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
    } else if (key.rfind(kRule, 0) == 0) {
      r.source = key.substr(kRule.size());
    } else if (const auto o = profile.overrides.find(key); o != profile.overrides.end()) {
      r.source = ".env " + o->second.setting;
      r.citation = fmt::format("{} set in {}, in place of {}:{}", o->second.setting,
                               o->second.where, profile.file, key);
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

// PFC on the RoCE priority, from DCB netlink (what `dcb pfc show dev IF` and mlnx_qos read): the
// profile says on or off; PFC on other priorities as well is no fault, and the note says so.
void pfc_row(Rows& r, const std::string& subj, const std::string& ifname, const DcbPfc* dcb) {
  const auto& p = r.profile;
  const int prio = p.roce_priority;
  const std::string expected = fmt::format("{} at priority {}", p.pfc_enabled ? "on" : "off", prio);
  if (dcb == nullptr || !dcb->pfc_enabled_mask) {
    r.add("net.pfc", subj, "cannot read", expected, "pfc_enabled", Verdict::unknown,
          dcb != nullptr ? dcb->why : "DCB netlink was not asked");
    return;
  }
  const uint8_t mask = *dcb->pfc_enabled_mask;
  const uint8_t bit = static_cast<uint8_t>(1u << prio);
  const bool on = (mask & bit) != 0;
  const uint8_t others = static_cast<uint8_t>(mask & ~bit);
  const bool ok = on == p.pfc_enabled;
  std::string note;
  if (ok && others != 0) {
    note = fmt::format("PFC is also on at priorities {} of {}, besides priority {}",
                       pfc_priority_list(others), ifname, prio);
  } else if (!ok && on) {
    note = fmt::format("PFC is on at priority {} of {}; the profile expects it off", prio, ifname);
  } else if (!ok) {
    std::string pfc_arg;
    for (int i = 0; i < 8; ++i) pfc_arg += fmt::format("{}{}", i ? "," : "", (bit >> i) & 1u);
    note = others != 0
               ? fmt::format("PFC is off at priority {} of {} and on at priorities {}: does RoCE "
                             "traffic use another priority than the profile's roce_priority?",
                             prio, ifname, pfc_priority_list(others))
               : fmt::format("PFC is off at priority {} of {} (and every other priority): "
                             "lossless RoCE needs it (mlnx_qos -i {} --pfc {})",
                             prio, ifname, ifname, pfc_arg);
  }
  r.add("net.pfc", subj,
        fmt::format("{} at priority {}, pfc_en {}", on ? "on" : "off", prio, pfc_mask_text(mask)),
        expected, "pfc_enabled", ok ? Verdict::pass : Verdict::fail, note);
}

void port_rows(Rows& r, const RdmaPortSysfs& port, const DcbPfc* dcb) {
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
  pfc_row(r, subj, nd.name, dcb);
}

void net_plugin_row(Rows& r, const NcclEnv& env);

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
  net_plugin_row(r, env);
}

// ---- GPUs (NVML) --------------------------------------------------------------------------------

const std::string kNvml = kRule + "NVML";
const std::string kNcclRule = "";  // NCCL's own rule

std::string gpu_subject(const GpuNvml& g) {
  return g.bus_id ? fmt::format("GPU{} {}", g.index, *g.bus_id) : fmt::format("GPU{}", g.index);
}

// The GPU checks, one row each, when NVML cannot be used: no verdict, and why.
// Application clocks (what the GPU runs work at; `nvidia-smi -ac` sets them) against the GPU's
// default application clocks, SM and memory: set below the defaults, they cap every kernel. The
// current clocks are not compared: an idle GPU runs below them, and slowdown is gpu.clocks's row.
void app_clock_row(Rows& r, const GpuNvml& g, const std::string& subj) {
  const std::string generic = ">= default application clocks";
  const std::pair<const Reading<unsigned int>*, const char*> reads[] = {
      {&g.app_clock_sm, "nvmlDeviceGetApplicationsClock(SM)"},
      {&g.app_clock_mem, "nvmlDeviceGetApplicationsClock(MEM)"},
      {&g.default_app_clock_sm, "nvmlDeviceGetDefaultApplicationsClock(SM)"},
      {&g.default_app_clock_mem, "nvmlDeviceGetDefaultApplicationsClock(MEM)"}};
  for (const auto& [reading, call] : reads) {
    if (!*reading) {
      r.add("gpu.app_clocks", subj, "not run", generic, kNvml, Verdict::unknown,
            fmt::format("not run: {}: {}", call, reading->why));
      return;
    }
  }
  const unsigned int sm = *g.app_clock_sm, mem = *g.app_clock_mem;
  const unsigned int dsm = *g.default_app_clock_sm, dmem = *g.default_app_clock_mem;
  std::string low;
  if (sm < dsm) low = fmt::format("SM {} of {} MHz", sm, dsm);
  if (mem < dmem) low += fmt::format("{}memory {} of {} MHz", low.empty() ? "" : ", ", mem, dmem);
  r.add("gpu.app_clocks", subj, fmt::format("SM {} MHz, memory {} MHz", sm, mem),
        fmt::format(">= defaults SM {} MHz, memory {} MHz", dsm, dmem), kNvml,
        low.empty() ? Verdict::pass : Verdict::warn,
        low.empty() ? ""
                    : fmt::format("application clocks set below the defaults: {} (`nvidia-smi "
                                  "-rac` restores them)",
                                  low));
}

void no_nvml_rows(Rows& r, const NodeGpus& gpus) {
  const auto& p = r.profile;
  const std::string why = fmt::format("not run: NVML unavailable ({})", gpus.why);
  auto add = [&](const char* id, std::string expected, const std::string& key) {
    r.add(id, "-", "not run", std::move(expected), key, Verdict::unknown, why);
  };
  add("gpu.count", fmt::format("{} GPUs", p.gpus_per_node), "gpus_per_node");
  add("gpu.model", p.gpu_model, "gpu_model");
  add("gpu.driver", "an NVIDIA driver", kNvml);
  add("gpu.cuda_driver", ">= CUDA " + p.cuda_min_version, "cuda_min_version");
  add("gpu.persistence", p.persistence_mode ? "on" : "off", "persistence_mode");
  add("gpu.ecc_mode", p.ecc_enabled ? "on" : "off", "ecc_enabled");
  add("gpu.ecc_errors", "0 uncorrectable", kNvml);
  add("gpu.remapped_rows", "no pending or failed remap", kNvml);
  add("gpu.nvlink", fmt::format(">= {} active links", p.nvlinks_per_gpu), "nvlinks_per_gpu");
  add("gpu.nvlink_speed", "every active link at the GPU's link speed", kNvml);
  add("gpu.pcie_gen", "the GPU's maximum", kNvml);
  add("gpu.pcie_width", "the GPU's maximum", kNvml);
  add("gpu.clocks", "no slowdown reason", kNvml);
  add("gpu.app_clocks", ">= default application clocks", kNvml);
  add("gpu.vbios", "the same on every host", kNvml);
  add("affinity.gpu_nic", "a NIC on the GPU's NUMA node", kNcclRule);
}

void cuda_runtime_row(Rows& r, int runtime) {
  const auto& p = r.profile;
  const std::string expected = ">= CUDA " + p.cuda_min_version;
  if (runtime <= 0) {
    r.add("gpu.cuda_runtime", "sxbench", "none", expected, "cuda_min_version", Verdict::unknown,
          "not run: this sxbench is built without CUDA, so it has no CUDA runtime to report");
    return;
  }
  const bool ok = runtime >= p.cuda_min;
  r.add("gpu.cuda_runtime", "sxbench", "CUDA " + cuda_version_name(runtime), expected,
        "cuda_min_version", ok ? Verdict::pass : Verdict::fail,
        ok ? ""
           : fmt::format("the CUDA runtime {} is older than {}", cuda_version_name(runtime),
                         p.cuda_min_version));
}

void node_gpu_rows(Rows& r, const NodeGpus& gpus) {
  const auto& p = r.profile;
  // Count.
  const int n = static_cast<int>(gpus.gpus.size());
  const bool count_ok = n == p.gpus_per_node;
  std::string count_note;
  if (!count_ok) count_note = fmt::format("{} GPUs, the profile says {}", n, p.gpus_per_node);
  if (!gpus.enumerate_note.empty()) {
    count_note += (count_note.empty() ? "" : "; ") + ("NVML could not open " + gpus.enumerate_note);
  }
  r.add("gpu.count", "node", std::to_string(n), fmt::format("{} GPUs", p.gpus_per_node),
        "gpus_per_node", count_ok ? Verdict::pass : Verdict::fail, count_note);
  // Driver.
  if (!gpus.driver_version) {
    r.add("gpu.driver", "node", "cannot read", "an NVIDIA driver", kNvml, Verdict::unknown,
          "nvmlSystemGetDriverVersion: " + gpus.driver_version.why);
  } else {
    r.add("gpu.driver", "node", *gpus.driver_version, "an NVIDIA driver", kNvml, Verdict::pass,
          "compare across hosts: every node of a job should run the same driver");
  }
  // CUDA version the driver supports.
  const std::string expected = ">= CUDA " + p.cuda_min_version;
  if (!gpus.cuda_driver_version) {
    r.add("gpu.cuda_driver", "node", "cannot read", expected, "cuda_min_version", Verdict::unknown,
          "nvmlSystemGetCudaDriverVersion: " + gpus.cuda_driver_version.why);
  } else {
    const int v = *gpus.cuda_driver_version;
    const bool ok = v >= p.cuda_min;
    r.add("gpu.cuda_driver", "node", "CUDA " + cuda_version_name(v), expected, "cuda_min_version",
          ok ? Verdict::pass : Verdict::fail,
          ok ? ""
             : fmt::format("the driver supports CUDA up to {}, older than {}", cuda_version_name(v),
                           p.cuda_min_version));
  }
}

void gpu_rows(Rows& r, const GpuNvml& g) {
  const auto& p = r.profile;
  const std::string subj = gpu_subject(g);
  auto cannot = [&](const char* id, std::string expected, const std::string& key, const char* call,
                    const std::string& why) {
    r.add(id, subj, "cannot read", std::move(expected), key, Verdict::unknown,
          fmt::format("{}: {}", call, why));
  };
  // Model.
  if (!g.name) {
    cannot("gpu.model", p.gpu_model, "gpu_model", "nvmlDeviceGetName", g.name.why);
  } else {
    std::string lower = *g.name, want = p.gpu_model;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool ok = lower.find(want) != std::string::npos;
    r.add("gpu.model", subj, *g.name, p.gpu_model, "gpu_model", ok ? Verdict::pass : Verdict::fail,
          ok ? "" : fmt::format("'{}' is not a {}", *g.name, p.gpu_model));
  }
  // Persistence mode.
  const char* want_pm = p.persistence_mode ? "on" : "off";
  if (!g.persistence) {
    cannot("gpu.persistence", want_pm, "persistence_mode", "nvmlDeviceGetPersistenceMode",
           g.persistence.why);
  } else {
    const bool ok = *g.persistence == p.persistence_mode;
    r.add("gpu.persistence", subj, *g.persistence ? "on" : "off", want_pm, "persistence_mode",
          ok ? Verdict::pass : Verdict::fail,
          ok ? ""
             : fmt::format("persistence mode is {} (nvidia-smi -pm {})",
                           *g.persistence ? "on" : "off", p.persistence_mode ? 1 : 0));
  }
  // ECC mode.
  const char* want_ecc = p.ecc_enabled ? "on" : "off";
  if (!g.ecc) {
    cannot("gpu.ecc_mode", want_ecc, "ecc_enabled", "nvmlDeviceGetEccMode", g.ecc.why);
  } else {
    const bool ok = g.ecc->current == p.ecc_enabled;
    const bool changes = g.ecc->pending != g.ecc->current;
    r.add("gpu.ecc_mode", subj,
          fmt::format("{} (pending {})", g.ecc->current ? "on" : "off",
                      g.ecc->pending ? "on" : "off"),
          want_ecc, "ecc_enabled",
          !ok       ? Verdict::fail
          : changes ? Verdict::warn
                    : Verdict::pass,
          !ok ? fmt::format("ECC is {}", g.ecc->current ? "on" : "off")
          : changes
              ? fmt::format("ECC turns {} at the next GPU reset", g.ecc->pending ? "on" : "off")
              : "");
  }
  // Uncorrectable ECC errors: since the driver loaded (volatile) and over the GPU's life.
  if (!g.ecc_uncorrected_volatile || !g.ecc_uncorrected_aggregate) {
    cannot("gpu.ecc_errors", "0 uncorrectable", kNvml, "nvmlDeviceGetTotalEccErrors",
           !g.ecc_uncorrected_volatile ? g.ecc_uncorrected_volatile.why
                                       : g.ecc_uncorrected_aggregate.why);
  } else {
    const uint64_t v = *g.ecc_uncorrected_volatile, a = *g.ecc_uncorrected_aggregate;
    r.add(
        "gpu.ecc_errors", subj, fmt::format("volatile {}, aggregate {}", v, a), "0 uncorrectable",
        kNvml,
        v > 0   ? Verdict::fail
        : a > 0 ? Verdict::warn
                : Verdict::pass,
        v > 0 ? fmt::format("{} uncorrectable ECC errors since the driver loaded", v)
        : a > 0
            ? fmt::format(
                  "{} uncorrectable ECC errors in the GPU's life, none since the driver loaded", a)
            : "");
  }
  // Row remapping (Ampere and later), else page retirement.
  const std::string want_remap = "no pending or failed remap";
  if (g.remapped_rows) {
    const auto& m = *g.remapped_rows;
    const std::string found =
        fmt::format("correctable {}, uncorrectable {}, pending {}, failure {}", m.correctable,
                    m.uncorrectable, m.pending ? "yes" : "no", m.failure ? "yes" : "no");
    std::string note;
    if (m.failure)
      note = "a row remap failed: the GPU has no spare row left for a failing one";
    else if (m.pending)
      note = "a row remap waits for a GPU reset; until then the failing row stays in use";
    r.add("gpu.remapped_rows", subj, found, want_remap, kNvml,
          m.failure || m.pending ? Verdict::fail : Verdict::pass, note);
  } else if (g.retired_pages) {
    const auto& rp = *g.retired_pages;
    const std::string found = fmt::format("retired pages: single-bit {}, double-bit {}, pending {}",
                                          rp.single_bit, rp.double_bit, rp.pending ? "yes" : "no");
    r.add("gpu.remapped_rows", subj, found, "no page pending retirement", kNvml,
          rp.pending          ? Verdict::fail
          : rp.double_bit > 0 ? Verdict::warn
                              : Verdict::pass,
          rp.pending          ? "a page waits for retirement at the next GPU reset"
          : rp.double_bit > 0 ? "pages were retired after double-bit errors"
                              : "no row remapping on this GPU (nvmlDeviceGetRemappedRows: " +
                                    g.remapped_rows.why + "); page retirement read instead");
  } else {
    r.add("gpu.remapped_rows", subj, "cannot read", want_remap, kNvml, Verdict::unknown,
          fmt::format("nvmlDeviceGetRemappedRows: {}; nvmlDeviceGetRetiredPages: {}",
                      g.remapped_rows.why, g.retired_pages.why));
  }
  // NVLink: active links against the profile, and every active one at the GPU's link speed.
  const std::string want_links = fmt::format(">= {} active links", p.nvlinks_per_gpu);
  if (!g.nvlinks_active) {
    const bool none_expected = p.nvlinks_per_gpu == 0;
    r.add("gpu.nvlink", subj, none_expected ? "no NVLink" : "cannot read", want_links,
          "nvlinks_per_gpu", none_expected ? Verdict::pass : Verdict::unknown,
          "nvmlDeviceGetNvLinkState: " + g.nvlinks_active.why);
  } else {
    const int n = static_cast<int>(g.nvlinks_active->size());
    const bool ok = n >= p.nvlinks_per_gpu;
    std::string down;
    if (!ok) {
      for (int l = 0; l < std::max(p.nvlinks_per_gpu, 1); ++l) {
        if (std::find(g.nvlinks_active->begin(), g.nvlinks_active->end(), l) ==
            g.nvlinks_active->end())
          down += (down.empty() ? "" : ",") + std::to_string(l);
      }
    }
    r.add(
        "gpu.nvlink", subj, fmt::format("{} active", n), want_links, "nvlinks_per_gpu",
        ok ? Verdict::pass : Verdict::fail,
        ok ? "" : fmt::format("{} of {} links active; not active: {}", n, p.nvlinks_per_gpu, down));
  }
  const std::string want_speed = "every active link at the GPU's link speed";
  if (!g.nvlinks_active || g.nvlinks_active->empty()) {
    r.add("gpu.nvlink_speed", subj, "no active link", want_speed, kNvml,
          p.nvlinks_per_gpu == 0 ? Verdict::pass : Verdict::unknown, "no active NVLink to measure");
  } else if (!g.nvlink_speeds) {
    cannot("gpu.nvlink_speed", want_speed, kNvml, "nvmlDeviceGetFieldValues(NVLINK_GET_SPEED)",
           g.nvlink_speeds.why);
  } else {
    unsigned int top = 0;
    for (const auto& l : *g.nvlink_speeds) top = std::max(top, l.mbyte_per_s);
    std::string slow;
    for (const auto& l : *g.nvlink_speeds) {
      if (l.mbyte_per_s < top)
        slow +=
            fmt::format("{}link {} at {} MB/s", slow.empty() ? "" : ", ", l.link, l.mbyte_per_s);
    }
    r.add("gpu.nvlink_speed", subj,
          fmt::format("{} links, fastest {} MB/s", g.nvlink_speeds->size(), top), want_speed, kNvml,
          slow.empty() && top > 0 ? Verdict::pass : Verdict::fail,
          top == 0       ? "every active link reports 0 MB/s"
          : slow.empty() ? ""
                         : slow + fmt::format(" (others {} MB/s)", top));
  }
  // PCIe generation and width against the GPU's maximum.
  if (!g.pcie_gen || !g.pcie_gen_max) {
    cannot("gpu.pcie_gen", "the GPU's maximum", kNvml, "nvmlDeviceGetCurr/MaxPcieLinkGeneration",
           !g.pcie_gen ? g.pcie_gen.why : g.pcie_gen_max.why);
  } else {
    const bool ok = *g.pcie_gen >= *g.pcie_gen_max;
    // An idle GPU lowers its link generation to save power; it comes back under load.
    r.add("gpu.pcie_gen", subj, fmt::format("Gen{}", *g.pcie_gen),
          fmt::format("Gen{} (the GPU's maximum)", *g.pcie_gen_max), kNvml,
          ok ? Verdict::pass : Verdict::warn,
          ok ? ""
             : fmt::format("Gen{} below Gen{}: an idle GPU lowers its link generation; check again "
                           "under load",
                           *g.pcie_gen, *g.pcie_gen_max));
  }
  if (!g.pcie_width || !g.pcie_width_max) {
    cannot("gpu.pcie_width", "the GPU's maximum", kNvml, "nvmlDeviceGetCurr/MaxPcieLinkWidth",
           !g.pcie_width ? g.pcie_width.why : g.pcie_width_max.why);
  } else {
    const bool ok = *g.pcie_width >= *g.pcie_width_max;
    r.add(
        "gpu.pcie_width", subj, fmt::format("x{}", *g.pcie_width),
        fmt::format("x{} (the GPU's maximum)", *g.pcie_width_max), kNvml,
        ok ? Verdict::pass : Verdict::fail,
        ok ? "" : fmt::format("the link trained at x{} of x{}", *g.pcie_width, *g.pcie_width_max));
  }
  // Clock event reasons: hardware slowdown, thermal and power brake hold clocks down.
  if (!g.clock_reasons) {
    cannot("gpu.clocks", "no slowdown reason", kNvml, "nvmlDeviceGetCurrentClocksEventReasons",
           g.clock_reasons.why);
  } else {
    const uint64_t m = *g.clock_reasons;
    constexpr uint64_t kHolding =
        0x8 | 0x20 | 0x40 | 0x80;  // hw_slowdown, sw/hw thermal, power brake
    constexpr uint64_t kPowerCap = 0x4;
    const std::string text = m == 0 ? "none" : throttle_reasons_text(m);
    r.add("gpu.clocks", subj, text, "no slowdown reason", kNvml,
          (m & kHolding)    ? Verdict::fail
          : (m & kPowerCap) ? Verdict::warn
                            : Verdict::pass,
          (m & kHolding) ? "clocks held down by " + throttle_reasons_text(m & kHolding)
          : (m & kPowerCap)
              ? "clocks held at the power limit (sw_power_cap): is something running on this GPU?"
              : "");
  }
  app_clock_row(r, g, subj);
  // The VBIOS version: no expectation of its own; host_differences lists hosts that differ.
  if (!g.vbios) {
    cannot("gpu.vbios", "the same on every host", kNvml, "nvmlDeviceGetVbiosVersion",
           g.vbios.why);
  } else {
    r.add("gpu.vbios", subj, *g.vbios, "the same on every host", kNvml, Verdict::pass,
          "recorded to compare hosts");
  }
}

// ---- GPU-NIC affinity, GPUDirect RDMA
// -------------------------------------------------------------

std::string location_text(const PciLocation& l) {
  std::string path;
  for (size_t i = 1; i < l.path.size(); ++i) path += (path.empty() ? "" : "/") + l.path[i];
  return fmt::format("NUMA {} {}", l.numa_node ? std::to_string(*l.numa_node) : "?", path);
}

// An RDMA device's place on the PCIe tree, and its firmware version (no expectation of its own:
// host_differences lists hosts whose firmware differs).
void nic_rows(Rows& r, const RdmaDeviceSysfs& nic) {
  const bool ok = !nic.pci.path.empty() && nic.pci.numa_node.has_value();
  r.add("affinity.nic", nic.name, ok ? location_text(nic.pci) : "cannot read",
        "a NUMA node and PCI path", kRule + "sysfs", ok ? Verdict::pass : Verdict::unknown,
        nic.pci.why);
  const bool fw = nic.fw_ver.has_value() && !nic.fw_ver->empty();
  r.add("rdma.firmware", nic.name, fw ? *nic.fw_ver : "cannot read", "the same on every host",
        kRule + "sysfs", fw ? Verdict::pass : Verdict::unknown,
        fw ? "recorded to compare hosts"
           : fmt::format("no /sys/class/infiniband/{}/fw_ver to read", nic.name));
}

void affinity_rows(Rows& r, const PreflightInputs& in) {
  for (const auto& nic : in.node.rdma_pci) nic_rows(r, nic);
  for (size_t i = 0; i < in.gpus.gpus.size(); ++i) {
    const auto& g = in.gpus.gpus[i];
    const std::string subj = gpu_subject(g);
    const std::string expected = "a NIC on the GPU's NUMA node";
    if (!g.bus_id) {
      r.add("affinity.gpu_nic", subj, "cannot read", expected, kNcclRule, Verdict::unknown,
            "nvmlDeviceGetPciInfo: " + g.bus_id.why);
      continue;
    }
    const PciLocation& loc = i < in.gpu_pci.size() ? in.gpu_pci[i] : PciLocation{};
    if (loc.path.empty() || !loc.numa_node) {
      r.add("affinity.gpu_nic", subj, "cannot read", expected, kNcclRule, Verdict::unknown,
            loc.why);
      continue;
    }
    std::string nics;
    bool near = false;
    for (const auto& nic : in.node.rdma_pci) {
      std::string common;
      const PciRelation rel = pci_relation(loc, nic.pci, &common);
      near = near || rel == PciRelation::same_switch || rel == PciRelation::same_host_bridge ||
             rel == PciRelation::same_numa;
      nics += fmt::format("; {}: {}{}", nic.name, pci_relation_name(rel),
                          rel == PciRelation::same_switch ? " " + common : "");
    }
    const std::string found = fmt::format("NUMA {}{}", *loc.numa_node, nics);
    r.add("affinity.gpu_nic", subj, found, expected, kNcclRule,
          near ? Verdict::pass : Verdict::warn,
          near ? ""
          : in.node.rdma_pci.empty()
              ? "no RDMA device on this host"
              : fmt::format("no NIC on NUMA node {}: this GPU's traffic crosses the CPU "
                            "interconnect, and NCCL "
                            "turns GPUDirect RDMA off for such a pair by default",
                            *loc.numa_node));
  }
}

// "6.8.0-45-generic" -> {6, 8}
std::optional<std::pair<int, int>> kernel_version(const std::string& release) {
  int major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) != 2) return std::nullopt;
  return std::make_pair(major, minor);
}

void gpudirect_row(Rows& r, const GpuDirectSysfs& gd) {
  const std::string expected = "nvidia_peermem loaded, or dma-buf";
  if (gd.nvidia_peermem || gd.nv_peer_mem) {
    const char* m = gd.nvidia_peermem ? "nvidia_peermem" : "nv_peer_mem";
    r.add("gpu.gpudirect_rdma", "node", fmt::format("{} loaded", m), expected, kNcclRule,
          Verdict::pass, fmt::format("/sys/module/{} exists", m));
    return;
  }
  if (!gd.nvidia_version) {
    r.add("gpu.gpudirect_rdma", "node", "cannot read", expected, kNcclRule, Verdict::unknown,
          "no /sys/module/nvidia_peermem and no /proc/driver/nvidia/version: no NVIDIA kernel "
          "module to read");
    return;
  }
  const bool open = gd.nvidia_version->find("Open Kernel Module") != std::string::npos;
  if (!open) {
    r.add("gpu.gpudirect_rdma", "node", "nvidia_peermem not loaded; proprietary kernel module",
          expected, kNcclRule, Verdict::fail,
          "no /sys/module/nvidia_peermem, and dma-buf for GPUDirect RDMA needs the open NVIDIA "
          "kernel "
          "module (/proc/driver/nvidia/version: " +
              *gd.nvidia_version + "): modprobe nvidia_peermem");
    return;
  }
  const auto kv = gd.kernel_release ? kernel_version(*gd.kernel_release) : std::nullopt;
  if (!kv) {
    r.add(
        "gpu.gpudirect_rdma", "node", "nvidia_peermem not loaded; open kernel module", expected,
        kNcclRule, Verdict::unknown,
        gd.kernel_release
            ? "kernel release '" + *gd.kernel_release + "' not understood"
            : "cannot read /proc/sys/kernel/osrelease (dma-buf import needs kernel 5.12 or later)");
    return;
  }
  const bool ok = *kv >= std::make_pair(5, 12);
  r.add("gpu.gpudirect_rdma", "node",
        fmt::format("dma-buf: open kernel module, kernel {}", *gd.kernel_release), expected,
        kNcclRule, ok ? Verdict::pass : Verdict::fail,
        ok ? "no /sys/module/nvidia_peermem; the open NVIDIA kernel module exports dma-buf and "
             "kernel 5.12+ "
             "imports it (whether the NIC driver does is not shown in sysfs)"
           : fmt::format("kernel {} is older than 5.12, which dma-buf import for RDMA needs, and "
                         "nvidia_peermem is not loaded",
                         *gd.kernel_release));
}

// ---- NCCL_NET_PLUGIN
// --------------------------------------------------------------------------------

void net_plugin_row(Rows& r, const NcclEnv& env) {
  const std::string v = or_unset(env, "NCCL_NET_PLUGIN");
  const std::string expected = "a loadable NCCL net plugin";
  if (v.empty()) {
    r.add("nccl.net_plugin", "NCCL_NET_PLUGIN", "unset", expected, kNcclRule, Verdict::pass,
          "unset: NCCL loads libnccl-net.so when it finds one, else uses its own IB and socket "
          "transports");
    return;
  }
  if (v == "none") {
    r.add("nccl.net_plugin", "NCCL_NET_PLUGIN", v, expected, kNcclRule, Verdict::pass,
          "none: NCCL uses its own IB and socket transports");
    return;
  }
  // NCCL loads libnccl-net-<name>.so, or the library named when the value is one.
  const bool is_library = v.find(".so") != std::string::npos || v.find('/') != std::string::npos;
  const std::string lib = is_library ? v : "libnccl-net-" + v + ".so";
  std::vector<std::string> symbols;
  for (int ver = 10; ver >= 5; --ver) symbols.push_back(fmt::format("ncclNetPlugin_v{}", ver));
  const LibraryProbe probe = probe_library(lib, symbols);
  if (!probe.loaded) {
    r.add("nccl.net_plugin", "NCCL_NET_PLUGIN", v, expected, kNcclRule, Verdict::fail,
          fmt::format("cannot load {}: {}", lib, probe.error));
  } else if (probe.exported.empty()) {
    r.add("nccl.net_plugin", "NCCL_NET_PLUGIN", v, expected, kNcclRule, Verdict::fail,
          fmt::format("{} loads but exports no ncclNetPlugin_v5 to _v10: NCCL cannot use it", lib));
  } else {
    std::string syms;
    for (const auto& s : probe.exported) syms += (syms.empty() ? "" : ", ") + s;
    r.add("nccl.net_plugin", "NCCL_NET_PLUGIN", v, expected, kNcclRule, Verdict::pass,
          fmt::format("{} loads and exports {}", lib, syms));
  }
}

void network_rows(Rows& r, const NodeSysfs& node, const NcclEnv& env,
                  const std::vector<DcbPfc>& dcb) {
  const NodeProfile& profile = r.profile;
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
    for (size_t i = 0; i < node.ports.size(); ++i) {
      port_rows(r, node.ports[i], i < dcb.size() ? &dcb[i] : nullptr);
    }
  }
  nccl_rows(r, node, env);
}

}  // namespace

std::vector<CheckRow> preflight_checks(const NodeSysfs& node, const NodeProfile& profile,
                                       const NcclEnv& env, const std::vector<DcbPfc>& dcb) {
  Rows r{profile, {}};
  network_rows(r, node, env, dcb);
  return r.rows;
}

// RoCE's path MTU (an IB MTU, 256 to 4096 bytes, that fits in the interface's frames): 4096 on a
// jumbo-frame profile (an interface MTU of 4200 or more holds a 4096-byte payload with the RoCE
// headers), else 1024, what a 1500-byte interface allows.
void active_mtu_rows(Rows& r, const PreflightInputs& in) {
  const int want = r.profile.mtu_bytes >= 4200 ? 4096 : 1024;
  const std::string expected =
      fmt::format(">= {} bytes (interface MTU {})", want, r.profile.mtu_bytes);
  for (size_t i = 0; i < in.node.ports.size(); ++i) {
    const std::string subj = port_subject(in.node.ports[i]);
    const VerbsPortMtu* v = i < in.verbs.ports.size() ? &in.verbs.ports[i] : nullptr;
    if (v == nullptr || !v->active_mtu_bytes) {
      r.add("rdma.active_mtu", subj, "not run", expected, "mtu_bytes", Verdict::unknown,
            v ? v->why : "libibverbs was not asked");
      continue;
    }
    const int mtu = *v->active_mtu_bytes;
    r.add("rdma.active_mtu", subj, fmt::format("{} bytes", mtu), expected, "mtu_bytes",
          mtu >= want ? Verdict::pass : Verdict::warn,
          mtu >= want ? ""
                      : fmt::format("RoCE packets carry at most {} bytes, below the {} the "
                                    "interface MTU allows (ibv_query_port active_mtu)",
                                    mtu, want));
  }
}

std::vector<CheckRow> preflight_checks(const PreflightInputs& in, const NodeProfile& profile) {
  Rows r{profile, {}};
  if (!in.gpus.nvml) {
    no_nvml_rows(r, in.gpus);
    for (const auto& nic : in.node.rdma_pci) nic_rows(r, nic);
  } else {
    node_gpu_rows(r, in.gpus);
    for (const auto& g : in.gpus.gpus) gpu_rows(r, g);
    affinity_rows(r, in);
  }
  cuda_runtime_row(r, in.cuda_runtime);
  gpudirect_row(r, in.node.gpudirect);
  network_rows(r, in.node, in.env, in.dcb);
  active_mtu_rows(r, in);
  return r.rows;
}

// The stand-in's answer when a script is given, the kernel's (DCB netlink) for this host's own
// tree, else none: a fixture tree's interfaces are not this host's.
std::vector<DcbPfc> read_ports_pfc(const std::filesystem::path& root, const NodeSysfs& node,
                                   const std::optional<std::string>& script) {
  std::error_code ec;
  const bool this_host = std::filesystem::equivalent(root, "/", ec);
  const std::optional<DcbScript> stand_in =
      script ? std::optional<DcbScript>(DcbScript(kFakeDcbKnob, *script)) : std::nullopt;
  std::map<std::string, DcbPfc> read;  // by interface: two ports may share one
  std::vector<DcbPfc> out;
  for (const auto& port : node.ports) {
    DcbPfc d;
    if (!port.netdev || !is_ethernet(port)) {
      d.why = "no RoCE interface";
      out.push_back(d);
      continue;
    }
    const std::string& name = port.netdev->name;
    if (const auto it = read.find(name); it != read.end()) {
      out.push_back(it->second);
      continue;
    }
    if (stand_in) {
      d = stand_in->read(name);
    } else if (this_host) {
      d = read_dcb_pfc(name);
    } else {
      d.ifname = name;
      d.why = fmt::format("the --root tree has no DCB state: PFC is read through netlink for "
                          "--root / only ({} scripts it for tests)",
                          kFakeDcbKnob);
    }
    read[name] = d;
    out.push_back(d);
  }
  return out;
}

PreflightInputs read_preflight_inputs(const std::filesystem::path& root, const NodeProfile& profile,
                                      const std::string& nvml_library, const NcclEnv& env,
                                      const std::string& verbs_library,
                                      const std::optional<std::string>& dcb_script) {
  PreflightInputs in;
  in.node = read_node_sysfs(root, profile.roce_priority);
  if (!in.node.ports.empty()) {
    std::vector<std::pair<std::string, int>> ports;
    for (const auto& p : in.node.ports) ports.emplace_back(p.device, p.port);
    in.verbs = read_verbs_ports(verbs_library, ports);
  }
  in.dcb = read_ports_pfc(root, in.node, dcb_script);
  in.gpus = read_node_gpus(nvml_library);
  for (const auto& g : in.gpus.gpus) {
    in.gpu_pci.push_back(g.bus_id ? read_pci_location(root, *g.bus_id) : PciLocation{});
  }
  in.env = env;
  in.cuda_runtime = cuda_runtime_version_number();
  return in;
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
