#include "core/env_config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "core/units.hpp"

namespace sxb {

const std::vector<EnvKey>& known_env_keys() {
  using K = EnvKind;
  static const std::vector<EnvKey> keys = {
      {"HF_TOKEN", K::string, "", "Hugging Face token for gated and private models, sent as "
       "'Authorization: Bearer' to HF_ENDPOINT's host only (never to a host it redirects to). "
       "Never written to any output (shown as <redacted>)."},
      {"HF_ENDPOINT", K::string, "https://huggingface.co", "Hugging Face hub that model files "
       "are downloaded from (an http:// or https:// URL)"},
      {"HF_HOME", K::string, "", "Hugging Face home directory; the hub cache is HF_HOME/hub "
       "(default: $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface)"},
      {"HF_HUB_CACHE", K::string, "", "Hub cache directory (models--org--name/blobs, snapshots, "
       "refs), shared with other Hugging Face tools (default: HF_HOME/hub)"},
      {"HF_HUB_OFFLINE", K::boolean, "0", "1: files come from the hub cache only, no request is "
       "made, and a file that is not cached is an error"},
      {"HF_HUB_DOWNLOAD_TIMEOUT", K::number, "10", "Seconds a hub connection may take to open, "
       "and the longest a download may stall, before it fails", {}, 0.1, 3600},
      {"MODEL_NAME", K::string, "meta-llama/Llama-2-7b-hf", "Default model for run/train/plan"},
      {"BATCH_SIZE_PER_GPU", K::integer, "", "Micro-batch per GPU; overrides the ds_config's "
       "train_micro_batch_size_per_gpu", {}, 1, 1e6},
      {"SEQ_LEN", K::integer, "4096", "Training sequence length in tokens", {}, 8, 1 << 20},
      {"METRICS_INTERVAL", K::number, "1", "GPU metrics sampling interval in seconds "
       "(fractions allowed)", {}, 0.01, 3600},
      {"RESULTS_DIR", K::string, "results", "Directory that holds run directories"},
      {"GPUS_PER_NODE", K::integer, "", "GPUs per node (0: none, CPU ranks); detected when unset", {}, 0, 64},
      {"HOSTFILE", K::string, "", "OpenMPI hostfile for multi-node runs outside Slurm"},
      {"COMM_BACKEND", K::choice, "auto", "Collective backend: nccl (GPU), mpi (host memory) or "
       "auto (nccl when GPUs are present)", {"auto", "nccl", "mpi"}},
      {"COMM_TIMEOUT", K::number, "300", "Seconds a collective may take before the run is "
       "stopped with an error naming the rank and host", {}, 0.1, 86400},
      {"REPORT_LANG", K::choice, "en", "Report language", {"en", "ja"}},
      {"PROGRESS", K::choice, "auto", "Progress display: auto (only on a terminal), on, off",
       {"auto", "on", "off"}},
      // `preflight`: each replaces one expectation of the node profile (configs/cluster/*.json,
      // key in the description); unset keeps the profile's value.
      {"PREFLIGHT_GPUS_PER_NODE", K::integer, "", "preflight: GPUs per node (profile key "
       "gpus_per_node)", {}, 1, 64},
      {"PREFLIGHT_GPU_MODEL", K::string, "", "preflight: text every GPU's NVML name must contain "
       "(profile key gpu_model)"},
      {"PREFLIGHT_CUDA_MIN_VERSION", K::string, "", "preflight: oldest CUDA version the driver and "
       "the runtime may have, MAJOR.MINOR (profile key cuda_min_version)"},
      {"PREFLIGHT_NVLINKS_PER_GPU", K::integer, "", "preflight: active NVLink links per GPU "
       "(profile key nvlinks_per_gpu)", {}, 0, 18},
      {"PREFLIGHT_PERSISTENCE_MODE", K::boolean, "", "preflight: GPU persistence mode on or off "
       "(profile key persistence_mode)"},
      {"PREFLIGHT_ECC_ENABLED", K::boolean, "", "preflight: GPU ECC on or off (profile key "
       "ecc_enabled)"},
      {"PREFLIGHT_NIC_PORTS", K::integer, "", "preflight: ACTIVE RDMA ports per node (profile key "
       "roce_ports_per_node)", {}, 1, 64},
      {"PREFLIGHT_NIC_GBPS", K::number, "", "preflight: rate of each RDMA port in Gbit/s (profile "
       "key port_rate_gbit_per_s)", {}, 1, 100000},
      {"PREFLIGHT_LINK_LAYER", K::choice, "", "preflight: RDMA link layer (profile key link_layer)",
       {"Ethernet", "InfiniBand"}},
      {"PREFLIGHT_GID_TYPE", K::choice, "", "preflight: GID type the RoCE ports need (profile key "
       "gid_type)", {"RoCE v2", "IB/RoCE v1"}},
      {"PREFLIGHT_MTU", K::integer, "", "preflight: interface MTU in bytes (profile key mtu_bytes)",
       {}, 68, 65535},
      {"PREFLIGHT_PFC", K::boolean, "", "preflight: PFC on the RoCE priority on or off (profile key "
       "pfc_enabled)"},
      {"PREFLIGHT_ECN", K::boolean, "", "preflight: ECN on the RoCE priority on or off (profile key "
       "ecn_enabled)"},
      {"PREFLIGHT_ROCE_PRIORITY", K::integer, "", "preflight: the RoCE traffic priority, 0-7 "
       "(profile key roce_priority)", {}, 0, 7},
      // Inputs of the sales summary (report/roi.hpp). Each default is a stated assumption with
      // its source; prices are USD figures, so another CURRENCY requires setting the prices.
      {"CURRENCY", K::string, "USD", "Currency of every price below (ISO 4217 code); the built-in "
       "price defaults are USD figures"},
      {"GPU_HOUR_PRICE", K::number, "4.00", "Price of one H200 GPU-hour. Default 4.00 USD: the "
       "middle of the 3.50-4.50 USD on-demand range of specialty clouds for H200 SXM "
       "(mercatus-ai.com/blog/cloud-gpu-pricing, May 2026)", {}, 0, 1e9},
      {"ELECTRICITY_PRICE_PER_KWH", K::number, "0.0806", "Price of one kWh of facility "
       "electricity. Default 0.0806 USD: US industrial average for 2023 (EIA Electric Power "
       "Annual: 8.06 cents/kWh)", {}, 0, 1e6},
      {"PUE", K::number, "1.58", "Power usage effectiveness of the facility (facility power / IT "
       "power). Default 1.58: global average for 2023 (Uptime Institute Global Data Center Survey "
       "2023)", {}, 1, 5},
      {"NODE_POWER_OVERHEAD", K::number, "1.82", "Node power over GPU board power (CPUs, memory, "
       "NICs, fans, power supplies). Default 1.82: NVIDIA DGX H100/H200 maximum system input "
       "10.2 kW over 8 x 700 W GPU TDP (5.6 kW)", {}, 1, 10},
      {"FINE_TUNE_TOKEN_BUDGET", K::number, "1e9", "Training tokens of the fine-tuning job the "
       "sales summary prices. Default 1e9: a stated scenario (for example 3 epochs over 333 M "
       "tokens), not a measurement", {}, 1, 1e18},
      {"BASELINE_NAME", K::string, "NVIDIA H100 80GB SXM (LLM Foundry MPT-7B benchmark)",
       "Name of the system the summary compares against"},
      {"BASELINE_TOKENS_PER_S_PER_GPU", K::number, "8611", "Training tokens/s per GPU of the "
       "baseline for BASELINE_MODEL at BASELINE_SEQ_LEN. Default 8611: MPT-7B, seq 4096, 8 x H100 "
       "80GB, bf16, activation checkpointing, MFU 40.4% (mosaicml/llm-foundry, "
       "scripts/train/benchmarking/README.md)", {}, 1e-9, 1e12},
      {"BASELINE_MODEL", K::string, "meta-llama/Llama-2-7b-hf", "Model the baseline rate is for; "
       "other models are compared at the same model FLOP/s per GPU (PaLM 6N + 12LdT). Default "
       "Llama-2-7B: the shape of MPT-7B (d 4096, 32 layers, 6.7 B parameters)"},
      {"BASELINE_SEQ_LEN", K::integer, "4096", "Sequence length the baseline rate was measured at "
       "(default 4096, as the LLM Foundry row)", {}, 8, 1 << 20},
      {"BASELINE_GPU_HOUR_PRICE", K::number, "3.00", "Price of one baseline GPU-hour. Default "
       "3.00 USD: the middle of the 2.50-3.50 USD on-demand range of specialty clouds for H100 SXM "
       "(mercatus-ai.com/blog/cloud-gpu-pricing, May 2026)", {}, 0, 1e9},
      // Tuning and test knobs: process environment only (environment_knob()); the read site
      // holds the built-in default that each description states.
      {"SXB_CONFIG_DIR", K::string, "", "Tuning/test knob: directory searched first for the "
       "hardware spec files (default: the installed share/sxbench/configs, then the source tree's "
       "configs/)", {}, -1e300, 1e300, true},
      {"SXB_GEMM_CANDIDATES", K::integer, "", "Tuning knob: cuBLASLt candidates the CUDA engine "
       "times per distinct GEMM (default 8; 1 keeps the heuristic's first)", {}, 1, 1024, true},
      {"SXB_OVERLAP_OPTIMIZER", K::boolean, "", "Tuning knob: overlap the CUDA engine's AdamW "
       "with the next step's forward (default on)", {}, -1e300, 1e300, true},
      {"SXB_OPTIMIZER_SMS", K::integer, "", "Tuning knob: SMs the CUDA engine's overlapped AdamW "
       "runs on while the next forward's products are planned for the other SMs (default 0: "
       "no partition, the update's blocks take SMs wherever the forward leaves them)", {}, 0,
       1024, true},
      {"SXB_NORM_IN_BACKWARD", K::boolean, "", "Tuning knob: sum the gradient norm inside the "
       "CUDA engine's backward instead of one pass before AdamW (default on)", {}, -1e300, 1e300,
       true},
      {"SXB_ATTENTION_WIDE_BACKWARD", K::boolean, "", "Tuning knob: the 8-warp attention "
       "backward for head_dim 128 (default on; off for A/B runs)", {}, -1e300, 1e300, true},
      {"SXB_ATTENTION_FORWARD", K::choice, "", "Tuning knob: the CUDA engine's attention forward, "
       "sm90 (the default: the Hopper wgmma/TMA kernel where the device and shape allow it, "
       "mma.sync elsewhere) or mma (mma.sync always, for A/B runs)", {"mma", "sm90"}, -1e300, 1e300, true},
      {"SXB_ATTENTION_BACKWARD", K::choice, "", "Tuning knob: the CUDA engine's attention "
       "backward, sm90 (the default: the Hopper wgmma/TMA kernel where the device and shape allow "
       "it, mma.sync elsewhere) or mma (mma.sync always, for A/B runs)", {"mma", "sm90"}, -1e300,
       1e300, true},
      {"SXB_ATTENTION_SM90_OVERLAP", K::boolean, "", "Tuning knob: the Hopper attention "
       "forward overlaps one key tile's softmax with the previous tile's P V product (default on; "
       "off for A/B runs)", {}, -1e300, 1e300, true},
      {"SXB_ATTENTION_SM90_DQ_WRITER", K::boolean, "", "Tuning knob: the Hopper attention "
       "backward hands each dQ tile to a writer warp that adds it into memory with TMA "
       "reductions (default on; off: the consumer warps add it with atomics, for A/B runs)", {},
       -1e300, 1e300, true},
      {"SXB_ATTENTION_GQA_SPLIT", K::boolean, "", "Tuning knob: the Hopper attention backward "
       "splits each group's query heads over several blocks when too few blocks would fill the "
       "GPU (default on; off for A/B runs)", {}, -1e300, 1e300, true},
      {"SXB_ATTENTION_DETERMINISTIC", K::boolean, "", "The CUDA engine's attention backward adds "
       "dq's sums in a fixed order, so gradients are the same on every run (the Hopper kernel; "
       "refused where it does not apply; default off)", {}, -1e300, 1e300, true},
      {"SXB_NVML_LIBRARY", K::string, "", "Test knob: the NVML library preflight loads "
       "(default libnvidia-ml.so.1)", {}, -1e300, 1e300, true},
      {"SXB_IBVERBS_LIBRARY", K::string, "", "Test knob: the libibverbs preflight loads for the "
       "ports' active MTU (default libibverbs.so.1)", {}, -1e300, 1e300, true},
      {"SXB_FAKE_IBVERBS", K::string, "", "Test knob: the ports the libibverbs stand-in of the "
       "tests serves, dev:port:mtu_bytes,... (err: the query fails)", {}, -1e300, 1e300, true},
      {"SXB_FAKE_DCB", K::string, "", "Test knob: preflight's PFC answers in place of the "
       "kernel's DCB netlink, IF:MASK,... (MASK: pfc_en such as 0x08; none: no PFC in the reply; "
       "err: the driver has no DCB) (default: netlink for --root /, nothing for a fixture tree)",
       {}, -1e300, 1e300, true},
      {"SXB_FAULT_INJECT", K::string, "", "Test knob: hang:R makes rank R stop answering at its "
       "first collective, corrupt:R makes it overwrite one output element before each data check, "
       "slow:R[:F] stretches rank R's timed diagnose work and its training steps' own work F "
       "times (default 3) (default: no fault)", {}, -1e300, 1e300, true},
      {"SXB_FAKE_HOSTS", K::string, "", "Test knob: each rank's host name, by rank, comma-separated, "
       "so one machine stands for several nodes (default: the real host names)", {}, -1e300, 1e300,
       true},
  };
  return keys;
}

const EnvKey* find_env_key(std::string_view name) {
  for (const auto& k : known_env_keys()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

bool is_passthrough_env_key(std::string_view name) { return name.starts_with("NCCL_"); }

bool is_secret_env_key(std::string_view name) {
  std::string n(name);
  for (auto& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string_view v = n;
  for (std::string_view word : {"TOKEN", "KEY", "SECRET", "PASSWORD"}) {
    if (v == word) return true;
    if (v.size() > word.size() && v.ends_with(word) && v[v.size() - word.size() - 1] == '_') {
      return true;
    }
  }
  return false;
}

std::string redact_env_value(std::string_view name, std::string_view value) {
  if (is_secret_env_key(name) && !value.empty()) return "<redacted>";
  return std::string(value);
}

namespace {
// "--hf-token" -> "HF_TOKEN", "HF_TOKEN" -> "HF_TOKEN": a flag named as a setting would be.
std::string flag_as_key(std::string_view flag) {
  while (!flag.empty() && flag.front() == '-') flag.remove_prefix(1);
  std::string k(flag);
  for (auto& c : k) c = c == '-' ? '_' : c;
  return k;
}
}  // namespace

std::vector<std::string> redact_command_line(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  out.reserve(args.size());
  bool value_follows = false;  // the previous argument was a secret flag without =VALUE
  for (const auto& a : args) {
    if (value_follows) {
      value_follows = false;
      out.push_back("<redacted>");
      continue;
    }
    const size_t eq = a.find('=');
    if (eq != std::string::npos && eq > 0) {
      const std::string key = flag_as_key(std::string_view(a).substr(0, eq));
      if (is_secret_env_key(key) && eq + 1 < a.size()) {
        out.push_back(a.substr(0, eq + 1) + "<redacted>");
        continue;
      }
    } else if (a.size() > 1 && a.front() == '-' && is_secret_env_key(flag_as_key(a))) {
      value_follows = true;
    }
    out.push_back(a);
  }
  return out;
}

void validate_env_value(const EnvKey& key, std::string_view value, const std::string& where) {
  const bool secret = is_secret_env_key(key.name);
  auto fail = [&](const std::string& why) {
    // A secret's value appears neither after '=' nor inside the reason (which may quote it).
    return usage_error(fmt::format("{}: {}={}: {}", where, key.name,
                                   redact_env_value(key.name, value),
                                   secret ? "the value is not valid" : why));
  };
  if (value.empty()) return;  // KEY= means "not set": the default applies
  auto range = [&](double v) {
    if (v < key.min_value || v > key.max_value) {
      throw fail(fmt::format("must be between {} and {}", key.min_value, key.max_value));
    }
  };
  try {
    switch (key.kind) {
      case EnvKind::string: break;
      case EnvKind::integer: range(static_cast<double>(parse_int(value, "integer"))); break;
      case EnvKind::number: range(parse_double(value, "number")); break;
      case EnvKind::boolean: parse_bool(value, "boolean"); break;
      case EnvKind::size: parse_size_bytes(value, "size"); break;
      case EnvKind::choice:
        if (std::find(key.choices.begin(), key.choices.end(), value) == key.choices.end()) {
          throw fail(fmt::format("expected one of: {}", fmt::join(key.choices, ", ")));
        }
        break;
    }
  } catch (const Error& e) {
    if (std::string_view(e.what()).starts_with(where)) throw;
    throw fail(e.what());
  }
}

namespace {

bool valid_key_name(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k.front()))) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

EnvConfig EnvConfig::from_string(std::string_view text, const std::string& source_name) {
  EnvConfig cfg;
  cfg.source_name_ = source_name;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    const std::string where = fmt::format("{}:{}", source_name, line_no);
    line = trim(line);
    if (line.empty() || line.front() == '#') {
      if (end == text.size()) break;
      continue;
    }
    if (line.starts_with("export ")) line = trim(line.substr(7));
    size_t eq = line.find('=');
    // A malformed line is named by its first word, and only when that is a known key: the rest,
    // or a lone word, may be a secret's value ("HF_TOKEN hf_..."), which no error repeats.
    const std::string_view first_word = line.substr(0, line.find_first_of(" \t=:"));
    const bool known_word = find_env_key(first_word) != nullptr ||
                            (valid_key_name(first_word) && is_passthrough_env_key(first_word));
    const std::string named = known_word ? fmt::format(" (starts with {})", first_word) : "";
    if (eq == std::string_view::npos) {
      throw usage_error(fmt::format("{}: malformed line{}: expected KEY=VALUE", where, named));
    }
    std::string key(trim(line.substr(0, eq)));
    std::string_view raw = trim(line.substr(eq + 1));
    if (!valid_key_name(key)) {
      throw usage_error(fmt::format(
          "{}: invalid key name{}: expected letters, digits and _ before '='", where, named));
    }
    std::string value;
    if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
      const char q = raw.front();
      size_t close = raw.find(q, 1);
      if (close == std::string_view::npos) {
        throw usage_error(fmt::format("{}: unterminated quoted value for {}", where, key));
      }
      std::string_view rest = trim(raw.substr(close + 1));
      if (!rest.empty() && rest.front() != '#') {
        throw usage_error(fmt::format("{}: unexpected text after the quoted value of {}", where,
                                      key));
      }
      value = std::string(raw.substr(1, close - 1));
    } else {
      // An unquoted value ends at " #" (an inline comment).
      size_t hash = raw.find(" #");
      if (hash == std::string_view::npos) hash = raw.find("\t#");
      value = std::string(trim(raw.substr(0, hash)));
    }
    // Settings are recorded in run.json, and JSON holds UTF-8 text only.
    if (!valid_utf8(value)) {
      throw usage_error(fmt::format("{}: the value of {} is not valid UTF-8 text", where, key));
    }
    if (cfg.entries_.count(key)) {
      throw usage_error(fmt::format("{}: {} is set twice (first on line {})", where, key,
                                    cfg.entries_[key].line));
    }
    if (const EnvKey* k = find_env_key(key)) {
      if (k->environment_only && !value.empty()) {
        throw usage_error(fmt::format(
            "{}: {} is a tuning/test knob read from the process environment only; set it there",
            where, key));
      }
      validate_env_value(*k, value, where);
    } else if (!is_passthrough_env_key(key)) {
      throw usage_error(fmt::format(
          "{}: unknown key '{}' (known keys are listed in .env.example; NCCL_* keys pass through)",
          where, key));
    }
    cfg.entries_[key] = EnvEntry{value, line_no};
    if (end == text.size()) break;
  }
  return cfg;
}

std::optional<std::string> environment_knob(std::string_view name) {
  const EnvKey* k = find_env_key(name);
  if (k == nullptr || !k->environment_only) {
    throw usage_error(fmt::format("{} is not a registered tuning/test knob", name));
  }
  const char* v = std::getenv(k->name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  validate_env_value(*k, v, "environment");
  return std::string(v);
}

std::optional<int64_t> environment_knob_int(std::string_view name) {
  const auto v = environment_knob(name);
  if (!v) return std::nullopt;
  return parse_int(*v, name);
}

std::optional<bool> environment_knob_bool(std::string_view name) {
  const auto v = environment_knob(name);
  if (!v) return std::nullopt;
  return parse_bool(*v, name);
}

EnvConfig EnvConfig::from_file(const std::filesystem::path& path) {
  return from_string(read_file(path), path.string());
}

EnvConfig EnvConfig::load(const std::optional<std::filesystem::path>& explicit_path) {
  std::error_code ec;
  if (explicit_path) {
    if (!std::filesystem::exists(*explicit_path, ec)) {
      throw usage_error(fmt::format("--env {}: no such file", explicit_path->string()));
    }
    if (!std::filesystem::is_regular_file(*explicit_path, ec)) {
      throw usage_error(fmt::format("--env {}: not a regular file", explicit_path->string()));
    }
    return from_file(*explicit_path);
  }
  if (std::filesystem::exists(".env", ec)) {
    if (!std::filesystem::is_regular_file(".env", ec)) {
      throw usage_error("./.env: not a regular file (give a settings file with --env)");
    }
    return from_file(".env");
  }
  return EnvConfig{};
}

std::optional<std::string> EnvConfig::lookup(std::string_view key) const {
  const EnvKey* k = find_env_key(key);
  const std::string name(key);
  if (const char* v = std::getenv(name.c_str()); v && *v) {
    if (k) validate_env_value(*k, v, "environment");
    return std::string(v);
  }
  if (auto it = entries_.find(name); it != entries_.end() && !it->second.value.empty()) {
    return it->second.value;
  }
  if (k && !k->default_value.empty()) return k->default_value;
  return std::nullopt;
}

std::string EnvConfig::source(std::string_view key) const {
  const std::string name(key);
  if (const char* v = std::getenv(name.c_str()); v && *v) return "environment";
  if (auto it = entries_.find(name); it != entries_.end() && !it->second.value.empty()) {
    return fmt::format("{}:{}", source_name_, it->second.line);
  }
  const EnvKey* k = find_env_key(key);
  if (k && !k->default_value.empty()) return "default";
  return "unset";
}

std::string EnvConfig::get_string(std::string_view key) const { return lookup(key).value_or(""); }

std::optional<int64_t> EnvConfig::get_int(std::string_view key) const {
  auto v = lookup(key);
  if (!v || v->empty()) return std::nullopt;
  return parse_int(*v, key);
}

std::optional<double> EnvConfig::get_number(std::string_view key) const {
  auto v = lookup(key);
  if (!v || v->empty()) return std::nullopt;
  return parse_double(*v, key);
}

std::optional<bool> EnvConfig::get_bool(std::string_view key) const {
  auto v = lookup(key);
  if (!v || v->empty()) return std::nullopt;
  return parse_bool(*v, key);
}

void EnvConfig::export_passthrough() const {
  for (const auto& [key, entry] : entries_) {
    if (is_passthrough_env_key(key)) ::setenv(key.c_str(), entry.value.c_str(), /*overwrite=*/0);
  }
}

nlohmann::json EnvConfig::resolved_redacted() const {
  nlohmann::json out = nlohmann::json::object();
  auto add = [&](const std::string& key) {
    auto v = lookup(key);
    out[key] = {{"value", v ? nlohmann::json(redact_env_value(key, *v)) : nlohmann::json()},
                {"source", source(key)}};
  };
  for (const auto& k : known_env_keys()) add(k.name);
  for (const auto& [key, entry] : entries_) {
    if (is_passthrough_env_key(key)) add(key);
  }
  return out;
}

}  // namespace sxb
