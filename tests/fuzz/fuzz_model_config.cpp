// Hugging Face config.json (train/plan --model DIR): JSON text -> model_config_from_hf_json,
// then the sizes the engines and the planner derive from it.
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "fuzz_contract.hpp"
#include "model/model_config.hpp"
#include "model/model_shape.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sxb;
  nlohmann::json j;
  if (!fuzz::parses([&] { j = parse_json_text(fuzz::as_text(data, size), "m/config.json"); })) {
    return 0;
  }
  ModelConfig m;
  if (!fuzz::parses([&] { m = model_config_from_hf_json(j, "m", "m/config.json"); })) return 0;
  fuzz::parses([&] {
    m.validate();
    (void)m.param_count();
    (void)m.matmul_param_count();
    (void)m.parameter_unit_sizes();
    (void)m.to_json().dump();
    (void)model_shape(m);
  });
  return 0;
}
