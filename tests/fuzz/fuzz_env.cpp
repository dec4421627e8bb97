// .env files: EnvConfig::from_string is what --env FILE and ./.env go through. A file that
// parses must then give every known key a value of its declared kind or a one-line error.
#include <nlohmann/json.hpp>

#include "core/env_config.hpp"
#include "fuzz_contract.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sxb;
  const std::string_view text = fuzz::as_text(data, size);
  EnvConfig env;
  if (!fuzz::parses([&] { env = EnvConfig::from_string(text, ".env"); })) return 0;
  for (const auto& key : known_env_keys()) {
    if (key.environment_only) continue;
    fuzz::parses([&] {
      switch (key.kind) {
        case EnvKind::integer: (void)env.get_int(key.name); break;
        case EnvKind::number: (void)env.get_number(key.name); break;
        case EnvKind::boolean: (void)env.get_bool(key.name); break;
        default: (void)env.get_string(key.name); break;
      }
      (void)env.source(key.name);
    });
  }
  fuzz::parses([&] { (void)env.resolved_redacted().dump(); });
  return 0;
}
