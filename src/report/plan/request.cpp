#include "report/plan/request.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <regex>

#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "hub/hub_cache.hpp"
#include "model/model_shape.hpp"
#include "model/ds_config.hpp"
#include "model/model_config.hpp"

namespace sxb::report {

namespace {

namespace fs = std::filesystem;

std::vector<std::string> split_list(const std::string& text, const std::string& what) {
  std::vector<std::string> out;
  for (std::string_view item : split_comma_list(text)) {
    if (item.empty()) throw usage_error(fmt::format("{} '{}': empty item", what, text));
    out.emplace_back(item);
  }
  return out;
}

struct DsFile {
  fs::path path;
  std::optional<double> size_params;
  DsConfig config;
};

std::vector<DsFile> load_ds_files(const std::string& spec, const fs::path& config_dir) {
  std::vector<DsFile> files;
  if (spec.empty() || fs::is_directory(spec)) {
    const fs::path dir = spec.empty() ? config_dir : fs::path(spec);
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("ds_config_", 0) == 0 && e.path().extension() == ".json" &&
          ds_config_size(name)) {
        found.push_back(e.path());
      }
    }
    std::sort(found.begin(), found.end());
    if (found.empty()) {
      throw usage_error(fmt::format("--ds-config {}: no ds_config_<N>b.json files", dir.string()));
    }
    for (const auto& f : found) {
      files.push_back({f, ds_config_size(f.filename().string()), load_ds_config(f)});
    }
    return files;
  }
  for (const auto& item : split_list(spec, "--ds-config")) {
    if (!fs::is_regular_file(item))
      throw usage_error(fmt::format("--ds-config {}: no such file", item));
    files.push_back(
        {item, ds_config_size(fs::path(item).filename().string()), load_ds_config(item)});
  }
  if (files.size() > 1) {
    for (const auto& f : files) {
      if (!f.size_params) {
        throw usage_error(
            fmt::format("--ds-config {}: with several files each name must end in "
                        "_<N>b.json (the model size it is for)",
                        f.path.string()));
      }
    }
  }
  return files;
}

// The config whose stated size is nearest the model's parameter count (by ratio); a single
// unlabelled file applies to every model.
const DsFile& ds_for(const std::vector<DsFile>& files, int64_t params) {
  const DsFile* best = &files.front();
  double best_d = 1e300;
  for (const auto& f : files) {
    if (!f.size_params) return f;
    const double d = std::abs(std::log(*f.size_params / static_cast<double>(params)));
    if (d < best_d) {
      best_d = d;
      best = &f;
    }
  }
  return *best;
}

// As it goes on a command line run from the repository root.
std::string display_path(const fs::path& p, const fs::path& config_dir) {
  std::error_code ec;
  const fs::path abs = fs::weakly_canonical(p, ec);
  const fs::path cfg = fs::weakly_canonical(config_dir, ec);
  if (abs.parent_path() == cfg) return (fs::path("configs") / abs.filename()).string();
  return p.string();
}

Assumption hardware_assumption(const HardwareSpec& spec, const std::string& key,
                               const std::string& name) {
  const HardwareFigure& f = spec.figure(key);
  return {name, f.value, f.unit,
          fmt::format("configs/hardware/{}.json {}: {}", spec.id, key, f.source)};
}

}  // namespace

std::string model_alias(const std::string& name) {
  std::string l = name;
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "7b") return "meta-llama/Llama-2-7b-hf";
  if (l == "13b") return "meta-llama/Llama-2-13b-hf";
  if (l == "70b") return "meta-llama/Llama-2-70b-hf";
  return name;
}

std::vector<int> parse_node_counts(const std::string& text) {
  std::vector<int> nodes;
  for (const auto& item : split_list(text, "--nodes")) {
    int64_t n = 0;
    try {
      n = parse_int(item, "node count");
    } catch (const Error&) {
      throw usage_error(fmt::format("--nodes '{}': '{}' is not a whole number", text, item));
    }
    if (n < 1 || n > 1024) {
      throw usage_error(fmt::format("--nodes '{}': {} is outside 1..1024", text, n));
    }
    if (std::find(nodes.begin(), nodes.end(), n) != nodes.end()) {
      throw usage_error(fmt::format("--nodes '{}': {} is given twice", text, n));
    }
    nodes.push_back(static_cast<int>(n));
  }
  return nodes;
}

std::vector<int> parse_node_list(const std::string& text) {
  std::vector<int> nodes = parse_node_counts(text);
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

std::optional<double> ds_config_size(const std::string& file_name) {
  static const std::regex re(R"(_(\d+(?:\.\d+)?)b\.json$)", std::regex::icase);
  std::smatch m;
  if (std::regex_search(file_name, m, re)) return std::stod(m[1].str()) * 1e9;
  return std::nullopt;
}

PlanRequest make_plan_request(const PlanRequestOptions& o, const EnvConfig& env) {
  PlanRequest req;
  req.nodes = parse_node_list(o.nodes);
  // An explicit value is used as given or refused; only an absent one defers to the settings.
  if (o.gpus_per_node) {
    if (*o.gpus_per_node < 1 || *o.gpus_per_node > 64) {
      throw usage_error(fmt::format("--gpus-per-node {}: expected 1..64", *o.gpus_per_node));
    }
    req.gpus_per_node = *o.gpus_per_node;
  } else if (const auto env_gpus = env.get_int("GPUS_PER_NODE")) {
    if (*env_gpus < 1) {
      throw usage_error(fmt::format(
          "GPUS_PER_NODE={} ({}) means CPU ranks; a plan needs GPUs: set --gpus-per-node",
          *env_gpus, env.source("GPUS_PER_NODE")));
    }
    req.gpus_per_node = static_cast<int>(*env_gpus);
  } else {
    req.gpus_per_node = 8;
  }
  if (o.seq_len) {
    if (*o.seq_len < 2) {
      throw usage_error(fmt::format("--seq-len {}: must be at least 2", *o.seq_len));
    }
    req.seq_len = *o.seq_len;
    req.seq_len_source = "--seq-len";
  } else {
    req.seq_len = *env.get_int("SEQ_LEN");
    const std::string src = env.source("SEQ_LEN");
    req.seq_len_source = src == "default" ? "SEQ_LEN default" : "SEQ_LEN from " + src;
  }
  if (o.steps < 2) {
    throw usage_error(fmt::format("--steps {}: need at least 2 (1 is warm-up)", o.steps));
  }
  req.steps = o.steps;
  req.warmup_steps = 1;  // as `sxbench run` (run.cpp, sft_phase)

  const fs::path config_dir = find_config_dir();
  const auto specs = load_hardware_specs(config_dir / "hardware");
  const auto gpu = find_gpu_spec(specs, o.gpu);
  if (!gpu) throw usage_error(fmt::format("--gpu '{}': no GPU in configs/hardware matches", o.gpu));
  const HardwareSpec* nic = nullptr;
  for (const auto& s : specs) {
    if (s.kind == "nic" && !nic) nic = &s;
  }
  if (!nic) throw usage_error("configs/hardware has no NIC spec (kind \"nic\")");
  PlanHardware& hw = req.hardware;
  hw.gpu_name = gpu->name;
  hw.gpu_match = o.gpu;
  hw.nic_name = nic->name;
  hw.gpu_memory_gb = hardware_assumption(*gpu, "hbm_capacity_gb", "gpu_memory");
  hw.peak_bf16_tflops = hardware_assumption(*gpu, "dense_bf16_tflops", "peak_dense_bf16");
  hw.hbm_gb_per_s = hardware_assumption(*gpu, "hbm_bandwidth_gb_per_s", "hbm_bandwidth");
  hw.nvlink_gb_per_s =
      hardware_assumption(*gpu, "nvlink_bandwidth_per_direction_gb_per_s", "nvlink_per_direction");
  hw.nic_gb_per_s_per_port =
      hardware_assumption(*nic, "bandwidth_per_direction_gb_per_s", "nic_per_direction_per_port");
  hw.nic_ports_per_node = hardware_assumption(*nic, "ports_per_node", "nic_ports_per_node");

  const auto ds_files = load_ds_files(o.ds_config, config_dir);
  const hub::HubSettings hub = hub::hub_settings(env);
  for (const auto& name : split_list(o.models, "--models")) {
    const ModelConfig config = resolve_model(model_alias(name), hub);
    if (config.max_position_embeddings > 0 && req.seq_len > config.max_position_embeddings) {
      throw usage_error(fmt::format("sequence length {} exceeds {}'s max_position_embeddings {}",
                                    req.seq_len, config.name, config.max_position_embeddings));
    }
    PlanModel pm;
    pm.shape = model_shape(config);
    const DsFile& ds = ds_for(ds_files, pm.shape.params);
    pm.ds = ds.config;
    pm.ds_path = display_path(ds.path, config_dir);
    for (const auto& m : req.models) {
      if (m.shape.name == pm.shape.name) {
        throw usage_error(fmt::format("--models: {} is given twice", pm.shape.name));
      }
    }
    req.models.push_back(std::move(pm));
  }
  req.launcher_model = req.models.front().shape.name;
  return req;
}

}  // namespace sxb::report
