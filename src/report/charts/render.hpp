#pragma once
// Internal to the chart layer (not for callers): the input checks every build runs, and the
// cairo/pango renderer in cairo/ (render.cpp), compiled only with SXB_HAVE_CHARTS.
#include <string>
#include <string_view>
#include <vector>

#include "report/charts/chart.hpp"

namespace sxb::report::detail {

// Largest image side accepted (pixels or points): cairo image surfaces stop at 32767, and a
// 16384 x 16384 image is already 1 GiB of pixels.
inline constexpr int kMaxImageSide = 16384;
// Smallest chart (or grid panel) with room for a title, axes and a plot.
inline constexpr int kMinChartWidth = 240;
inline constexpr int kMinChartHeight = 160;

// Pango needs valid UTF-8 (it would draw replacement boxes); a NUL byte would cut text short.
bool valid_utf8(std::string_view s);
// "chart 'Throughput vs nodes'" or "untitled chart": how errors name a chart.
std::string chart_name(const Chart& c);
// Throws a one-line sxb::Error naming `name`: no series, series lengths that do not match,
// infinite values, NaN x, non-positive values on a log2 axis, axis min >= max, no categories.
void validate_chart(const Chart& c, const std::string& name);
// Throws when a side is <= 0, below the minimum chart size or above kMaxImageSide; `what` names
// the image.
void validate_size(ImageSize size, const std::string& what);

#if SXB_HAVE_CHARTS
// Inputs are validated by the caller.
std::string render_chart_cairo(const Chart& c, ImageFormat f, ImageSize size, const FontSet& fonts);
std::string render_grid_cairo(const std::vector<Chart>& charts, int columns, ImageFormat f,
                              ImageSize panel, const std::string& title, const FontSet& fonts);
int missing_glyphs_cairo(const std::string& text, const FontSet& fonts);
#endif

}  // namespace sxb::report::detail
