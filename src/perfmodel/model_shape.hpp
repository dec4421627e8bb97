#pragma once
// The performance model's view of a model, from the training engine's model registry.
#include <string>

#include "perfmodel/perf_model.hpp"
#include "train/model_config.hpp"

namespace sxb {

ModelShape model_shape(const ModelConfig& m);
// Resolves a model by Hugging Face id, built-in name or directory (see resolve_model).
ModelShape model_shape(const std::string& name, const std::string& hf_home = "");

}  // namespace sxb
