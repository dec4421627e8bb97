#include "report/charts/ticks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.hpp"
#include "core/units.hpp"

namespace sxb::report {

namespace {

constexpr double kEps = 1e-9;

struct Unit {
  double divisor;
  const char* name;
};

// Largest power of 1024 not above `magnitude` (bytes), so every label of an axis shares one unit.
Unit byte_unit(double magnitude) {
  static constexpr Unit units[] = {{1.0, "B"},
                                   {1024.0, "KiB"},
                                   {1024.0 * 1024, "MiB"},
                                   {1024.0 * 1024 * 1024, "GiB"},
                                   {1024.0 * 1024 * 1024 * 1024, "TiB"},
                                   {1024.0 * 1024 * 1024 * 1024 * 1024, "PiB"}};
  Unit u = units[0];
  for (const Unit& c : units) {
    if (magnitude >= c.divisor * (1 - kEps)) u = c;
  }
  return u;
}

// Decimal multiples for large numbers (tokens/s, samples): 350000 -> "350k".
Unit decimal_unit(double magnitude) {
  static constexpr Unit units[] = {{1e3, "k"}, {1e6, "M"}, {1e9, "G"}, {1e12, "T"}};
  Unit u{1.0, ""};
  if (magnitude < 1e4) return u;
  for (const Unit& c : units) {
    if (magnitude >= c.divisor * (1 - kEps)) u = c;
  }
  return u;
}

// Fewest decimals that show `step` exactly (steps are 1, 2, 5 or 2.5 times a power of ten).
int decimals_for(double step) {
  if (!(step > 0) || !std::isfinite(step)) return 0;
  for (int d = 0; d < 12; ++d) {
    const double scaled = step * std::pow(10.0, d);
    if (std::round(scaled) >= 1 && std::fabs(scaled - std::round(scaled)) < 1e-6 * scaled) return d;
  }
  return 12;
}

std::string fixed(double v, int decimals) {
  std::string s = fmt::format("{:.{}f}", v, decimals);
  // "-0", "-0.00": a tick at zero computed as -1e-17 must not print a sign.
  if (s.front() == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string strip_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Rounds the free ends of [lo, hi] outward to multiples of `step`.
AxisRange rounded(double lo, double hi, double step, bool free_lo, bool free_hi) {
  AxisRange r{lo, hi, step};
  if (free_lo) r.min = std::floor(lo / step + kEps) * step;
  if (free_hi) r.max = std::ceil(hi / step - kEps) * step;
  if (r.min == 0) r.min = 0.0;  // no negative zero
  return r;
}

// The next 1-2-5 step above `step` (in multiples of `unit`: 1, or a power of 1024 for bytes).
double next_nice(double step, double unit) {
  const double s = step / unit;
  const double magnitude = std::pow(10.0, std::floor(std::log10(s) + kEps));
  const double m = s / magnitude;
  const double next = m < 1.5 ? 2 : (m < 3.5 ? 5 : 10);
  return next * magnitude * unit;
}

// Indices i of the ticks i * step inside [min, max]; linear_ticks and the fitting loop of
// linear_range count the same way.
std::pair<int64_t, int64_t> tick_indices(const AxisRange& r) {
  return {static_cast<int64_t>(std::ceil(r.min / r.step - kEps)),
          static_cast<int64_t>(std::floor(r.max / r.step + kEps))};
}

size_t tick_count(const AxisRange& r) {
  const auto [first, last] = tick_indices(r);
  return last >= first ? static_cast<size_t>(last - first + 1) : 0;
}

}  // namespace

double nice_step(double span, int max_intervals) {
  if (!(span > 0) || !std::isfinite(span)) return 1.0;
  max_intervals = std::max(1, max_intervals);
  const double raw = span / max_intervals;
  const double exponent = std::floor(std::log10(raw));
  const double magnitude = std::pow(10.0, exponent);
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw * (1 - kEps)) return m * magnitude;
  }
  return 10.0 * magnitude;  // not reached: 10 * magnitude > raw by construction
}

double nice_byte_step(double span, double magnitude, int max_intervals) {
  const Unit u = byte_unit(magnitude);
  return nice_step(span / u.divisor, max_intervals) * u.divisor;
}

AxisRange linear_range(double data_lo, double data_hi, bool zero_based, double headroom,
                       int max_ticks, bool bytes, std::optional<double> fixed_min,
                       std::optional<double> fixed_max) {
  if (fixed_min && fixed_max && !(*fixed_min < *fixed_max)) {
    throw usage_error(
        fmt::format("axis minimum {} must be below its maximum {}", *fixed_min, *fixed_max));
  }
  if ((fixed_min && !std::isfinite(*fixed_min)) || (fixed_max && !std::isfinite(*fixed_max))) {
    throw usage_error("axis minimum and maximum must be finite numbers");
  }
  double lo = data_lo, hi = data_hi;
  if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi)) {
    lo = 0;  // no data: a unit range, so the frame and references still draw
    hi = 1;
  }
  if (zero_based) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  if (fixed_min) lo = *fixed_min;
  if (fixed_max) hi = *fixed_max;
  if (!(hi > lo)) {
    // One value (or all values equal): give the axis a width around it.
    const double d = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    if (fixed_min || (zero_based && lo == 0)) {
      hi = lo + d;
    } else if (fixed_max) {
      lo = hi - d;
    } else {
      lo -= d;
      hi += d;
    }
  }
  const double span = hi - lo;
  if (headroom > 0) {
    // Zero-based axes keep 0 at the frame; headroom goes only to the side(s) away from zero.
    const double pad = headroom * span;
    if (!fixed_max && (!zero_based || hi > 0)) hi += pad;
    if (!fixed_min && (!zero_based || lo < 0)) lo -= pad;
  }
  max_ticks = std::max(2, max_ticks);
  const double magnitude = std::max(std::fabs(lo), std::fabs(hi));
  const double unit = bytes ? byte_unit(magnitude).divisor : 1.0;
  double step =
      bytes ? nice_byte_step(hi - lo, magnitude, max_ticks - 1) : nice_step(hi - lo, max_ticks - 1);
  // Rounding outward can add up to two intervals: take larger steps until the ticks fit. Once
  // the step exceeds every |end| the range is [0, step] or [-step, step] and cannot shrink.
  AxisRange r = rounded(lo, hi, step, !fixed_min, !fixed_max);
  while (tick_count(r) > static_cast<size_t>(max_ticks) && step <= magnitude) {
    step = next_nice(step, unit);
    r = rounded(lo, hi, step, !fixed_min, !fixed_max);
  }
  return r;
}

AxisRange log2_range(double data_lo, double data_hi, std::optional<double> fixed_min,
                     std::optional<double> fixed_max) {
  if ((fixed_min && !(*fixed_min > 0)) || (fixed_max && !(*fixed_max > 0))) {
    throw usage_error("log2 axis minimum and maximum must be > 0");
  }
  if (fixed_min && fixed_max && !(*fixed_min < *fixed_max)) {
    throw usage_error(
        fmt::format("axis minimum {} must be below its maximum {}", *fixed_min, *fixed_max));
  }
  if (data_lo <= data_hi && !(data_lo > 0)) {
    throw usage_error(fmt::format("log2 axis value {} is not > 0", data_lo));
  }
  double lo = 1, hi = 2;  // no data: one octave
  if (data_lo <= data_hi && std::isfinite(data_lo) && std::isfinite(data_hi)) {
    lo = std::exp2(std::floor(std::log2(data_lo) + kEps));
    hi = std::exp2(std::ceil(std::log2(data_hi) - kEps));
  }
  if (fixed_min) lo = *fixed_min;
  if (fixed_max) hi = *fixed_max;
  if (!(hi > lo)) {
    if (!fixed_max) {
      hi = lo * 2;
    } else {
      lo = hi / 2;
    }
  }
  return {lo, hi, 0};
}

std::vector<Tick> linear_ticks(const AxisRange& r, bool bytes) {
  std::vector<Tick> out;
  if (!(r.step > 0) || !(r.max > r.min)) return out;
  const double magnitude = std::max(std::fabs(r.min), std::fabs(r.max));
  const auto [first, last] = tick_indices(r);
  for (int64_t i = first; i <= last; ++i) {
    // i * step, not repeated addition: no accumulated drift in positions or labels.
    double v = static_cast<double>(i) * r.step;
    if (i == 0) v = 0.0;
    out.push_back({v, bytes ? format_tick_bytes(v, r.step, magnitude)
                            : format_tick_number(v, r.step, magnitude)});
  }
  return out;
}

namespace {

std::string log2_label(int e, bool bytes) {
  if (bytes) {
    if (e >= 0 && e < 64) return format_bytes(uint64_t{1} << e);
    return fmt::format("{} B", strip_zeros(fmt::format("{:.12f}", std::exp2(e))));
  }
  // Plain numbers while they stay short; beyond that the power itself.
  if (e >= 0 && e <= 16) return fmt::format("{}", uint64_t{1} << e);
  if (e < 0 && e >= -3) return strip_zeros(fmt::format("{:.3f}", std::exp2(e)));
  return fmt::format("2^{}", e);
}

}  // namespace

std::vector<Tick> log2_ticks(const AxisRange& r, int max_ticks, bool bytes) {
  std::vector<Tick> out;
  if (!(r.min > 0) || !(r.max > r.min)) return out;
  const int e_lo = static_cast<int>(std::ceil(std::log2(r.min) - kEps));
  const int e_hi = static_cast<int>(std::floor(std::log2(r.max) + kEps));
  if (e_lo > e_hi) {
    // Less than an octave and no power of two inside: label the two ends.
    const double magnitude = r.max;
    const double step = nice_step(r.max - r.min, 1);
    for (double v : {r.min, r.max}) {
      out.push_back({v, bytes ? format_tick_bytes(v, step, magnitude)
                              : format_tick_number(v, step, magnitude)});
    }
    return out;
  }
  max_ticks = std::max(2, max_ticks);
  const int span = e_hi - e_lo;
  int stride = 1;
  if (span + 1 > max_ticks) {
    const int min_stride = (span + max_ticks - 2) / (max_ticks - 1);  // ceil(span / (n - 1))
    stride = min_stride;
    // A stride that divides the span puts a tick on both ends (8 B and 8 GiB).
    for (int c = min_stride; c <= 2 * min_stride; ++c) {
      if (span % c == 0) {
        stride = c;
        break;
      }
    }
  }
  for (int e = e_lo; e <= e_hi; e += stride) out.push_back({std::exp2(e), log2_label(e, bytes)});
  return out;
}

std::vector<double> log2_minor_values(const AxisRange& r) {
  std::vector<double> out;
  if (!(r.min > 0) || !(r.max > r.min)) return out;
  const int e_lo = static_cast<int>(std::ceil(std::log2(r.min) - kEps));
  const int e_hi = static_cast<int>(std::floor(std::log2(r.max) + kEps));
  for (int e = e_lo; e <= e_hi; ++e) out.push_back(std::exp2(e));
  return out;
}

std::string format_tick_number(double v, double step, double magnitude) {
  if (v == 0) return "0";
  Unit u = decimal_unit(std::fabs(magnitude));
  // Suffixes only while the step keeps at most two decimals in that unit (350k, 1.25M), not
  // for a narrow window on a large value (1000000.1 .. 1000000.5).
  if (step < u.divisor / 100) u = Unit{1.0, ""};
  return fixed(v / u.divisor, decimals_for(step / u.divisor)) + u.name;
}

std::string format_tick_bytes(double v, double step, double magnitude) {
  if (v == 0) return "0 B";
  const Unit u = byte_unit(std::fabs(magnitude));
  return fixed(v / u.divisor, decimals_for(step / u.divisor)) + " " + u.name;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  const Unit u = decimal_unit(std::fabs(v));
  const double scaled = v / u.divisor;
  // Three significant figures (more for integers of 4 digits: 1235, not 1.24k).
  const int digits = static_cast<int>(std::floor(std::log10(std::fabs(scaled))));
  const int decimals = std::clamp(2 - digits, 0, 6);
  return strip_zeros(fixed(scaled, decimals)) + u.name;
}

}  // namespace sxb::report
