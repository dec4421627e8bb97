#include "report/doc/number_format.hpp"

#include <fmt/format.h>

#include <cmath>

namespace sxb::report {

std::string grouped(double value, int decimals) {
  if (!std::isfinite(value)) return "-";
  std::string s = fmt::format("{:.{}f}", std::abs(value), decimals);
  const auto dot = s.find('.');
  std::string whole = s.substr(0, dot);
  const std::string frac = dot == std::string::npos ? "" : s.substr(dot);
  std::string out;
  for (size_t i = 0; i < whole.size(); ++i) {
    if (i > 0 && (whole.size() - i) % 3 == 0) out += ',';
    out += whole[i];
  }
  const bool negative = value < 0 && std::stod(s) != 0;
  return (negative ? "-" : "") + out + frac;
}

std::string count_text(double value) {
  return std::abs(value) >= 100 ? grouped(value, 0) : sig3(value);
}

std::string sig3(double value) {
  if (!std::isfinite(value)) return "-";
  const double a = std::abs(value);
  if (a == 0) return "0";
  if (a >= 1000) return grouped(value, 0);
  const int digits = static_cast<int>(std::floor(std::log10(a)));
  const int decimals = std::max(0, 2 - digits);
  return fmt::format("{:.{}f}", value, decimals);
}

std::string duration_text(double seconds, bool ja) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const long long s = std::llround(seconds);
  if (s < 60) return ja ? fmt::format("{} 秒", s) : fmt::format("{} s", s);
  if (s < 3600) {
    return ja ? fmt::format("{} 分 {:02d} 秒", s / 60, s % 60)
              : fmt::format("{} min {:02d} s", s / 60, s % 60);
  }
  const long long m = (s + 30) / 60;
  return ja ? fmt::format("{} 時間 {:02d} 分", m / 60, m % 60)
            : fmt::format("{} h {:02d} min", m / 60, m % 60);
}

std::string percent(double fraction) {
  return fmt::format("{:.1f}%", 100 * fraction);
}

std::string format_figure(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  // Beyond any measured figure (a corrupted or edited file): scientific, so a table cell stays a
  // few characters wide instead of hundreds of digits.
  if (a >= 1e15) return fmt::format("{:.3e}", v);
  if (a >= 1000) return fmt::format("{:.0f}", v);
  if (a >= 100) return fmt::format("{:.1f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  if (a == 0) return "0";
  return fmt::format("{:.3g}", v);
}

std::string gib(double bytes) {
  return fmt::format("{:.1f}", bytes / (1024.0 * 1024.0 * 1024.0));
}

}  // namespace sxb::report
