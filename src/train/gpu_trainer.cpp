#include "train/gpu_trainer.hpp"

#include "core/error.hpp"

namespace sxb {

std::string check_recompute_setting(const std::string& value) {
  if (value == "auto" || value == "none" || value == "selective" || value == "full") return value;
  throw usage_error("--recompute must be auto, none, selective or full (got '" + value + "')");
}

}  // namespace sxb
