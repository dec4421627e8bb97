#include "train/tokenizer.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "hub/hub_download.hpp"

namespace sxb {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSpmFile = "tokenizer.model";
constexpr const char* kBpeFile = "tokenizer.json";
constexpr const char* kConfigFile = "tokenizer_config.json";

// A special token of tokenizer_config.json: "text", {"content": "text", ...} or null.
std::optional<std::string> config_token(const nlohmann::json& c, const char* key,
                                        const std::string& where) {
  if (!c.contains(key) || c[key].is_null()) return std::nullopt;
  const auto& v = c[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  throw usage_error(fmt::format("{}: \"{}\" must be a string or {{\"content\": ...}}", where, key));
}

}  // namespace

TokenizerFiles find_tokenizer_files(const std::string& name, const hub::HubSettings& hub) {
  TokenizerFiles f;
  f.name = name;
  if (name.empty()) throw usage_error("no tokenizer given (--tokenizer or --model)");
  std::error_code ec;
  if (fs::is_directory(name, ec)) {
    f.dir = fs::path(name);
    for (const char* file : {kSpmFile, kBpeFile}) {
      if (fs::is_regular_file(f.dir / file, ec)) {
        f.tokenizer_file = f.dir / file;
        break;
      }
    }
    if (f.tokenizer_file.empty()) {
      throw usage_error(fmt::format("tokenizer directory {} has neither {} nor {}", name, kSpmFile,
                                    kBpeFile));
    }
    if (fs::is_regular_file(f.dir / kConfigFile, ec)) f.config_file = f.dir / kConfigFile;
    return f;
  }
  if (!hub::is_org_repo_id(name)) {
    throw usage_error(fmt::format("tokenizer \"{}\": not a directory and not a hub id org/name",
                                  quoted_excerpt(name)));
  }
  // A file of the repository, or none when the repository does not have it (offline: when the
  // cache does not hold it).
  auto optional_file = [&](const char* file) -> std::optional<fs::path> {
    if (hub.offline) return hub::cached_file(hub.cache_dir, name, file, "main");
    try {
      return hub::hub_download(hub, name, file, "main").path;
    } catch (const hub::FileNotOnHub&) {
      return std::nullopt;
    }
  };
  if (auto c = optional_file(kConfigFile)) f.config_file = *c;
  for (const char* file : {kSpmFile, kBpeFile}) {
    if (auto p = optional_file(file)) {
      f.tokenizer_file = *p;
      break;
    }
  }
  if (f.tokenizer_file.empty()) {
    throw usage_error(
        hub.offline
            ? fmt::format("hub: {}: neither {} nor {} is in the hub cache {} and HF_HUB_OFFLINE "
                          "is set",
                          name, kSpmFile, kBpeFile, hub.cache_dir.string())
            : fmt::format("hub: {}: the repository has neither {} nor {}", name, kSpmFile,
                          kBpeFile));
  }
  f.dir = f.tokenizer_file.parent_path();
  return f;
}

std::unique_ptr<Tokenizer> load_tokenizer(const TokenizerFiles& files) {
  std::unique_ptr<Tokenizer> t = files.tokenizer_file.filename() == kSpmFile
                                     ? load_sentencepiece(files.tokenizer_file)
                                     : load_bpe_tokenizer_json(files.tokenizer_file);
  if (files.config_file.empty()) return t;
  const std::string where = files.config_file.string();
  const nlohmann::json c = parse_json_text(read_file(files.config_file), where);
  if (!c.is_object()) throw usage_error(fmt::format("{}: not a JSON object", where));
  for (const auto& [key, slot] : {std::pair{"bos_token", &t->bos}, std::pair{"eos_token", &t->eos}}) {
    if (const auto text = config_token(c, key, where)) {
      const auto id = t->token_id(*text);
      if (!id) {
        throw usage_error(fmt::format("{}: {} \"{}\" is not a token of {}", where, key,
                                      quoted_excerpt(*text), t->source));
      }
      *slot = SpecialToken{*text, *id};
    }
  }
  if (c.contains("add_bos_token") && !c["add_bos_token"].is_null()) {
    if (!c["add_bos_token"].is_boolean()) {
      throw usage_error(fmt::format("{}: \"add_bos_token\" must be true or false", where));
    }
    t->add_bos = c["add_bos_token"].get<bool>();
  }
  if (t->add_bos && !t->bos) {
    throw usage_error(fmt::format("{}: add_bos_token is true but no bos_token is named", where));
  }
  if (c.contains("chat_template") && !c["chat_template"].is_null()) {
    const auto& ct = c["chat_template"];
    if (ct.is_string()) {
      t->chat_template = ct.get<std::string>();
    } else if (ct.is_array()) {  // [{"name": "default", "template": "..."}, ...]
      for (const auto& e : ct) {
        if (e.is_object() && e.contains("name") && e["name"] == "default" &&
            e.contains("template") &&
            e["template"].is_string()) {
          t->chat_template = e["template"].get<std::string>();
        }
      }
      if (t->chat_template.empty()) {
        throw usage_error(fmt::format("{}: \"chat_template\" lists no template named default",
                                      where));
      }
    } else {
      throw usage_error(fmt::format("{}: \"chat_template\" must be a string or a list", where));
    }
    t->chat_template_source = where;
  }
  return t;
}

std::unique_ptr<Tokenizer> load_tokenizer_dir(const fs::path& dir) {
  return load_tokenizer(find_tokenizer_files(dir.string(), hub::HubSettings{}));
}

}  // namespace sxb
