// Claims files (sxbench validate FILE): JSON text -> validate_claims against the shipped
// hardware specs, with models resolved by the built-in registry as validate does.
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/hardware.hpp"
#include "fuzz_contract.hpp"
#include "hub/hub_cache.hpp"
#include "model/model_shape.hpp"
#include "validate/claims.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sxb;
  static const std::vector<HardwareSpec> specs = load_hardware_specs(find_config_dir() / "hardware");
  nlohmann::json j;
  if (!fuzz::parses([&] { j = parse_json_text(fuzz::as_text(data, size), "claims.json"); })) {
    return 0;
  }
  // A nonexistent hub cache, offline: model lookups stay on the built-in names, away from the
  // machine's Hugging Face cache and from the network.
  hub::HubSettings hub;
  hub.cache_dir = "/nonexistent/hub";
  hub.offline = true;
  fuzz::parses([&] {
    const auto findings = validate_claims(
        j, specs, [&](const std::string& model) { return model_shape(model, hub); }, "claims.json");
    for (const auto& f : findings) {
      if (f.subject.find('\n') != std::string::npos) {
        fuzz::contract_broken("finding subject spans lines", f.subject);
      }
    }
  });
  return 0;
}
