#include "platform/rdma_verbs.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <map>

namespace sxb {

namespace {

// The few libibverbs entry points used, by their exported names (rdma-core's
// infiniband/verbs.h). Devices and contexts stay opaque. The exported ibv_query_port fills the
// long-standing prefix of struct ibv_port_attr (state, max_mtu, active_mtu, ... as enums, 4 bytes
// each); newer fields follow it, so the buffer handed over is larger than any version's struct.
struct PortAttrPrefix {
  uint32_t state;
  uint32_t max_mtu;
  uint32_t active_mtu;
};
union PortAttrBuffer {
  PortAttrPrefix prefix;
  unsigned char bytes[512];
};
using GetDeviceList = void** (*)(int*);
using FreeDeviceList = void (*)(void**);
using GetDeviceName = const char* (*)(void*);
using OpenDevice = void* (*)(void*);
using CloseDevice = int (*)(void*);
using QueryPort = int (*)(void*, uint8_t, void*);

}  // namespace

std::optional<int> ibv_mtu_bytes(int value) {
  if (value < 1 || value > 5) return std::nullopt;
  return 256 << (value - 1);
}

NodeVerbs read_verbs_ports(const std::string& library,
                           const std::vector<std::pair<std::string, int>>& ports) {
  NodeVerbs out;
  out.library = library;
  const auto fail_all = [&](const std::string& why) {
    out.why = why;
    for (const auto& [dev, port] : ports) out.ports.push_back({dev, port, std::nullopt, why});
    return out;
  };
  void* h = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    return fail_all(fmt::format("{} could not be loaded ({})", library, e ? e : "no reason"));
  }
  const auto sym = [&](const char* name) { return dlsym(h, name); };
  const auto get_list = reinterpret_cast<GetDeviceList>(sym("ibv_get_device_list"));
  const auto free_list = reinterpret_cast<FreeDeviceList>(sym("ibv_free_device_list"));
  const auto get_name = reinterpret_cast<GetDeviceName>(sym("ibv_get_device_name"));
  const auto open_dev = reinterpret_cast<OpenDevice>(sym("ibv_open_device"));
  const auto close_dev = reinterpret_cast<CloseDevice>(sym("ibv_close_device"));
  const auto query_port = reinterpret_cast<QueryPort>(sym("ibv_query_port"));
  if (!get_list || !free_list || !get_name || !open_dev || !close_dev || !query_port) {
    dlclose(h);
    return fail_all(fmt::format("{} lacks one of the ibv_* functions the check calls", library));
  }
  out.loaded = true;
  int n = 0;
  void** list = get_list(&n);
  std::map<std::string, void*> devices;
  for (int i = 0; list != nullptr && i < n; ++i) {
    if (const char* name = get_name(list[i])) devices[name] = list[i];
  }
  std::map<std::string, void*> contexts;
  for (const auto& [dev, port] : ports) {
    VerbsPortMtu p{dev, port, std::nullopt, ""};
    const auto d = devices.find(dev);
    if (d == devices.end()) {
      p.why = fmt::format("{} lists no device {}", library, dev);
    } else {
      auto& ctx = contexts[dev];
      if (ctx == nullptr) ctx = open_dev(d->second);
      PortAttrBuffer attr;
      std::memset(&attr, 0, sizeof attr);
      int rc = 0;
      if (ctx == nullptr) {
        p.why = fmt::format("ibv_open_device({}) failed", dev);
      } else if (port < 1 || port > 255) {
        p.why = fmt::format("port {} is out of libibverbs' range", port);
      } else if ((rc = query_port(ctx, static_cast<uint8_t>(port), &attr)) != 0) {
        p.why = fmt::format("ibv_query_port({}, {}) failed: {}", dev, port, std::strerror(rc));
      } else if (!(p.active_mtu_bytes = ibv_mtu_bytes(int(attr.prefix.active_mtu)))) {
        p.why = fmt::format("active_mtu {} is not an ibv_mtu value", attr.prefix.active_mtu);
      }
    }
    out.ports.push_back(p);
  }
  for (auto& [dev, ctx] : contexts) {
    if (ctx != nullptr) close_dev(ctx);
  }
  if (list != nullptr) free_list(list);
  dlclose(h);
  return out;
}

}  // namespace sxb
