#include "core/units.hpp"

#include <charconv>
#include <cmath>
#include <ctime>
#include <fmt/format.h>
#include <limits>

#include "core/error.hpp"

namespace sxb {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

uint64_t parse_size_bytes(std::string_view text, std::string_view what) {
  std::string_view s = trim(text);
  auto bad = [&] {
    return usage_error(fmt::format("invalid {} '{}': expected bytes such as 8, 64K, 1M or 8G",
                                   what, text));
  };
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
    case 'K': case 'k': mult = kKiB; break;
    case 'M': case 'm': mult = kMiB; break;
    case 'G': case 'g': mult = kGiB; break;
    case 'T': case 't': mult = 1024ull * kGiB; break;
    default: break;
  }
  if (mult != 1) s.remove_suffix(1);
  if (s == "" ) throw bad();
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) throw bad();
  if (value > std::numeric_limits<uint64_t>::max() / mult) throw bad();
  return value * mult;
}

std::string format_bytes(uint64_t bytes) {
  static const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int i = 0;
  while (v >= 1024.0 && i < 4) {
    v /= 1024.0;
    ++i;
  }
  if (i == 0) return fmt::format("{} B", bytes);
  if (std::fabs(v - std::round(v)) < 1e-9) return fmt::format("{:.0f} {}", v, names[i]);
  return fmt::format("{:.3g} {}", v, names[i]);
}

int64_t parse_int(std::string_view text, std::string_view what) {
  std::string_view s = trim(text);
  int64_t value = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
    throw usage_error(fmt::format("invalid {} '{}': expected an integer", what, text));
  }
  return value;
}

double parse_double(std::string_view text, std::string_view what) {
  std::string_view s = trim(text);
  double value = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(value)) {
    throw usage_error(fmt::format("invalid {} '{}': expected a number", what, text));
  }
  return value;
}

bool parse_bool(std::string_view text, std::string_view what) {
  std::string s(trim(text));
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  throw usage_error(fmt::format("invalid {} '{}': expected true/false, yes/no, on/off or 1/0",
                                what, text));
}

std::vector<std::string_view> split_comma_list(std::string_view list) {
  std::vector<std::string_view> items;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    items.push_back(trim(list.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return items;
}

std::vector<uint64_t> size_sweep(uint64_t min_bytes, uint64_t max_bytes, double factor,
                                 uint64_t step_bytes) {
  if (min_bytes == 0) throw usage_error("minimum size must be at least 1 byte");
  if (max_bytes < min_bytes) {
    throw usage_error(fmt::format("maximum size {} is below minimum size {}", max_bytes, min_bytes));
  }
  if (factor <= 1.0 && step_bytes == 0) {
    throw usage_error("size step: give a factor > 1 (-f) or a step in bytes > 0 (-i)");
  }
  std::vector<uint64_t> sizes;
  for (uint64_t s = min_bytes; s <= max_bytes;) {
    sizes.push_back(s);
    uint64_t next = factor > 1.0 ? static_cast<uint64_t>(static_cast<double>(s) * factor)
                                 : s + step_bytes;
    if (next <= s) next = s + 1;  // factors close to 1 must still advance
    s = next;
  }
  return sizes;
}

namespace {
std::string utc_format(const char* f) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, f, &tm);
  return buf;
}
}  // namespace

std::string utc_iso8601_now() { return utc_format("%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_compact_now() { return utc_format("%Y%m%dT%H%M%SZ"); }

}  // namespace sxb
