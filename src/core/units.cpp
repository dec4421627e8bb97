#include "core/units.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <fmt/format.h>
#include <limits>

#include "core/error.hpp"
#include "core/parse.hpp"

namespace sxb {

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

std::vector<std::string_view> split_comma_list(std::string_view list) {
  std::vector<std::string_view> items;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    items.push_back(trim_blanks(list.substr(
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
  if (!std::isfinite(factor)) throw usage_error("size step factor (-f) must be a finite number");
  if (factor <= 1.0 && step_bytes == 0) {
    throw usage_error("size step: give a factor > 1 (-f) or a step in bytes > 0 (-i)");
  }
  // The next size; false when it would pass 2^64 (the sweep ends there instead of wrapping).
  auto advance = [&](uint64_t& s) {
    if (factor > 1.0) {
      const double n = static_cast<double>(s) * factor;
      if (n >= 18446744073709551616.0) return false;
      s = std::max(static_cast<uint64_t>(n), s + 1);  // factors close to 1 must still advance
      return true;
    }
    if (s > std::numeric_limits<uint64_t>::max() - step_bytes) return false;
    s += step_bytes;
    return true;
  };
  uint64_t count = 0;
  for (uint64_t s = min_bytes; s <= max_bytes;) {
    if (++count > kMaxSweepSizes) {
      throw usage_error(fmt::format(
          "the size sweep from {} to {} bytes has more than {} sizes; raise the step (-f, -i) or "
          "narrow the range (-b, -e)",
          min_bytes, max_bytes, kMaxSweepSizes));
    }
    if (!advance(s)) break;
  }
  std::vector<uint64_t> sizes;
  sizes.reserve(count);
  for (uint64_t s = min_bytes; sizes.size() < count; advance(s)) sizes.push_back(s);
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
