// DeepSpeed configs (train --ds-config): JSON text -> parse_ds_config -> the batch plan for a
// few world sizes and the reduce bucket for a built-in model, as train resolves them.
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "fuzz_contract.hpp"
#include "model/ds_config.hpp"
#include "model/model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sxb;
  nlohmann::json j;
  if (!fuzz::parses([&] { j = parse_json_text(fuzz::as_text(data, size), "ds_config.json"); })) {
    return 0;
  }
  DsConfig c;
  if (!fuzz::parses([&] { c = parse_ds_config(j, "ds_config.json"); })) return 0;
  fuzz::parses([&] { (void)c.to_json().dump(); });
  fuzz::parses([&] { (void)c.reduce_bucket_elements(builtin_models().front()); });
  for (const int64_t world : {1, 2, 8, 16384}) {
    fuzz::parses([&] { (void)resolve_batch(c, world).to_json().dump(); });
    fuzz::parses([&] { (void)resolve_batch(c, world, 3, "--micro-batch").to_json().dump(); });
  }
  return 0;
}
