#pragma once
// Chart rendering for reports and plans: line charts (scaling, throughput, bus bandwidth vs
// message size, GPU metrics over time), grouped bar charts, heat maps (the diagnose pair matrix)
// and grids of charts, rendered to PNG or SVG in memory. Text is UTF-8 (Japanese titles and
// labels render when a CJK font is installed). Drawing uses cairo and pango; builds without them
// keep this interface and throw.
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sxb::report {

enum class ImageFormat { png, svg };
struct Series {  // one line (or one set of bars) with a legend entry
  std::string label;
  std::vector<double> x, y;  // same length; NaN y = gap (line broken, no point drawn)
  bool dashed = false;       // dashed: projections / predictions
  bool markers = true;
};
struct ReferenceLine {  // horizontal target line
  double y = 0;
  std::string label;
};
struct Axis {
  std::string label;               // with unit, e.g. "bus bandwidth (GB/s)"
  bool log2_scale = false;         // x of busbw vs message size: log2, tick labels 8 B..8 GiB
  bool byte_ticks = false;         // tick labels as sizes (1 KiB, 1 MiB, ...)
  std::optional<double> min, max;  // else from data (with headroom), 0-based for y by default
};
struct LineChart {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
  std::vector<ReferenceLine> references;
  std::string note;  // small text under the plot (e.g. "dashed: projected")
};
struct BarChart {  // grouped bars: categories on x, one bar per series
  std::string title;
  std::vector<std::string> categories;
  std::vector<Series> series;  // y[i] is the bar for categories[i]; x ignored
  Axis y;
  std::vector<ReferenceLine> references;
  std::string note;
};
// A matrix of values coloured by value (the pair matrix of `sxbench diagnose`): rows[i] x
// columns[j] holds values[i][j]; NaN = no value (drawn as an empty, hatched cell, never as a
// colour). Marked cells (a slow pair) get a heavy outline, marked row and column labels (a unit
// named slow) are drawn bold with a marker. Every cell prints its value.
struct HeatMap {
  std::string title;
  std::vector<std::string> rows, columns;   // labels
  std::vector<std::vector<double>> values;  // [row][column]
  std::vector<std::vector<bool>> marked;    // empty, or the shape of values
  std::vector<bool> marked_rows;            // empty, or one per row (and column, when square)
  std::string scale_label;                  // the colour scale's caption, with unit
  std::string note;
};
using Chart = std::variant<LineChart, BarChart, HeatMap>;

// The colour scale of a heat map: the span of its finite values (a single value or all equal:
// a span of 1 % around it, so the scale never divides by zero). None when no cell has a value.
struct HeatScale {
  double lo = 0, hi = 1;
};
std::optional<HeatScale> heat_scale(const HeatMap& m);
// Where v falls on the scale, 0 (lowest, the worst bandwidth) to 1; NaN for a missing value.
double heat_position(const HeatScale& s, double v);
// The colour of a position: viridis's sequential scale, dark purple (0) through blue and green to
// yellow (1), readable with the common colour-vision deficiencies and in grey; each channel in
// [0, 1]; light grey for NaN.
struct HeatColour {
  double r = 0, g = 0, b = 0;
};
HeatColour heat_colour(double position);
struct ImageSize {  // pixels (PNG), points (SVG)
  int width = 960;
  int height = 560;
};
struct FontSet {
  std::string family = "Noto Sans CJK JP, IPAGothic, DejaVu Sans, sans-serif";
};

// Renders to memory: PNG bytes or SVG text (UTF-8; Japanese renders when a CJK font is
// installed). Throws sxb::Error on an empty chart or mismatched series lengths, naming the chart.
std::string render_chart(const Chart& c, ImageFormat f, ImageSize size = {}, const FontSet& = {});
// A grid of charts in one image (the seed's combined docs/h200_performance_charts.png):
// `columns` panels per row, each panel `panel` in size, an optional overall title on top.
std::string render_chart_grid(const std::vector<Chart>& charts, int columns, ImageFormat f,
                              ImageSize panel = {}, const std::string& title = "",
                              const FontSet& = {});
// Writes render_* output atomically (core/atomic_file) to `path`. Throws sxb::Error when
// `rendered` is empty, or is not PNG for a .png path / not SVG for a .svg path.
void write_chart(const std::filesystem::path& path, const std::string& rendered);

// True when this binary was built with cairo/pango (SXB_HAVE_CHARTS). Without them every
// render_* call and missing_glyphs throw sxb::Error ("sxbench was built without cairo/pango:
// charts unavailable"); callers that can do without charts check this first.
bool charts_available();
// How many characters of `text` the font set cannot draw (they would show as boxes): 0 means
// the text renders, e.g. a Japanese title with a CJK font installed. Uses the same text path as
// the renderer.
int missing_glyphs(const std::string& text, const FontSet& = {});

}  // namespace sxb::report
