#include "bench/link_topology.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>

namespace sxb {

namespace {

// The few NVML types used here, as declared by nvml.h (ABI-stable since NVML 10).
using NvmlReturn = int;  // 0 = NVML_SUCCESS
using NvmlDevice = void*;
struct NvmlPciInfo {
  char bus_id_legacy[16];
  unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
};
constexpr unsigned kNvmlMaxLinks = 18;   // NVML_NVLINK_MAX_LINKS
constexpr int kNvmlRemoteGpu = 0x00;     // NVML_NVLINK_DEVICE_TYPE_GPU
constexpr int kNvmlRemoteSwitch = 0x02;  // NVML_NVLINK_DEVICE_TYPE_SWITCH

struct Nvml {
  void* lib = nullptr;
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*by_bus_id)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*link_state)(NvmlDevice, unsigned, int*) = nullptr;
  NvmlReturn (*remote_pci)(NvmlDevice, unsigned, NvmlPciInfo*) = nullptr;
  NvmlReturn (*remote_type)(NvmlDevice, unsigned, int*) = nullptr;
  NvmlReturn (*pcie_gen)(NvmlDevice, unsigned*) = nullptr;
  NvmlReturn (*pcie_width)(NvmlDevice, unsigned*) = nullptr;
  NvmlReturn (*pcie_max_gen)(NvmlDevice, unsigned*) = nullptr;
  NvmlReturn (*pcie_max_width)(NvmlDevice, unsigned*) = nullptr;

  ~Nvml() {
    if (shutdown) shutdown();
    if (lib) dlclose(lib);
  }
};

template <typename F>
bool bind(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  return fn != nullptr;
}

std::optional<int> read_unsigned(NvmlReturn (*fn)(NvmlDevice, unsigned*), NvmlDevice d) {
  unsigned v = 0;
  if (!fn || fn(d, &v) != 0) return std::nullopt;
  return static_cast<int>(v);
}

}  // namespace

std::optional<PciAddress> parse_pci_address(const std::string& text) {
  unsigned domain = 0, bus = 0, device = 0, function = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%x:%x:%x.%x%n", &domain, &bus, &device, &function, &consumed) !=
          4 ||
      static_cast<size_t>(consumed) != text.size()) {
    return std::nullopt;
  }
  return PciAddress{domain, bus, device, function};
}

std::string probe_nvlinks(const std::vector<std::string>& pci_bus_ids,
                          std::vector<NvlinkState>& out) {
  out.clear();
  for (size_t i = 0; i < pci_bus_ids.size(); ++i) {
    NvlinkState s;
    s.info.device = static_cast<int>(i);
    out.push_back(s);
  }
  Nvml nvml;
  nvml.lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!nvml.lib) return "libnvidia-ml.so.1 could not be loaded";
  if (!bind(nvml.lib, "nvmlInit_v2", nvml.init) ||
      !bind(nvml.lib, "nvmlDeviceGetHandleByPciBusId_v2", nvml.by_bus_id) ||
      !bind(nvml.lib, "nvmlDeviceGetNvLinkState", nvml.link_state)) {
    return "libnvidia-ml.so.1 lacks nvmlInit_v2 / nvmlDeviceGetHandleByPciBusId_v2 / "
           "nvmlDeviceGetNvLinkState";
  }
  bind(nvml.lib, "nvmlDeviceGetNvLinkRemotePciInfo_v2", nvml.remote_pci);
  bind(nvml.lib, "nvmlDeviceGetNvLinkRemoteDeviceType", nvml.remote_type);
  bind(nvml.lib, "nvmlDeviceGetCurrPcieLinkGeneration", nvml.pcie_gen);
  bind(nvml.lib, "nvmlDeviceGetCurrPcieLinkWidth", nvml.pcie_width);
  bind(nvml.lib, "nvmlDeviceGetMaxPcieLinkGeneration", nvml.pcie_max_gen);
  bind(nvml.lib, "nvmlDeviceGetMaxPcieLinkWidth", nvml.pcie_max_width);
  if (const NvmlReturn r = nvml.init(); r != 0) return "nvmlInit_v2 returned " + std::to_string(r);
  bind(nvml.lib, "nvmlShutdown", nvml.shutdown);

  for (size_t i = 0; i < pci_bus_ids.size(); ++i) {
    NvmlDevice dev = nullptr;
    if (const NvmlReturn r = nvml.by_bus_id(pci_bus_ids[i].c_str(), &dev); r != 0) {
      return "NVML does not know GPU " + std::to_string(i) + " (" + pci_bus_ids[i] + "): error " +
             std::to_string(r);
    }
    NvlinkState& s = out[i];
    int active = 0, to_switch = 0;
    for (unsigned link = 0; link < kNvmlMaxLinks; ++link) {
      int state = 0;
      if (nvml.link_state(dev, link, &state) != 0 || state == 0) continue;
      ++active;
      int type = -1;
      if (nvml.remote_type && nvml.remote_type(dev, link, &type) == 0 &&
          type == kNvmlRemoteSwitch) {
        ++to_switch;
        continue;
      }
      NvmlPciInfo pci{};
      if (nvml.remote_pci && nvml.remote_pci(dev, link, &pci) == 0 &&
          (type == kNvmlRemoteGpu || type == -1)) {
        s.gpu_peers.push_back({pci.domain, pci.bus, pci.device, 0});
      }
    }
    s.info.nvlink_active_links = active;
    s.info.nvlink_links_to_switch = to_switch;
    s.info.pcie_link_generation = read_unsigned(nvml.pcie_gen, dev);
    s.info.pcie_link_width = read_unsigned(nvml.pcie_width, dev);
    s.info.pcie_max_link_generation = read_unsigned(nvml.pcie_max_gen, dev);
    s.info.pcie_max_link_width = read_unsigned(nvml.pcie_max_width, dev);
  }
  return "ok";
}

GpuPairLink classify_gpu_pair(int a, int b, const PeerFacts& facts, bool nvml_ok,
                              const NvlinkState& state_a, const NvlinkState& state_b,
                              const PciAddress& address_b) {
  GpuPairLink p;
  p.a = a;
  p.b = b;
  p.p2p_access = facts.access;
  p.performance_rank = facts.performance_rank;
  p.native_atomics = facts.native_atomics;
  if (nvml_ok) {
    const auto direct =
        std::count_if(state_a.gpu_peers.begin(), state_a.gpu_peers.end(), [&](const PciAddress& x) {
          return x.domain == address_b.domain && x.bus == address_b.bus &&
                 x.device == address_b.device;
        });
    const int sw_a = state_a.info.nvlink_links_to_switch.value_or(0);
    const int sw_b = state_b.info.nvlink_links_to_switch.value_or(0);
    if (direct > 0) {
      p.link = "nvlink";
      p.evidence = "NVML: " + std::to_string(direct) + " active NVLink(s) from GPU " +
                   std::to_string(a) + " end at GPU " + std::to_string(b);
    } else if (sw_a > 0 && sw_b > 0 && facts.access) {
      p.link = "nvlink";
      p.evidence = "NVML: both GPUs have active NVLinks to NVSwitches (" + std::to_string(sw_a) +
                   " and " + std::to_string(sw_b) + ") and peer access is on";
    } else if (facts.access) {
      p.link = "pcie";
      p.evidence = "NVML: no NVLink joins them; CUDA peer access over PCIe";
    } else {
      p.link = "none";
      p.evidence = "no CUDA peer access: copies are staged through host memory";
    }
    return p;
  }
  if (!facts.access) {
    p.link = "none";
    p.evidence = "no CUDA peer access: copies are staged through host memory";
  } else if (facts.native_atomics) {
    p.link = "nvlink";
    p.evidence =
        "inferred (NVML unavailable): native peer atomics, which CUDA offers only over NVLink";
  } else {
    p.link = "pcie";
    p.evidence = "inferred (NVML unavailable): peer access without native peer atomics";
  }
  return p;
}

}  // namespace sxb
