#include "monitor/throttle.hpp"

#include <fmt/format.h>

namespace sxb {

const std::vector<ThrottleReason>& throttle_reasons() {
  // Values of nvmlClocksEventReason* in NVML's header.
  static const std::vector<ThrottleReason> reasons = {
      {0x1, "gpu_idle", false},
      {0x2, "applications_clocks_setting", true},
      {0x4, "sw_power_cap", true},
      {0x8, "hw_slowdown", true},
      {0x10, "sync_boost", true},
      {0x20, "sw_thermal_slowdown", true},
      {0x40, "hw_thermal_slowdown", true},
      {0x80, "hw_power_brake_slowdown", true},
      {0x100, "display_clock_setting", true},
  };
  return reasons;
}

std::vector<std::string> decode_throttle_reasons(uint64_t mask) {
  std::vector<std::string> names;
  for (int bit = 0; bit < 64; ++bit) {
    const uint64_t b = uint64_t{1} << bit;
    if ((mask & b) == 0) continue;
    std::string name = fmt::format("unknown_0x{:x}", b);
    for (const auto& r : throttle_reasons()) {
      if (r.bit == b) name = std::string(r.name);
    }
    names.push_back(std::move(name));
  }
  return names;
}

std::string throttle_reasons_text(uint64_t mask) {
  std::string out;
  for (const auto& n : decode_throttle_reasons(mask)) {
    if (!out.empty()) out += '|';
    out += n;
  }
  return out;
}

bool is_throttled(uint64_t mask) {
  return (mask & ~uint64_t{0x1}) != 0;
}

}  // namespace sxb
