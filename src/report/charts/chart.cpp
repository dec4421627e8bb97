// The chart API as every build has it: input checks, writing, and the dispatch to the cairo/pango
// renderer (cairo/render.cpp). Without cairo/pango the render functions throw instead of
// producing anything, so no caller can mistake a missing chart for a drawn one.
#include "report/charts/chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "report/charts/render.hpp"

namespace sxb::report {

namespace detail {

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t min_for[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_for[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

namespace {

void check_text(const std::string& text, const std::string& name, const std::string& what) {
  if (!valid_utf8(text)) {
    throw usage_error(fmt::format("{}: {} is not valid UTF-8 text", name, what));
  }
}

void check_texts(const std::string& title, const std::string& note,
                 const std::vector<Series>& series, const std::vector<ReferenceLine>& refs,
                 const std::string& name) {
  check_text(title, name, "the title");
  check_text(note, name, "the note");
  for (size_t i = 0; i < series.size(); ++i) {
    check_text(series[i].label, name, fmt::format("the label of series {}", i + 1));
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    check_text(refs[i].label, name, fmt::format("the label of reference line {}", i + 1));
  }
}

std::string series_name(const Series& s, size_t i) {
  return s.label.empty() ? fmt::format("series {}", i + 1) : fmt::format("series '{}'", s.label);
}

void check_axis(const Axis& a, const std::string& name, const char* which) {
  if ((a.min && !std::isfinite(*a.min)) || (a.max && !std::isfinite(*a.max))) {
    throw usage_error(fmt::format("{}: {} axis minimum and maximum must be finite", name, which));
  }
  if (a.min && a.max && !(*a.min < *a.max)) {
    throw usage_error(fmt::format("{}: {} axis minimum {} must be below its maximum {}", name,
                                  which, *a.min, *a.max));
  }
  if (a.log2_scale && ((a.min && !(*a.min > 0)) || (a.max && !(*a.max > 0)))) {
    throw usage_error(
        fmt::format("{}: {} axis is log2, so its minimum and maximum must be > 0", name, which));
  }
}

// y values: NaN is a gap; infinities are errors (a division by zero upstream, not a gap).
void check_y(const Series& s, size_t si, const Axis& y, const std::string& name) {
  for (size_t i = 0; i < s.y.size(); ++i) {
    const double v = s.y[i];
    if (std::isinf(v)) {
      throw usage_error(fmt::format("{}: {} y[{}] is {}; use NaN for a gap", name,
                                    series_name(s, si), i, v > 0 ? "inf" : "-inf"));
    }
    if (y.log2_scale && !std::isnan(v) && !(v > 0)) {
      throw usage_error(fmt::format("{}: {} y[{}] = {} on a log2 y axis (must be > 0)", name,
                                    series_name(s, si), i, v));
    }
  }
}

void check_references(const std::vector<ReferenceLine>& refs, const Axis& y,
                      const std::string& name) {
  for (const ReferenceLine& r : refs) {
    if (!std::isfinite(r.y) || (y.log2_scale && !(r.y > 0))) {
      throw usage_error(fmt::format("{}: reference line '{}' at y = {} cannot be drawn{}", name,
                                    r.label, r.y, y.log2_scale ? " on a log2 axis" : ""));
    }
  }
}

void validate(const LineChart& c, const std::string& name) {
  check_texts(c.title, c.note, c.series, c.references, name);
  check_text(c.x.label, name, "the x axis label");
  check_text(c.y.label, name, "the y axis label");
  if (c.series.empty()) throw usage_error(fmt::format("{}: no series to draw", name));
  check_axis(c.x, name, "x");
  check_axis(c.y, name, "y");
  size_t points = 0;
  for (size_t si = 0; si < c.series.size(); ++si) {
    const Series& s = c.series[si];
    if (s.x.size() != s.y.size()) {
      throw usage_error(fmt::format("{}: {} has {} x values but {} y values", name,
                                    series_name(s, si), s.x.size(), s.y.size()));
    }
    points += s.x.size();
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i])) {
        throw usage_error(fmt::format("{}: {} x[{}] is not a finite number (a gap is a NaN y)",
                                      name, series_name(s, si), i));
      }
      if (c.x.log2_scale && !(s.x[i] > 0)) {
        throw usage_error(fmt::format("{}: {} x[{}] = {} on a log2 x axis (must be > 0)", name,
                                      series_name(s, si), i, s.x[i]));
      }
    }
    check_y(s, si, c.y, name);
  }
  if (points == 0) throw usage_error(fmt::format("{}: no data points in any series", name));
  check_references(c.references, c.y, name);
}

void validate(const BarChart& c, const std::string& name) {
  check_texts(c.title, c.note, c.series, c.references, name);
  check_text(c.y.label, name, "the y axis label");
  for (size_t i = 0; i < c.categories.size(); ++i) {
    check_text(c.categories[i], name, fmt::format("category {}", i + 1));
  }
  if (c.series.empty()) throw usage_error(fmt::format("{}: no series to draw", name));
  if (c.categories.empty()) throw usage_error(fmt::format("{}: no categories", name));
  check_axis(c.y, name, "y");
  for (size_t si = 0; si < c.series.size(); ++si) {
    const Series& s = c.series[si];
    if (s.y.size() != c.categories.size()) {
      throw usage_error(fmt::format("{}: {} has {} values for {} categories", name,
                                    series_name(s, si), s.y.size(), c.categories.size()));
    }
    check_y(s, si, c.y, name);
  }
  check_references(c.references, c.y, name);
}

void validate(const HeatMap& c, const std::string& name) {
  check_text(c.title, name, "the title");
  check_text(c.note, name, "the note");
  check_text(c.scale_label, name, "the scale label");
  for (size_t i = 0; i < c.rows.size(); ++i) {
    check_text(c.rows[i], name, fmt::format("row label {}", i + 1));
  }
  for (size_t i = 0; i < c.columns.size(); ++i) {
    check_text(c.columns[i], name, fmt::format("column label {}", i + 1));
  }
  if (c.rows.empty() || c.columns.empty()) {
    throw usage_error(fmt::format("{}: no rows or no columns", name));
  }
  if (c.values.size() != c.rows.size()) {
    throw usage_error(
        fmt::format("{}: {} rows of values for {} rows", name, c.values.size(), c.rows.size()));
  }
  for (size_t i = 0; i < c.values.size(); ++i) {
    if (c.values[i].size() != c.columns.size()) {
      throw usage_error(fmt::format("{}: row {} has {} values for {} columns", name, i + 1,
                                    c.values[i].size(), c.columns.size()));
    }
    for (size_t j = 0; j < c.values[i].size(); ++j) {
      if (std::isinf(c.values[i][j])) {
        throw usage_error(fmt::format("{}: cell ({}, {}) is infinite; use NaN for no value", name,
                                      i + 1, j + 1));
      }
    }
  }
  if (!c.marked.empty()) {
    if (c.marked.size() != c.rows.size()) {
      throw usage_error(fmt::format("{}: marked cells need one row per row", name));
    }
    for (const auto& row : c.marked) {
      if (row.size() != c.columns.size()) {
        throw usage_error(fmt::format("{}: marked cells need one entry per column", name));
      }
    }
  }
  if (!c.marked_rows.empty() && c.marked_rows.size() != c.rows.size()) {
    throw usage_error(fmt::format("{}: marked rows need one entry per row", name));
  }
}

}  // namespace

std::string chart_name(const Chart& c) {
  const std::string& title =
      std::visit([](const auto& chart) -> const std::string& { return chart.title; }, c);
  if (title.empty()) return "untitled chart";
  // Named by its title as given; an invalid one is reported by validate_chart.
  return valid_utf8(title) ? fmt::format("chart '{}'", title) : std::string("chart (bad title)");
}

void validate_chart(const Chart& c, const std::string& name) {
  std::visit([&](const auto& chart) { validate(chart, name); }, c);
}

void validate_size(ImageSize size, const std::string& what) {
  if (size.width <= 0 || size.height <= 0) {
    throw usage_error(
        fmt::format("{}: image size {}x{} must be positive", what, size.width, size.height));
  }
  if (size.width < kMinChartWidth || size.height < kMinChartHeight) {
    throw usage_error(fmt::format("{}: image size {}x{} is too small for a chart (at least {}x{})",
                                  what, size.width, size.height, kMinChartWidth, kMinChartHeight));
  }
  if (size.width > kMaxImageSide || size.height > kMaxImageSide) {
    throw usage_error(fmt::format("{}: image size {}x{} is above the limit of {} per side", what,
                                  size.width, size.height, kMaxImageSide));
  }
}

}  // namespace detail

#if !SXB_HAVE_CHARTS
namespace {

[[noreturn]] void unavailable() {
  throw environment_error("sxbench was built without cairo/pango: charts unavailable");
}

}  // namespace
#endif

std::optional<HeatScale> heat_scale(const HeatMap& m) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& row : m.values) {
    for (double v : row) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!(lo <= hi)) return std::nullopt;
  if (hi - lo <= 1e-12 * std::max(std::abs(lo), std::abs(hi))) {
    // One value: a narrow span around it, so every cell sits mid-scale.
    const double half = std::max(0.005 * std::abs(lo), 1e-12);
    return HeatScale{lo - half, hi + half};
  }
  return HeatScale{lo, hi};
}

double heat_position(const HeatScale& s, double v) {
  if (!std::isfinite(v)) return std::nan("");
  return std::clamp((v - s.lo) / (s.hi - s.lo), 0.0, 1.0);
}

HeatColour heat_colour(double position) {
  if (std::isnan(position)) return {0.88, 0.88, 0.88};
  // viridis at 0, 1/4, 1/2, 3/4, 1, linearly between.
  static constexpr HeatColour stops[] = {{0x44 / 255.0, 0x01 / 255.0, 0x54 / 255.0},
                                         {0x3B / 255.0, 0x52 / 255.0, 0x8B / 255.0},
                                         {0x21 / 255.0, 0x91 / 255.0, 0x8C / 255.0},
                                         {0x5E / 255.0, 0xC9 / 255.0, 0x62 / 255.0},
                                         {0xFD / 255.0, 0xE7 / 255.0, 0x25 / 255.0}};
  const double t = std::clamp(position, 0.0, 1.0) * 4;
  const size_t i = std::min<size_t>(3, static_cast<size_t>(t));
  const double f = t - static_cast<double>(i);
  return {stops[i].r + f * (stops[i + 1].r - stops[i].r),
          stops[i].g + f * (stops[i + 1].g - stops[i].g),
          stops[i].b + f * (stops[i + 1].b - stops[i].b)};
}

bool charts_available() {
#if SXB_HAVE_CHARTS
  return true;
#else
  return false;
#endif
}

std::string render_chart(const Chart& c, ImageFormat f, ImageSize size, const FontSet& fonts) {
  const std::string name = detail::chart_name(c);
  detail::validate_size(size, name);
  detail::validate_chart(c, name);
#if SXB_HAVE_CHARTS
  return detail::render_chart_cairo(c, f, size, fonts);
#else
  (void)f;
  (void)fonts;
  unavailable();
#endif
}

std::string render_chart_grid(const std::vector<Chart>& charts, int columns, ImageFormat f,
                              ImageSize panel, const std::string& title, const FontSet& fonts) {
  const std::string grid =
      title.empty() ? std::string("chart grid") : fmt::format("chart grid '{}'", title);
  if (!detail::valid_utf8(title))
    throw usage_error("chart grid: the title is not valid UTF-8 text");
  if (charts.empty()) throw usage_error(fmt::format("{}: no charts", grid));
  if (columns <= 0) {
    throw usage_error(fmt::format("{}: columns must be at least 1 (got {})", grid, columns));
  }
  detail::validate_size(panel, grid + " panel");
  // The title band is at most one panel high, so this bounds the whole image.
  const int cols = std::min<int>(columns, static_cast<int>(charts.size()));
  const int rows = static_cast<int>((charts.size() + cols - 1) / cols);
  const long long w = static_cast<long long>(cols) * panel.width;
  const long long h = static_cast<long long>(rows + (title.empty() ? 0 : 1)) * panel.height;
  if (w > detail::kMaxImageSide || h > detail::kMaxImageSide) {
    throw usage_error(
        fmt::format("{}: {} columns x {} rows of {}x{} panels exceed the limit of {} "
                    "per side",
                    grid, cols, rows, panel.width, panel.height, detail::kMaxImageSide));
  }
  for (size_t i = 0; i < charts.size(); ++i) {
    detail::validate_chart(
        charts[i], fmt::format("{} panel {} ({})", grid, i + 1, detail::chart_name(charts[i])));
  }
#if SXB_HAVE_CHARTS
  return detail::render_grid_cairo(charts, cols, f, panel, title, fonts);
#else
  (void)f;
  (void)fonts;
  unavailable();
#endif
}

int missing_glyphs(const std::string& text, const FontSet& fonts) {
#if SXB_HAVE_CHARTS
  return detail::missing_glyphs_cairo(text, fonts);
#else
  (void)text;
  (void)fonts;
  unavailable();
#endif
}

void write_chart(const std::filesystem::path& path, const std::string& rendered) {
  // render_* never returns an empty image; an empty string here is a caller's mistake.
  if (rendered.empty()) {
    throw usage_error(fmt::format("{}: nothing to write (empty chart output)", path.string()));
  }
  // A .png path must get PNG bytes and a .svg path SVG text: swapped formats would make files
  // that viewers refuse while looking fine in a directory listing.
  const std::string ext = path.extension().string();
  const bool is_png = rendered.rfind("\x89PNG\r\n\x1a\n", 0) == 0;
  const bool is_svg = rendered.rfind("<?xml", 0) == 0 || rendered.rfind("<svg", 0) == 0;
  if ((ext == ".png" && !is_png) || (ext == ".svg" && !is_svg)) {
    throw usage_error(fmt::format("{}: the chart is not {} data (render it with ImageFormat::{})",
                                  path.string(), ext == ".png" ? "PNG" : "SVG",
                                  ext == ".png" ? "png" : "svg"));
  }
  write_file_atomic(path, rendered);
}

}  // namespace sxb::report
