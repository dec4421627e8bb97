#include "core/result_schema.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "core/error.hpp"

namespace sxb {

using json = nlohmann::json;

std::string pointer_child(const std::string& parent, std::string_view key) {
  std::string out = parent + "/";
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view json_error_text(const json::exception& e) {
  std::string_view why = e.what();
  if (const size_t tag = why.find("] "); why.starts_with("[json.exception") && tag != why.npos) {
    why.remove_prefix(tag + 2);
  }
  return why;
}

std::string json_error_line(const std::string& file, const json::exception& e) {
  const std::string_view what = json_error_text(e);
  // With the library's diagnostics the message starts with "(pointer) ".
  if (what.starts_with("(")) {
    const size_t close = what.find(") ");
    if (close != std::string_view::npos) {
      const std::string_view pointer = what.substr(1, close - 1);
      return fmt::format("{}: {}: {}", file, pointer.empty() ? "/" : pointer,
                         what.substr(close + 2));
    }
  }
  return fmt::format("{}: {}", file, what);
}

void rethrow_located(std::string_view file, std::string_view step) {
  std::string message;
  ExitCode code = ExitCode::usage;
  try {
    throw;
  } catch (const Error& e) {
    message = e.what();
    code = e.code();
  } catch (const json::exception& e) {
    message = json_error_line(std::string(file), e);
  }
  static constexpr std::string_view kAt = " (at /";
  const size_t at = message.rfind(kAt);
  if (at != std::string::npos && message.back() == ')') {
    message.insert(at + kAt.size(), std::string(step) + "/");
  } else {
    message += fmt::format(" (at /{})", step);
  }
  throw Error(message, code);
}

void check_schema_version(const json& j, const std::string& file, const std::string& name,
                          int current, int absent_is) {
  const std::string expected = fmt::format("sxbench.{}/{}", name, current);
  int version = absent_is;
  if (!j.is_object()) {
    throw usage_error(fmt::format("{}: /: expected an object, found {}", file, j.type_name()));
  }
  if (j.contains("schema")) {
    const json& v = j["schema"];
    const std::string prefix = fmt::format("sxbench.{}/", name);
    const std::string text = v.is_string() ? v.get<std::string>() : std::string();
    if (!v.is_string() || !text.starts_with(prefix)) {
      throw usage_error(fmt::format("{}: /schema: expected \"{}\", found {}", file, expected,
                                    v.dump()));
    }
    try {
      size_t used = 0;
      version = std::stoi(text.substr(prefix.size()), &used);
      if (used != text.size() - prefix.size() || version < 1) throw std::invalid_argument(text);
    } catch (const std::exception&) {
      throw usage_error(fmt::format("{}: /schema: expected \"{}\", found {}", file, expected,
                                    v.dump()));
    }
  } else if (absent_is == 0) {
    throw usage_error(fmt::format("{}: /schema: missing (expected \"{}\"): not written by "
                                  "sxbench, or by a version before result files carried one; "
                                  "re-run with this version",
                                  file, expected));
  }
  if (version < current) {
    throw usage_error(fmt::format("{}: written by an older sxbench (sxbench.{}/{}; this version "
                                  "reads {}): re-run with this version",
                                  file, name, version, expected));
  }
  if (version > current) {
    throw usage_error(fmt::format("{}: written by a newer sxbench (sxbench.{}/{}; this version "
                                  "reads {}): read it with that version or newer",
                                  file, name, version, expected));
  }
}

}  // namespace sxb
