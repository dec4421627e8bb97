#pragma once
// NVML clock-event ("throttle") reasons: the bit mask from nvmlDeviceGetCurrentClocksEventReasons
// decoded to stable names.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sxb {

struct ThrottleReason {
  uint64_t bit;
  std::string_view name;
  bool counts_as_throttled;  // false for gpu_idle: low clocks because there is no work
};

// Every bit NVML defines, in bit order.
const std::vector<ThrottleReason>& throttle_reasons();

// Names of the set bits in bit order; an unknown bit becomes "unknown_0x<hex>".
std::vector<std::string> decode_throttle_reasons(uint64_t mask);
// The same names joined with '|'; "" for 0 ("none" would be a value, and 0 means no reason).
std::string throttle_reasons_text(uint64_t mask);
// True when a reason other than gpu_idle holds the clocks down.
bool is_throttled(uint64_t mask);

}  // namespace sxb
