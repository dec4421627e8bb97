#include "train/gpu_trainer.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace sxb {

std::string check_recompute_setting(const std::string& value) {
  if (value == "auto" || value == "none" || value == "selective" || value == "full") return value;
  throw usage_error("--recompute must be auto, none, selective or full (got '" + value + "')");
}

std::string check_grad_dtype_setting(const std::string& value) {
  if (value == "auto" || value == "fp32" || value == "bf16") return value;
  throw usage_error("--grad-dtype must be auto, fp32 or bf16 (got '" + value + "')");
}

}  // namespace sxb
