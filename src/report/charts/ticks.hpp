#pragma once
// Axis ranges, tick positions and tick labels for charts: pure functions with no drawing
// dependency, so they are compiled and tested in every build (also without cairo/pango).
//
// Linear axes step in 1-2-5 multiples of a power of ten (of a power of 1024 for byte axes), so
// every tick label is short and exact. Log2 axes put ticks on powers of two, every k-th power
// when all of them would not fit, with k chosen so that both ends of the range are ticks when
// possible (8 B .. 8 GiB: 8 B, 8 KiB, 8 MiB, 8 GiB or every 3rd, 5th power).
#include <optional>
#include <string>
#include <vector>

namespace sxb::report {

struct Tick {
  double value = 0;
  std::string label;
  bool operator==(const Tick&) const = default;
};

// Range of an axis and the step of its linear ticks (step is 0 for log2 axes).
struct AxisRange {
  double min = 0, max = 1;
  double step = 0;
};

// The smallest 1, 2 or 5 times a power of ten that splits `span` into at most `max_intervals`
// intervals. span > 0, max_intervals >= 1.
double nice_step(double span, int max_intervals);
// The same in units of the largest power of 1024 not above `magnitude` (bytes): steps such as
// 256 MiB or 20 GiB instead of 268435456.
double nice_byte_step(double span, double magnitude, int max_intervals);

// Linear range for data in [data_lo, data_hi] (ignored where fixed_min / fixed_max are given).
// zero_based: the range includes 0 (y axes by default). headroom: fraction of the span added on
// the side(s) away from zero, so the highest point does not touch the frame. Free ends are
// rounded outward to multiples of the step; at most max_ticks ticks fit (3 where the range holds
// both signs and max_ticks is 2: -step, 0, step). An empty or degenerate
// data range yields a unit-sized range around it. Throws sxb::Error when fixed_min >= fixed_max.
AxisRange linear_range(double data_lo, double data_hi, bool zero_based, double headroom,
                       int max_ticks, bool bytes, std::optional<double> fixed_min = std::nullopt,
                       std::optional<double> fixed_max = std::nullopt);
// Log2 range: free ends extended to the enclosing powers of two. Values must be > 0; throws
// sxb::Error otherwise or when fixed_min >= fixed_max.
AxisRange log2_range(double data_lo, double data_hi, std::optional<double> fixed_min = std::nullopt,
                     std::optional<double> fixed_max = std::nullopt);

// Ticks at the multiples of `step` inside [min, max] (a tolerance of 1e-9 step at the ends).
std::vector<Tick> linear_ticks(const AxisRange& r, bool bytes);
// Ticks at powers of two inside [min, max], at most max_ticks of them (at least 2 when the range
// holds 2 powers). bytes: labels "8 B", "1 KiB", ...; else numbers ("1", "2", ..., "2^24").
std::vector<Tick> log2_ticks(const AxisRange& r, int max_ticks, bool bytes);
// Every power of two inside [min, max]: minor grid lines between labelled log2 ticks.
std::vector<double> log2_minor_values(const AxisRange& r);

// Tick label of v on a linear axis with step `step`: as many decimals as the step needs, large
// magnitudes with k/M/G/T (1e3 multiples) once the largest |end| of the axis (`magnitude`)
// reaches 10000. Zero is "0"; never "-0".
std::string format_tick_number(double v, double step, double magnitude);
// Tick label on a byte axis: "0 B", "512 MiB", "1.5 GiB" (decimals as the step in its unit).
std::string format_tick_bytes(double v, double step, double magnitude);
// A data value as printed on a bar: 3-4 significant figures, k/M/G/T from 10000 on.
std::string format_value(double v);

}  // namespace sxb::report
