#pragma once
// A model's dimensions as the performance model, the plan, the claims checks, the FLOP counts
// (model/flops.hpp) and the recomputation modes (model/recompute.hpp) use them, taken from the
// model registry (model_config.hpp): model_shape(ModelConfig) is the one way to make one, apart
// from the dimensions a recorded run reports.
#include <cstdint>
#include <string>

#include "model/model_config.hpp"

namespace sxb {

struct ModelShape {
  std::string name;
  int64_t hidden = 0;    // d
  int64_t layers = 0;    // L
  int64_t heads = 0;     // query heads
  int64_t kv_heads = 0;  // key/value heads (GQA when < heads)
  int64_t ffn = 0;       // SwiGLU intermediate width
  int64_t vocab = 0;     // V
  int64_t params = 0;    // N, all parameters (embeddings and head included); exact counts
                         // come from the model registry (model_shape below)

  int64_t head_dim() const { return hidden / heads; }
  int64_t kv_dim() const { return kv_heads * head_dim(); }  // width of k and of v
};

ModelShape model_shape(const ModelConfig& m);
// Resolves a model by Hugging Face id, built-in name or directory (see resolve_model).
ModelShape model_shape(const std::string& name, const hub::HubSettings& hub);
// The same without downloading (resolve_model(name)).
ModelShape model_shape(const std::string& name);

}  // namespace sxb
