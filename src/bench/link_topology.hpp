#pragma once
// GPU interconnect topology for `sxbench compute`: which GPU pairs talk over NVLink, over PCIe,
// or not directly at all. NVLink state comes from NVML, loaded at run time (dlopen), so the
// binary neither links nor requires it; the classification itself is plain logic.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/compute_results.hpp"

namespace sxb {

struct PciAddress {
  uint32_t domain = 0, bus = 0, device = 0, function = 0;
  bool operator==(const PciAddress&) const = default;
};
// "0000:19:00.0" (CUDA) or "00000000:19:00.0" (NVML), hex, case-insensitive; nullopt otherwise.
std::optional<PciAddress> parse_pci_address(const std::string& text);

// What NVML says about one GPU's NVLinks.
struct NvlinkState {
  GpuLinkInfo info;
  std::vector<PciAddress> gpu_peers;  // remote end of each active link that is a GPU
};

// Queries NVML for each GPU (by PCI bus id, in CUDA order). On success returns "ok" and one
// entry per GPU; otherwise returns why NVML gave nothing and leaves `out` with empty figures.
std::string probe_nvlinks(const std::vector<std::string>& pci_bus_ids,
                          std::vector<NvlinkState>& out);

struct PeerFacts {
  bool access = false;
  int performance_rank = 0;
  bool native_atomics = false;
};

// nvlink when NVML shows a link from a to b, or both GPUs with active links to NVSwitches and
// peer access; pcie when peer access exists otherwise; none without peer access. Without NVML
// (nvml_ok false) native peer atomics, which CUDA offers only over NVLink, stand in, and the
// evidence says it is inferred.
GpuPairLink classify_gpu_pair(int a, int b, const PeerFacts& facts, bool nvml_ok,
                              const NvlinkState& state_a, const NvlinkState& state_b,
                              const PciAddress& address_b);

}  // namespace sxb
