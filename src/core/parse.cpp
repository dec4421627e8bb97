#include "core/parse.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/units.hpp"

namespace sxb {

namespace {

Error invalid(std::string_view what, std::string_view text, std::string_view expected) {
  return usage_error(
      fmt::format("invalid {} '{}': expected {}", what, quoted_excerpt(text), expected));
}

// A double as a message shows it: integral values without an exponent up to 1e15.
std::string number_text(double v) {
  if (std::fabs(v) < 1e15 && v == std::floor(v)) return fmt::format("{:.0f}", v);
  return fmt::format("{:g}", v);
}

std::optional<int64_t> strict_int(std::string_view text) {
  std::string_view s = trim_blanks(text);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<double> strict_double(std::string_view text) {
  std::string_view s = trim_blanks(text);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::string json_excerpt(const nlohmann::json& v) {
  return quoted_excerpt(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// JSON values are named by file and key: "<file>: key "k": expected ..., got <value>".
Error invalid_json(std::string_view what, const nlohmann::json& v, std::string_view expected) {
  return usage_error(fmt::format("{}: expected {}, got {}", what, expected, json_excerpt(v)));
}

}  // namespace

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= text.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

std::string quoted_excerpt(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 40)) {
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  if (text.size() > 40) out += "...";
  return out;
}

int64_t parse_int(std::string_view text, std::string_view what) {
  const auto v = strict_int(text);
  if (!v) throw invalid(what, text, "an integer");
  return *v;
}

double parse_double(std::string_view text, std::string_view what) {
  const auto v = strict_double(text);
  if (!v) throw invalid(what, text, "a number");
  return *v;
}

bool parse_bool(std::string_view text, std::string_view what) {
  std::string s(trim_blanks(text));
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  throw invalid(what, text, "true/false, yes/no, on/off or 1/0");
}

int64_t parse_int_in(std::string_view text, std::string_view what, int64_t min, int64_t max) {
  const auto v = strict_int(text);
  if (!v || *v < min || *v > max) {
    throw invalid(what, text, fmt::format("an integer from {} to {}", min, max));
  }
  return *v;
}

double parse_number_in(std::string_view text, std::string_view what, double min, double max) {
  const auto v = strict_double(text);
  if (!v || *v < min || *v > max) {
    throw invalid(what, text,
                  fmt::format("a number from {} to {}", number_text(min), number_text(max)));
  }
  return *v;
}

uint64_t parse_size_bytes(std::string_view text, std::string_view what) {
  std::string_view s = trim_blanks(text);
  auto bad = [&] { return invalid(what, text, "bytes such as 8, 64K, 1M or 8G"); };
  if (s.empty()) throw bad();
  uint64_t mult = 1;
  // Accept optional "B", "iB" suffixes after the multiplier letter.
  if (s.size() >= 3 && (s.substr(s.size() - 2) == "iB" || s.substr(s.size() - 2) == "ib")) {
    s.remove_suffix(2);
  } else if (s.size() >= 2 && (s.back() == 'B' || s.back() == 'b') &&
             !std::isdigit(static_cast<unsigned char>(s[s.size() - 2]))) {
    s.remove_suffix(1);
  }
  switch (s.empty() ? '\0' : s.back()) {
    case 'K':
    case 'k':
      mult = kKiB;
      break;
    case 'M':
    case 'm':
      mult = kMiB;
      break;
    case 'G':
    case 'g':
      mult = kGiB;
      break;
    case 'T':
    case 't':
      mult = 1024ull * kGiB;
      break;
    default:
      break;
  }
  if (mult != 1) s.remove_suffix(1);
  if (s.empty()) throw bad();
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) throw bad();
  if (value > kUint64Max / mult) throw bad();
  return value * mult;
}

uint64_t parse_size_in(std::string_view text, std::string_view what, uint64_t min, uint64_t max) {
  uint64_t v = 0;
  bool ok = true;
  try {
    v = parse_size_bytes(text, what);
  } catch (const Error&) {
    ok = false;
  }
  if (!ok || v < min || v > max) {
    throw invalid(
        what, text,
        fmt::format("bytes from {} to {} (suffixes K, M, G, T)",
                    min < kKiB ? fmt::format("{}", min) : format_bytes(min), format_bytes(max)));
  }
  return v;
}

uint64_t checked_product(std::initializer_list<uint64_t> factors, std::string_view what,
                         uint64_t ceiling) {
  uint64_t p = 1;
  bool overflow = false;
  for (uint64_t f : factors) {
    if (f != 0 && p > kUint64Max / f) {
      overflow = true;
      p = kUint64Max;
    } else if (!overflow) {
      p *= f;
    }
  }
  for (uint64_t f : factors) {
    if (f == 0) return 0;
  }
  if (overflow) throw usage_error(fmt::format("{} overflows 64 bits", what));
  if (p > ceiling) {
    throw usage_error(fmt::format("{} = {} exceeds the limit of {}", what, p, ceiling));
  }
  return p;
}

uint64_t checked_sum(uint64_t a, uint64_t b, std::string_view what, uint64_t ceiling) {
  if (a > kUint64Max - b) throw usage_error(fmt::format("{} overflows 64 bits", what));
  if (a + b > ceiling) {
    throw usage_error(fmt::format("{} = {} exceeds the limit of {}", what, a + b, ceiling));
  }
  return a + b;
}

int64_t json_int(const nlohmann::json& v, std::string_view what, int64_t min, int64_t max) {
  auto bad = [&] {
    return invalid_json(what, v, fmt::format("an integer from {} to {}", min, max));
  };
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    const int64_t n = v.get<int64_t>();
    if (n < min || n > max) throw bad();
    return n;
  }
  if (v.is_number_unsigned()) {
    const uint64_t n = v.get<uint64_t>();
    if (n > uint64_t(kInt64Max) || int64_t(n) < min || int64_t(n) > max) throw bad();
    return int64_t(n);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // Integral and inside the int64 range before converting (the conversion is exact there).
    if (!std::isfinite(d) || d != std::floor(d) || d < -9.2e18 || d > 9.2e18) throw bad();
    const int64_t n = static_cast<int64_t>(d);
    if (n < min || n > max) throw bad();
    return n;
  }
  throw bad();
}

double json_number(const nlohmann::json& v, std::string_view what, double min, double max) {
  const double d = v.is_number() ? v.get<double>() : std::nan("");
  if (!std::isfinite(d) || d < min || d > max) {
    throw invalid_json(what, v,
                       fmt::format("a number from {} to {}", number_text(min), number_text(max)));
  }
  return d;
}

std::string json_string(const nlohmann::json& v, std::string_view what) {
  if (!v.is_string()) throw invalid_json(what, v, "a string");
  return v.get<std::string>();
}

bool json_bool(const nlohmann::json& v, std::string_view what) {
  if (!v.is_boolean()) throw invalid_json(what, v, "true or false");
  return v.get<bool>();
}

std::string json_key_name(std::string_view where, std::string_view key) {
  return fmt::format("{}: key \"{}\"", where, key);
}

namespace {
const nlohmann::json* member(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}
}  // namespace

std::optional<int64_t> json_int_member(const nlohmann::json& object, std::string_view key,
                                       std::string_view where, int64_t min, int64_t max) {
  const auto* v = member(object, key);
  if (!v) return std::nullopt;
  return json_int(*v, json_key_name(where, key), min, max);
}

std::optional<double> json_number_member(const nlohmann::json& object, std::string_view key,
                                         std::string_view where, double min, double max) {
  const auto* v = member(object, key);
  if (!v) return std::nullopt;
  return json_number(*v, json_key_name(where, key), min, max);
}

std::optional<std::string> json_string_member(const nlohmann::json& object, std::string_view key,
                                              std::string_view where) {
  const auto* v = member(object, key);
  if (!v) return std::nullopt;
  return json_string(*v, json_key_name(where, key));
}

std::optional<bool> json_bool_member(const nlohmann::json& object, std::string_view key,
                                     std::string_view where) {
  const auto* v = member(object, key);
  if (!v) return std::nullopt;
  return json_bool(*v, json_key_name(where, key));
}

}  // namespace sxb
