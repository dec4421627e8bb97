#pragma once
// Hardware figures (configs/hardware/*.json): the physical limits that results are compared
// against. Every figure carries its unit and its source; the loader refuses one without.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sxb {

struct HardwareFigure {
  double value = 0;
  std::string unit;
  std::string source;
};

struct HardwareSpec {
  std::string id;    // file stem, e.g. "h200_sxm"
  std::string name;  // "NVIDIA H200 SXM"
  std::string kind;  // "gpu" or "nic"
  std::vector<std::string> match;  // substrings of the device name that select this spec
  std::map<std::string, HardwareFigure> figures;

  // The figure or an sxb::Error naming the spec and the missing figure.
  const HardwareFigure& figure(const std::string& key) const;
  std::optional<double> value(const std::string& key) const;
};

// The configs/ directory: $SXB_CONFIG_DIR, then <exe>/../share/sxbench/configs, <exe>/../configs,
// the source tree's configs/, then ./configs.
std::filesystem::path find_config_dir();

HardwareSpec load_hardware_spec(const std::filesystem::path& file);
std::vector<HardwareSpec> load_hardware_specs(const std::filesystem::path& dir);
// The GPU spec whose match list names a substring of device_name ("NVIDIA H200" -> h200_sxm).
std::optional<HardwareSpec> find_gpu_spec(const std::vector<HardwareSpec>& specs,
                                          const std::string& device_name);

}  // namespace sxb
