#pragma once
// Llama-architecture decoder shapes: built-in Hugging Face models and tiny test shapes, or a
// config.json from a local directory, the Hugging Face cache or the hub. The parameter layout below
// is the one the CPU reference allocates, so param_count() is exact for both.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "hub/hub_cache.hpp"

namespace sxb {

// Llama 3 frequency-dependent RoPE scaling (rope_scaling.rope_type == "llama3").
struct RopeScalingLlama3 {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string name;               // Hugging Face id or test-shape name
  std::string source;             // "built-in", or the config.json path it was read from
  int64_t hidden_size = 0;        // d
  int64_t num_layers = 0;         // L
  int64_t num_heads = 0;          // query heads H
  int64_t num_kv_heads = 0;       // key/value heads (== H: MHA, < H: GQA)
  int64_t intermediate_size = 0;  // SwiGLU width
  int64_t vocab_size = 0;         // V
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  int64_t max_position_embeddings = 0;
  std::optional<RopeScalingLlama3> rope_scaling;
  std::optional<int64_t> sliding_window;  // Mistral: a query sees at most this many keys

  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t kv_dim() const { return num_kv_heads * head_dim(); }

  // Per decoder layer: attention RMSNorm (d), Wq (d x d), Wk and Wv (kv_dim x d), Wo (d x d),
  // MLP RMSNorm (d), W_gate and W_up (ffn x d), W_down (d x ffn). No biases.
  int64_t params_per_layer() const;
  // Token embedding (V x d) + L layers + final RMSNorm (d) + untied output head (V x d).
  int64_t param_count() const;
  // Elements of the parameter units, in buffer order: the embedding (V x d), each decoder layer
  // (params_per_layer), the final RMSNorm with the output head (d + V x d). L + 2 sizes summing to
  // param_count(); the units the engines gather and reduce one at a time (cpu::parameter_units
  // gives their ranges in the flat buffer).
  std::vector<int64_t> parameter_unit_sizes() const;
  // Parameters that take part in matrix multiplies: all but the embedding table and the norm
  // weights (N without the embedding table, reported next to the PaLM figure).
  int64_t matmul_param_count() const;

  // Throws sxb::Error naming the first inconsistent field.
  void validate() const;
  nlohmann::json to_json() const;
};

// Built-in shapes, in listing order. Names are Hugging Face ids ("meta-llama/Llama-2-7b-hf")
// or test shapes ("tiny", "tiny-mha", "small").
const std::vector<ModelConfig>& builtin_models();
std::vector<std::string> builtin_model_names();

// Parses a Hugging Face config.json (model_type llama or mistral). Throws sxb::Error naming the
// file and key on anything the engine cannot train faithfully.
ModelConfig model_config_from_hf_json(const nlohmann::json& j, const std::string& name,
                                      const std::string& source);

// The Hugging Face config.json of a shape (model_type llama, or mistral with a sliding window):
// model_config_from_hf_json reads it back to the same shape.
nlohmann::json hf_config_json(const ModelConfig& c);

// Resolves `name`: an existing directory holding config.json; a built-in name or Hugging Face
// id (case-insensitive, with or without the organisation); a snapshot in the hub cache
// (models--org--name/snapshots/*/config.json, the one refs/main names first); else, for an
// org/name id and unless hub.offline, config.json downloaded from the hub (hub/hub_download.hpp).
// Unknown: one-line sxb::Error listing the built-in names; a failed download: the hub's line.
ModelConfig resolve_model(const std::string& name, const hub::HubSettings& hub);
// The same without downloading: the hub cache is the one the process environment names
// (hub::default_cache_dir()).
ModelConfig resolve_model(const std::string& name);

}  // namespace sxb
