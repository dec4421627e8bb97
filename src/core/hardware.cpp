#include "core/hardware.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/env_config.hpp"
#include "core/error.hpp"

namespace sxb {

namespace fs = std::filesystem;

const HardwareFigure& HardwareSpec::figure(const std::string& key) const {
  auto it = figures.find(key);
  if (it == figures.end()) {
    throw usage_error(fmt::format("hardware spec '{}' has no figure '{}'", id, key));
  }
  return it->second;
}

std::optional<double> HardwareSpec::value(const std::string& key) const {
  auto it = figures.find(key);
  if (it == figures.end()) return std::nullopt;
  return it->second.value;
}

fs::path find_config_dir() {
  std::vector<fs::path> candidates;
  if (const auto d = environment_knob("SXB_CONFIG_DIR")) candidates.emplace_back(*d);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "share" / "sxbench" / "configs");
    candidates.push_back(exe.parent_path().parent_path() / "configs");
  }
  candidates.push_back(fs::path(SXB_SOURCE_DIR) / "configs");
  candidates.push_back(fs::current_path(ec) / "configs");
  for (const auto& c : candidates) {
    if (fs::is_directory(c / "hardware", ec)) return c;
  }
  throw usage_error("cannot find the configs/ directory (set SXB_CONFIG_DIR)");
}

HardwareSpec load_hardware_spec(const fs::path& file) {
  const nlohmann::json j = read_json_file(file);
  HardwareSpec spec;
  spec.id = file.stem().string();
  auto where = [&](const std::string& what) {
    return usage_error(fmt::format("{}: {}", file.string(), what));
  };
  try {
    spec.name = j.at("name").get<std::string>();
    spec.kind = j.at("kind").get<std::string>();
    if (spec.kind != "gpu" && spec.kind != "nic") throw where("kind must be 'gpu' or 'nic'");
    spec.match = j.value("match", std::vector<std::string>{});
    for (const auto& [key, f] : j.at("figures").items()) {
      HardwareFigure fig;
      fig.value = f.at("value").get<double>();
      fig.unit = f.at("unit").get<std::string>();
      fig.source = f.at("source").get<std::string>();
      if (!(fig.value > 0)) throw where(fmt::format("figure '{}' must be positive", key));
      if (fig.unit.empty() || fig.source.empty()) {
        throw where(fmt::format("figure '{}' needs a unit and a source", key));
      }
      spec.figures[key] = fig;
    }
  } catch (const nlohmann::json::exception& e) {
    throw where(e.what());
  }
  return spec;
}

std::vector<HardwareSpec> load_hardware_specs(const fs::path& dir) {
  const std::vector<fs::path> files = json_files_in(dir);
  std::vector<HardwareSpec> specs;
  for (const auto& f : files) specs.push_back(load_hardware_spec(f));
  return specs;
}

std::optional<HardwareSpec> find_gpu_spec(const std::vector<HardwareSpec>& specs,
                                          const std::string& device_name) {
  for (const auto& s : specs) {
    if (s.kind != "gpu") continue;
    for (const auto& m : s.match) {
      if (device_name.find(m) != std::string::npos) return s;
    }
  }
  return std::nullopt;
}

}  // namespace sxb
