#pragma once
// Per-GPU readings through NVML. Holds the per-device state that a reading over an interval
// needs: the previous GPM sample, the previous PCIe byte counters, and the XID event set.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "monitor/samples.hpp"
#include "platform/nvml_api.hpp"

namespace sxb {

class NvmlSampler {
 public:
  // Null with `why` set (one line) when NVML cannot be loaded or shows no GPU.
  static std::unique_ptr<NvmlSampler> open(const std::string& library, std::string& why);
  ~NvmlSampler();
  NvmlSampler(const NvmlSampler&) = delete;
  NvmlSampler& operator=(const NvmlSampler&) = delete;

  std::vector<GpuSample> sample();
  size_t device_count() const { return devices_.size(); }
  const std::string& driver_version() const { return driver_version_; }
  // Which optional signals this driver gives, by name ("gpm": true, "xid_events": false, ...).
  std::vector<std::pair<std::string, bool>> capabilities() const;

 private:
  struct DeviceState {
    nvml::Device handle = nullptr;
    unsigned int index = 0;
    std::string uuid, name;
    bool gpm_supported = false;
    nvml::GpmSample gpm_previous = nullptr;
    nvml::GpmSample gpm_current = nullptr;
    bool gpm_has_previous = false;
    uint64_t pcie_tx_bytes_previous = 0, pcie_rx_bytes_previous = 0;
    std::chrono::steady_clock::time_point pcie_previous_time{};
    bool pcie_has_previous = false;
    bool xid_registered = false;
    uint64_t xid_count = 0;
    std::optional<uint64_t> xid_last;
  };

  explicit NvmlSampler(nvml::ApiHandle api);
  void read_gpm(DeviceState& d, GpuSample& s);
  void read_pcie_counters(DeviceState& d, GpuSample& s);
  void read_health(DeviceState& d, GpuSample& s);
  void drain_xid_events();

  nvml::ApiHandle api_;
  std::vector<DeviceState> devices_;
  nvml::EventSet events_ = nullptr;
  std::string driver_version_;
};

}  // namespace sxb
