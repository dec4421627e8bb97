#include "bench/link_topology.hpp"

#include <algorithm>
#include <cstdio>

#include "platform/nvml_api.hpp"

namespace sxb {

namespace {

std::optional<int> read_unsigned(nvml::Return (*fn)(nvml::Device, unsigned int*), nvml::Device d) {
  unsigned int v = 0;
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
  std::string why;
  const nvml::ApiHandle api = nvml::load(nvml::kDefaultLibrary, why);
  if (!api) return why;
  const nvml::Api& nvml = *api;
  if (nvml.device_get_handle_by_pci_bus_id == nullptr || nvml.device_get_nvlink_state == nullptr) {
    return std::string(nvml::kDefaultLibrary) +
           " lacks nvmlDeviceGetHandleByPciBusId_v2 / nvmlDeviceGetNvLinkState";
  }

  for (size_t i = 0; i < pci_bus_ids.size(); ++i) {
    nvml::Device dev = nullptr;
    if (const nvml::Return r = nvml.device_get_handle_by_pci_bus_id(pci_bus_ids[i].c_str(), &dev);
        r != nvml::kSuccess) {
      return "NVML does not know GPU " + std::to_string(i) + " (" + pci_bus_ids[i] + "): error " +
             std::to_string(r);
    }
    NvlinkState& s = out[i];
    int active = 0, to_switch = 0;
    for (unsigned int link = 0; link < nvml::kNvlinkMaxLinks; ++link) {
      int state = 0;
      if (nvml.device_get_nvlink_state(dev, link, &state) != nvml::kSuccess || state == 0) continue;
      ++active;
      int type = -1;
      if (nvml.device_get_nvlink_remote_device_type &&
          nvml.device_get_nvlink_remote_device_type(dev, link, &type) == nvml::kSuccess &&
          type == nvml::kNvlinkRemoteSwitch) {
        ++to_switch;
        continue;
      }
      nvml::PciInfo pci{};
      if (nvml.device_get_nvlink_remote_pci_info &&
          nvml.device_get_nvlink_remote_pci_info(dev, link, &pci) == nvml::kSuccess &&
          (type == nvml::kNvlinkRemoteGpu || type == -1)) {
        s.gpu_peers.push_back({pci.domain, pci.bus, pci.device, 0});
      }
    }
    s.info.nvlink_active_links = active;
    s.info.nvlink_links_to_switch = to_switch;
    s.info.pcie_link_generation = read_unsigned(nvml.device_get_curr_pcie_link_generation, dev);
    s.info.pcie_link_width = read_unsigned(nvml.device_get_curr_pcie_link_width, dev);
    s.info.pcie_max_link_generation = read_unsigned(nvml.device_get_max_pcie_link_generation, dev);
    s.info.pcie_max_link_width = read_unsigned(nvml.device_get_max_pcie_link_width, dev);
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
