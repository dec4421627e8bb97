#include "model/model_shape.hpp"

namespace sxb {

ModelShape model_shape(const ModelConfig& m) {
  return {m.name,         m.hidden_size,       m.num_layers, m.num_heads,
          m.num_kv_heads, m.intermediate_size, m.vocab_size, m.param_count()};
}

ModelShape model_shape(const std::string& name) { return model_shape(resolve_model(name)); }

ModelShape model_shape(const std::string& name, const hub::HubSettings& hub) {
  return model_shape(resolve_model(name, hub));
}

}  // namespace sxb
