#include "model/model_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "hub/hub_download.hpp"

namespace sxb {

namespace fs = std::filesystem;

namespace {
// The largest shapes sxbench accepts, each well above any published Llama/Mistral model, so that
// every size product (parameters, activations, shards) fits 64 bits: a config.json beyond them
// is refused with the key named instead of overflowing later.
constexpr int64_t kMaxHidden = 1 << 18;          // hidden_size (Llama-3.1-405B: 16384)
constexpr int64_t kMaxLayers = 4096;             // num_hidden_layers (405B: 126)
constexpr int64_t kMaxHeads = 4096;              // attention and key/value heads, head_dim
constexpr int64_t kMaxIntermediate = 1 << 21;    // intermediate_size (405B: 53248)
constexpr int64_t kMaxVocab = 1 << 24;           // vocab_size (Llama 3: 128256)
constexpr int64_t kMaxPositions = 1 << 24;       // max_position_embeddings, sliding_window
constexpr int64_t kMaxParameters = 10'000'000'000'000;  // 1e13 parameters in all
}  // namespace

int64_t ModelConfig::params_per_layer() const {
  const int64_t d = hidden_size;
  return d                                   // attention RMSNorm
         + d * d + 2 * kv_dim() * d + d * d  // Wq, Wk, Wv, Wo
         + d                                 // MLP RMSNorm
         + 3 * intermediate_size * d;        // W_gate, W_up, W_down
}

int64_t ModelConfig::param_count() const {
  return vocab_size * hidden_size + num_layers * params_per_layer() + hidden_size +
         vocab_size * hidden_size;
}

std::vector<int64_t> ModelConfig::parameter_unit_sizes() const {
  std::vector<int64_t> units;
  units.reserve(size_t(num_layers) + 2);
  units.push_back(vocab_size * hidden_size);
  units.insert(units.end(), size_t(num_layers), params_per_layer());
  units.push_back(hidden_size + vocab_size * hidden_size);
  return units;
}

int64_t ModelConfig::matmul_param_count() const {
  return num_layers * (params_per_layer() - 2 * hidden_size) + vocab_size * hidden_size;
}

void ModelConfig::validate() const {
  auto bad = [&](const std::string& what) {
    return usage_error(fmt::format("model {}: {}", name, what));
  };
  auto in_range = [&](int64_t v, const char* key, int64_t max) {
    if (v <= 0) throw bad(fmt::format("{} must be positive", key));
    if (v > max) throw bad(fmt::format("{} {} exceeds the supported {}", key, v, max));
  };
  in_range(hidden_size, "hidden_size", kMaxHidden);
  in_range(num_layers, "num_hidden_layers", kMaxLayers);
  in_range(num_heads, "num_attention_heads", kMaxHeads);
  in_range(num_kv_heads, "num_key_value_heads", kMaxHeads);
  in_range(intermediate_size, "intermediate_size", kMaxIntermediate);
  in_range(vocab_size, "vocab_size", kMaxVocab);
  in_range(max_position_embeddings, "max_position_embeddings", kMaxPositions);
  // Within the bounds above the count cannot overflow; the ceiling keeps every product of it
  // (bytes of weights, gradients, optimizer state) inside 64 bits as well.
  if (param_count() > kMaxParameters) {
    throw bad(fmt::format("{} parameters exceed the supported {}", param_count(), kMaxParameters));
  }
  if (hidden_size % num_heads != 0) {
    throw bad(fmt::format("hidden_size {} is not a multiple of num_attention_heads {}", hidden_size,
                          num_heads));
  }
  if (head_dim() % 2 != 0) throw bad(fmt::format("head dimension {} must be even", head_dim()));
  if (num_heads % num_kv_heads != 0) {
    throw bad(fmt::format("num_attention_heads {} is not a multiple of num_key_value_heads {}",
                          num_heads, num_kv_heads));
  }
  if (!(rope_theta > 0)) throw bad("rope_theta must be positive");
  if (!(norm_eps > 0)) throw bad("rms_norm_eps must be positive");
  if (sliding_window && *sliding_window <= 0) throw bad("sliding_window must be positive");
  if (rope_scaling && !(rope_scaling->factor > 0 && rope_scaling->low_freq_factor > 0 &&
                        rope_scaling->high_freq_factor > rope_scaling->low_freq_factor &&
                        rope_scaling->original_max_position_embeddings > 0)) {
    throw bad("rope_scaling (llama3) needs factor > 0 and high_freq_factor > low_freq_factor > 0");
  }
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = {{"name", name},
                      {"source", source},
                      {"hidden_size", hidden_size},
                      {"num_hidden_layers", num_layers},
                      {"num_attention_heads", num_heads},
                      {"num_key_value_heads", num_kv_heads},
                      {"head_dim", head_dim()},
                      {"intermediate_size", intermediate_size},
                      {"vocab_size", vocab_size},
                      {"rope_theta", rope_theta},
                      {"rms_norm_eps", norm_eps},
                      {"max_position_embeddings", max_position_embeddings},
                      {"tie_word_embeddings", false},
                      {"parameter_count", param_count()},
                      {"matmul_parameter_count", matmul_param_count()}};
  j["rope_scaling"] = nullptr;
  if (rope_scaling) {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", rope_scaling->factor},
        {"low_freq_factor", rope_scaling->low_freq_factor},
        {"high_freq_factor", rope_scaling->high_freq_factor},
        {"original_max_position_embeddings", rope_scaling->original_max_position_embeddings}};
  }
  j["sliding_window"] = sliding_window ? nlohmann::json(*sliding_window) : nlohmann::json();
  return j;
}

nlohmann::json hf_config_json(const ModelConfig& c) {
  const bool mistral = c.sliding_window.has_value();
  nlohmann::json j = {{"architectures", {mistral ? "MistralForCausalLM" : "LlamaForCausalLM"}},
                      {"model_type", mistral ? "mistral" : "llama"},
                      {"hidden_size", c.hidden_size},
                      {"num_hidden_layers", c.num_layers},
                      {"num_attention_heads", c.num_heads},
                      {"num_key_value_heads", c.num_kv_heads},
                      {"head_dim", c.head_dim()},
                      {"intermediate_size", c.intermediate_size},
                      {"vocab_size", c.vocab_size},
                      {"max_position_embeddings", c.max_position_embeddings},
                      {"rope_theta", c.rope_theta},
                      {"rms_norm_eps", c.norm_eps},
                      {"hidden_act", "silu"},
                      {"attention_bias", false},
                      {"mlp_bias", false},
                      {"tie_word_embeddings", false}};
  j["rope_scaling"] = nullptr;
  if (c.rope_scaling) {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", c.rope_scaling->factor},
        {"low_freq_factor", c.rope_scaling->low_freq_factor},
        {"high_freq_factor", c.rope_scaling->high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling->original_max_position_embeddings}};
  }
  if (mistral) j["sliding_window"] = *c.sliding_window;
  return j;
}

namespace {

struct BuiltinEntry {
  ModelConfig config;
  std::vector<std::string> aliases;  // same architecture under other ids (chat/instruct)
};

ModelConfig make(std::string name, int64_t d, int64_t layers, int64_t heads, int64_t kv,
                 int64_t ffn, int64_t vocab, double theta, double eps, int64_t max_pos) {
  ModelConfig c;
  c.name = std::move(name);
  c.source = "built-in";
  c.hidden_size = d;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv;
  c.intermediate_size = ffn;
  c.vocab_size = vocab;
  c.rope_theta = theta;
  c.norm_eps = eps;
  c.max_position_embeddings = max_pos;
  return c;
}

// Values from each model's config.json on the Hugging Face hub.
const std::vector<BuiltinEntry>& builtin_entries() {
  static const std::vector<BuiltinEntry> entries = [] {
    std::vector<BuiltinEntry> e;
    e.push_back({make("meta-llama/Llama-2-7b-hf", 4096, 32, 32, 32, 11008, 32000, 1e4, 1e-5, 4096),
                 {"meta-llama/Llama-2-7b-chat-hf"}});
    e.push_back({make("meta-llama/Llama-2-13b-hf", 5120, 40, 40, 40, 13824, 32000, 1e4, 1e-5, 4096),
                 {"meta-llama/Llama-2-13b-chat-hf"}});
    e.push_back({make("meta-llama/Llama-2-70b-hf", 8192, 80, 64, 8, 28672, 32000, 1e4, 1e-5, 4096),
                 {"meta-llama/Llama-2-70b-chat-hf"}});
    e.push_back(
        {make("meta-llama/Meta-Llama-3-8B", 4096, 32, 32, 8, 14336, 128256, 5e5, 1e-5, 8192),
         {"meta-llama/Meta-Llama-3-8B-Instruct"}});
    e.push_back(
        {make("meta-llama/Meta-Llama-3-70B", 8192, 80, 64, 8, 28672, 128256, 5e5, 1e-5, 8192),
         {"meta-llama/Meta-Llama-3-70B-Instruct"}});
    ModelConfig l31_8 =
        make("meta-llama/Llama-3.1-8B", 4096, 32, 32, 8, 14336, 128256, 5e5, 1e-5, 131072);
    l31_8.rope_scaling = RopeScalingLlama3{};
    e.push_back({l31_8,
                 {"meta-llama/Meta-Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct",
                  "meta-llama/Meta-Llama-3.1-8B-Instruct"}});
    ModelConfig l31_70 =
        make("meta-llama/Llama-3.1-70B", 8192, 80, 64, 8, 28672, 128256, 5e5, 1e-5, 131072);
    l31_70.rope_scaling = RopeScalingLlama3{};
    e.push_back({l31_70,
                 {"meta-llama/Meta-Llama-3.1-70B", "meta-llama/Llama-3.1-70B-Instruct",
                  "meta-llama/Meta-Llama-3.1-70B-Instruct"}});
    ModelConfig mistral =
        make("mistralai/Mistral-7B-v0.1", 4096, 32, 32, 8, 14336, 32000, 1e4, 1e-5, 32768);
    mistral.sliding_window = 4096;
    e.push_back({mistral, {"mistralai/Mistral-7B-Instruct-v0.1"}});
    // Test shapes: GQA, MHA, and a CPU benchmark size. Random weights; vocab sized for speed.
    e.push_back({make("tiny", 64, 2, 4, 2, 160, 256, 1e4, 1e-5, 512), {}});
    e.push_back({make("tiny-mha", 48, 2, 4, 4, 128, 128, 1e4, 1e-5, 512), {}});
    e.push_back({make("small", 256, 4, 8, 4, 688, 2048, 1e4, 1e-5, 2048), {}});
    return e;
  }();
  return entries;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string without_org(const std::string& id) {
  const auto slash = id.find('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

const ModelConfig* find_builtin(const std::string& name) {
  const std::string want = lower(name);
  const bool has_org = want.find('/') != std::string::npos;
  for (const auto& e : builtin_entries()) {
    std::vector<std::string> ids = e.aliases;
    ids.insert(ids.begin(), e.config.name);
    for (const auto& id : ids) {
      const std::string l = lower(id);
      if (l == want || (!has_org && lower(without_org(id)) == want)) return &e.config;
    }
  }
  return nullptr;
}

// A required integer key of config.json, inside [1, max]; the message names file and key.
int64_t int_field(const nlohmann::json& j, const char* key, const std::string& where, int64_t max) {
  const auto v = json_int_member(j, key, where, 1, max);
  if (!v) throw usage_error(fmt::format("{}: missing key \"{}\"", where, key));
  return *v;
}

double number_field(const nlohmann::json& j, const char* key, const std::string& where,
                    double max) {
  const auto v = json_number_member(j, key, where, 0, max);
  if (!v) throw usage_error(fmt::format("{}: missing key \"{}\"", where, key));
  return *v;
}

std::optional<fs::path> find_in_hf_cache(const std::string& name, const fs::path& hub) {
  if (name.find('/') == std::string::npos || hub.empty()) return std::nullopt;
  std::string folder = "models--" + name;
  for (size_t p = 0; (p = folder.find('/', p)) != std::string::npos;) folder.replace(p, 1, "--");
  std::error_code ec;
  if (!fs::is_directory(hub, ec)) return std::nullopt;
  // Hub folder names keep the id's case; match case-insensitively.
  for (const auto& entry : fs::directory_iterator(hub, ec)) {
    if (lower(entry.path().filename().string()) != lower(folder)) continue;
    std::vector<fs::path> configs;
    for (const auto& snap : fs::directory_iterator(entry.path() / "snapshots", ec)) {
      if (fs::is_regular_file(snap.path() / "config.json", ec)) {
        configs.push_back(snap.path() / "config.json");
      }
    }
    if (configs.empty()) continue;
    // Prefer the snapshot that refs/main names, else the newest.
    std::string main_ref;
    try {
      main_ref = read_file(entry.path() / "refs" / "main");
      while (!main_ref.empty() && std::isspace(static_cast<unsigned char>(main_ref.back()))) {
        main_ref.pop_back();
      }
    } catch (const Error&) {
    }
    for (const auto& c : configs) {
      if (!main_ref.empty() && c.parent_path().filename() == main_ref) return c;
    }
    std::sort(configs.begin(), configs.end(), [](const fs::path& a, const fs::path& b) {
      std::error_code e1, e2;
      return fs::last_write_time(a, e1) > fs::last_write_time(b, e2);
    });
    return configs.front();
  }
  return std::nullopt;
}

ModelConfig load_config_file(const fs::path& file, const std::string& name) {
  return model_config_from_hf_json(read_json_file(file), name, file.string());
}

}  // namespace

const std::vector<ModelConfig>& builtin_models() {
  static const std::vector<ModelConfig> models = [] {
    std::vector<ModelConfig> m;
    for (const auto& e : builtin_entries()) m.push_back(e.config);
    return m;
  }();
  return models;
}

std::vector<std::string> builtin_model_names() {
  std::vector<std::string> names;
  for (const auto& m : builtin_models()) names.push_back(m.name);
  return names;
}

ModelConfig model_config_from_hf_json(const nlohmann::json& j, const std::string& name,
                                      const std::string& source) {
  const std::string& where = source;
  if (!j.is_object()) throw usage_error(fmt::format("{}: not a JSON object", where));
  const std::string type = json_string_member(j, "model_type", where).value_or("");
  if (type != "llama" && type != "mistral") {
    throw usage_error(fmt::format(
        "{}: model_type \"{}\" is not supported (supported: llama, mistral)", where, type));
  }
  ModelConfig c;
  c.name = name;
  c.source = source;
  c.hidden_size = int_field(j, "hidden_size", where, kMaxHidden);
  c.num_layers = int_field(j, "num_hidden_layers", where, kMaxLayers);
  c.num_heads = int_field(j, "num_attention_heads", where, kMaxHeads);
  c.num_kv_heads =
      json_int_member(j, "num_key_value_heads", where, 1, kMaxHeads).value_or(c.num_heads);
  c.intermediate_size = int_field(j, "intermediate_size", where, kMaxIntermediate);
  c.vocab_size = int_field(j, "vocab_size", where, kMaxVocab);
  c.max_position_embeddings = int_field(j, "max_position_embeddings", where, kMaxPositions);
  // Defaults (for an absent key only) are those of transformers' LlamaConfig / MistralConfig.
  c.rope_theta = json_number_member(j, "rope_theta", where, 0, 1e12).value_or(10000.0);
  c.norm_eps = json_number_member(j, "rms_norm_eps", where, 0, 1).value_or(1e-6);
  if (json_bool_member(j, "tie_word_embeddings", where).value_or(false)) {
    throw usage_error(
        fmt::format("{}: tie_word_embeddings true is not supported (the engine "
                    "trains an untied output head)",
                    where));
  }
  if (json_bool_member(j, "attention_bias", where).value_or(false) ||
      json_bool_member(j, "mlp_bias", where).value_or(false)) {
    throw usage_error(fmt::format("{}: attention_bias/mlp_bias are not supported", where));
  }
  const std::string act = json_string_member(j, "hidden_act", where).value_or("silu");
  if (act != "silu") {
    throw usage_error(
        fmt::format("{}: hidden_act \"{}\" is not supported (silu only)", where, act));
  }
  if (const auto head_dim = json_int_member(j, "head_dim", where, 1, kMaxHeads)) {
    const int64_t hd = *head_dim;
    if (c.num_heads > 0 && hd * c.num_heads != c.hidden_size) {
      throw usage_error(
          fmt::format("{}: head_dim {} x num_attention_heads {} != hidden_size {} "
                      "is not supported",
                      where, hd, c.num_heads, c.hidden_size));
    }
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const auto& rs = j["rope_scaling"];
    const std::string rsw = where + " rope_scaling";
    if (!rs.is_object()) {
      throw usage_error(fmt::format("{}: key \"rope_scaling\" must be an object or null", where));
    }
    const std::string rt = json_string_member(rs, "rope_type", rsw)
                               .value_or(json_string_member(rs, "type", rsw).value_or(""));
    if (rt != "llama3") {
      throw usage_error(
          fmt::format("{}: rope_scaling type \"{}\" is not supported (llama3 only)", where, rt));
    }
    RopeScalingLlama3 s;
    s.factor = number_field(rs, "factor", rsw, 1e6);
    s.low_freq_factor = number_field(rs, "low_freq_factor", rsw, 1e6);
    s.high_freq_factor = number_field(rs, "high_freq_factor", rsw, 1e6);
    s.original_max_position_embeddings =
        int_field(rs, "original_max_position_embeddings", rsw, kMaxPositions);
    c.rope_scaling = s;
  }
  if (type == "mistral" && j.contains("sliding_window") && !j["sliding_window"].is_null()) {
    c.sliding_window = int_field(j, "sliding_window", where, kMaxPositions);
  }
  c.validate();
  return c;
}

namespace {

std::optional<ModelConfig> resolve_local(const std::string& name, const fs::path& hub_cache) {
  if (name.empty()) throw usage_error("no model given (--model or MODEL_NAME)");
  std::error_code ec;
  if (fs::is_directory(name, ec)) {
    const fs::path file = fs::path(name) / "config.json";
    if (!fs::is_regular_file(file, ec)) {
      throw usage_error(fmt::format("model directory {} has no config.json", name));
    }
    return load_config_file(file, fs::path(name).lexically_normal().string());
  }
  if (const ModelConfig* m = find_builtin(name)) return *m;
  if (auto file = find_in_hf_cache(name, hub_cache)) return load_config_file(*file, name);
  return std::nullopt;
}

Error unknown_model(const std::string& name, const std::string& why) {
  std::string known;
  for (const auto& n : builtin_model_names()) known += (known.empty() ? "" : ", ") + n;
  return usage_error(fmt::format("unknown model \"{}\" ({}); built-in models: {}", name, why,
                                 known));
}

}  // namespace

ModelConfig resolve_model(const std::string& name) {
  if (auto m = resolve_local(name, hub::default_cache_dir())) return *m;
  throw unknown_model(name, "not a directory with config.json, not in the Hugging Face cache");
}

ModelConfig resolve_model(const std::string& name, const hub::HubSettings& hub) {
  if (auto m = resolve_local(name, hub.cache_dir)) return *m;
  // Hub ids name an organisation; a bare word is a mistyped built-in name more often than a hub
  // repository, and a path that is no directory is no hub id: both get the list, not a request.
  if (!hub::is_org_repo_id(name)) {
    throw unknown_model(name, "not a directory with config.json, not a hub id org/name");
  }
  if (hub.offline) {
    throw unknown_model(name, fmt::format("not a directory with config.json, not in the hub "
                                          "cache {}, and HF_HUB_OFFLINE is set",
                                          hub.cache_dir.string()));
  }
  const hub::HubFile f = hub::hub_download(hub, name, "config.json", "main");
  return load_config_file(f.path, name);
}

}  // namespace sxb
