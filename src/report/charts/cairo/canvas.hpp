#pragma once
// Shared drawing state of the chart renderer, used by line_chart, bar_chart, heat_map and
// render.cpp.
// Colours, geometry, owned cairo/pango objects, the Typesetter, sizes, axis ticks, markers,
// legend layout, reference labels and the chart frame.
//
// Layout invariants: everything is placed from measured text (no fixed pixel offsets for text),
// so long or Japanese labels push the plot area instead of overlapping it; the legend never
// covers data or reference lines: it goes into a free corner of the plot when one exists,
// otherwise to the right of the plot or below it. Output depends only on the inputs and the
// installed fonts: no clocks, no randomness, hinting off (PNG and SVG share one layout).
#include <cairo.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "report/charts/chart.hpp"
#include "report/charts/ticks.hpp"

namespace sxb::report::detail::cairo {

// ---------------------------------------------------------------------------------------------
// Basics: colours, geometry, owned cairo/pango objects.

struct Rgb {
  double r = 0, g = 0, b = 0;
};
inline constexpr Rgb hex(unsigned v) {
  return {((v >> 16) & 0xff) / 255.0, ((v >> 8) & 0xff) / 255.0, (v & 0xff) / 255.0};
}

// Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies. Yellow is
// last: it has the least contrast on white. Series beyond eight reuse colours with other markers.
inline constexpr Rgb kPalette[] = {hex(0x0072B2), hex(0xE69F00), hex(0x009E73), hex(0xD55E00),
                                   hex(0xCC79A7), hex(0x56B4E9), hex(0x000000), hex(0xF0E442)};
inline constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
inline constexpr Rgb kText = hex(0x222222);
inline constexpr Rgb kMutedText = hex(0x555555);
inline constexpr Rgb kGrid = hex(0xE3E3E3);
inline constexpr Rgb kMinorGrid = hex(0xF1F1F1);
inline constexpr Rgb kFrame = hex(0x9A9A9A);
inline constexpr Rgb kAxis = hex(0x444444);
inline constexpr Rgb kReference = hex(0x3A3A3A);
inline constexpr Rgb kWhite = hex(0xFFFFFF);

enum class Marker { circle, square, triangle, diamond, triangle_down };
inline constexpr Marker kMarkers[] = {Marker::circle, Marker::square, Marker::triangle,
                                      Marker::diamond, Marker::triangle_down};

inline Rgb series_colour(size_t i) {
  return kPalette[i % kPaletteSize];
}
// Marker shapes cycle independently of colours, so series 1 and 9 (same colour) still differ.
inline Marker series_marker(size_t i) {
  return kMarkers[(i + i / kPaletteSize) % 5];
}

struct Pt {
  double x = 0, y = 0;
};

struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
  Rect inflated(double d) const { return {x - d, y - d, w + 2 * d, h + 2 * d}; }
  bool intersects(const Rect& o) const {
    return x < o.right() && o.x < right() && y < o.bottom() && o.y < bottom();
  }
  bool contains(const Rect& o) const {
    return o.x >= x && o.y >= y && o.right() <= right() && o.bottom() <= bottom();
  }
};

struct GObjectUnref {
  void operator()(void* p) const { g_object_unref(p); }
};
using LayoutPtr = std::unique_ptr<PangoLayout, GObjectUnref>;
using ContextPtr = std::unique_ptr<PangoContext, GObjectUnref>;
struct SurfaceDestroy {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
using SurfacePtr = std::unique_ptr<cairo_surface_t, SurfaceDestroy>;
struct CairoDestroy {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using CairoPtr = std::unique_ptr<cairo_t, CairoDestroy>;
struct FontDescriptionFree {
  void operator()(PangoFontDescription* d) const { pango_font_description_free(d); }
};
using FontDescriptionPtr = std::unique_ptr<PangoFontDescription, FontDescriptionFree>;

inline void set_colour(cairo_t* cr, Rgb c, double alpha = 1.0) {
  cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

// ---------------------------------------------------------------------------------------------
// Text: one pango context per image, layouts measured before anything is placed.

struct Text {
  LayoutPtr layout;
  double w = 0, h = 0;    // logical size in device units
  double ox = 0, oy = 0;  // logical rectangle's offset inside the layout
  int lines = 0;
  explicit operator bool() const { return static_cast<bool>(layout); }
};

class Typesetter {
 public:
  Typesetter(cairo_t* cr, const FontSet& fonts)
      : cr_(cr), ctx_(pango_cairo_create_context(cr)), family_(fonts.family) {
    // No hinting: glyph positions do not snap to the pixel grid, so a PNG and an SVG of one
    // chart share one layout, and sizes scale smoothly with the image.
    cairo_font_options_t* o = cairo_font_options_create();
    cairo_font_options_set_hint_style(o, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(o, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_antialias(o, CAIRO_ANTIALIAS_GRAY);
    pango_cairo_context_set_font_options(ctx_.get(), o);
    cairo_font_options_destroy(o);
  }

  // Empty text gives an empty Text (size 0), so callers can lay out optional pieces uniformly.
  // wrap_width > 0 breaks lines at words (or between CJK characters) to fit that width.
  Text make(const std::string& s, double px, bool bold = false, double wrap_width = 0,
            PangoAlignment align = PANGO_ALIGN_LEFT) const {
    Text t;
    if (s.empty()) return t;
    t.layout.reset(pango_layout_new(ctx_.get()));
    FontDescriptionPtr d(pango_font_description_new());
    pango_font_description_set_family(d.get(), family_.c_str());
    pango_font_description_set_absolute_size(d.get(), px * PANGO_SCALE);
    pango_font_description_set_weight(d.get(), bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(t.layout.get(), d.get());
    if (wrap_width > 0) {
      pango_layout_set_width(t.layout.get(), static_cast<int>(wrap_width * PANGO_SCALE));
      pango_layout_set_wrap(t.layout.get(), PANGO_WRAP_WORD_CHAR);
    }
    pango_layout_set_alignment(t.layout.get(), align);
    pango_layout_set_text(t.layout.get(), s.data(), static_cast<int>(s.size()));
    PangoRectangle logical;
    pango_layout_get_extents(t.layout.get(), nullptr, &logical);
    t.w = static_cast<double>(logical.width) / PANGO_SCALE;
    t.h = static_cast<double>(logical.height) / PANGO_SCALE;
    t.ox = static_cast<double>(logical.x) / PANGO_SCALE;
    t.oy = static_cast<double>(logical.y) / PANGO_SCALE;
    t.lines = std::max(1, pango_layout_get_line_count(t.layout.get()));
    return t;
  }

  // (x, y): top-left corner of the text's logical rectangle.
  void draw(const Text& t, double x, double y, Rgb c) const {
    if (!t) return;
    set_colour(cr_, c);
    cairo_move_to(cr_, x - t.ox, y - t.oy);
    pango_cairo_show_layout(cr_, t.layout.get());
  }
  // Rotated 90 degrees counter-clockwise (reads bottom to top); (x, y) is the top-left corner
  // of the rotated box, which is t.h wide and t.w high.
  void draw_up(const Text& t, double x, double y, Rgb c) const {
    if (!t) return;
    cairo_save(cr_);
    cairo_translate(cr_, x, y + t.w);
    cairo_rotate(cr_, -std::numbers::pi / 2);
    draw(t, 0, 0, c);
    cairo_restore(cr_);
  }

  int unknown_glyphs(const std::string& s) const {
    Text t = make(s, 16);
    return t ? pango_layout_get_unknown_glyphs_count(t.layout.get()) : 0;
  }

 private:
  cairo_t* cr_;
  ContextPtr ctx_;
  std::string family_;
};

// ---------------------------------------------------------------------------------------------
// Sizes: every length scales with the image, so a grid panel and a full-page chart look alike
// (render.cpp's style_for derives them from the image size).

struct Style {
  double title, label, tick, legend, note;  // font sizes (px)
  double pad, gap, tick_len, line, marker;
};

// Where an axis maps data: device coordinate `a` for r.min, `b` for r.max.
struct Mapper {
  AxisRange r;
  bool log2 = false;
  double a = 0, b = 1;
  double operator()(double v) const {
    const double t = log2
                         ? (std::log2(v) - std::log2(r.min)) / (std::log2(r.max) - std::log2(r.min))
                         : (v - r.min) / (r.max - r.min);
    return a + t * (b - a);
  }
};

struct AxisTicks {
  AxisRange range;
  std::vector<Tick> ticks;
  std::vector<double> minor;  // unlabelled grid lines (log2: every power of two)
  std::vector<Text> labels;   // one per tick
  double max_w = 0, max_h = 0;
};

struct DataSpan {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isnan(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
};

// Ticks for an axis `length` device units long. Fewer ticks are tried until neighbouring labels
// keep a gap (horizontal axis: label widths; vertical: label heights).
AxisTicks make_ticks(const Typesetter& ts, const Style& st, const Axis& axis, DataSpan span,
                     double length, bool horizontal, bool zero_based, double headroom);

// ---------------------------------------------------------------------------------------------
// Legend.

enum class LegendMode { inside, right, below };

struct LegendEntry {
  size_t series = 0;  // palette / marker index
  Text label;
  bool dashed = false, markers = true;
};

struct Legend {
  std::vector<LegendEntry> entries;
  std::vector<Pt> at;  // top-left of each entry, relative to the legend box
  double w = 0, h = 0;
  double swatch_w = 0, row_h = 0;
  bool bars = false;
  bool empty() const { return entries.empty(); }
};

// A series marker of radius `r` centred on p; hollow (white fill) for dashed, projected series.
void draw_marker(cairo_t* cr, Marker m, Pt p, double r, Rgb c, bool hollow, double line);
// Dashed (projections) or solid lines, dash lengths scaled with the line width.
void set_dash(cairo_t* cr, bool dashed, const Style& st);
// A bar (or a bar legend swatch): solid fill, or light fill and dashed outline when projected.
void draw_bar_shape(cairo_t* cr, const Rect& r, Rgb c, bool dashed, const Style& st);

// ---------------------------------------------------------------------------------------------
// Things drawn inside the plot that the legend must not cover.

struct Obstacles {
  std::vector<std::pair<Pt, Pt>> segments;
  std::vector<Rect> rects;
  bool hit(const Rect& r) const;  // does anything cross r?
};

// One layout attempt's legend. A chart tries the modes in the order inside, right, below and
// keeps the first that works: inside needs a free corner of the plot; right needs a legend at
// most 34% of the chart's width that leaves the plot kMinPlotShareBesideLegend of it; below
// always works. Line and bar charts place their legends through these two routines only.
struct LegendLayout {
  LegendMode mode = LegendMode::inside;
  Legend legend;
  double below_h = 0;     // height taken under the x axis (mode below)
  double right_edge = 0;  // where the plot, with its last tick label, must end
  std::optional<Pt> at;   // top-left of the legend box once placed; none without a legend
};

// The legend laid out for `mode`, or nothing when that mode cannot hold it (too wide to stand
// beside the plot; no legend at all, which the inside attempt has already drawn).
std::optional<LegendLayout> layout_legend(const Typesetter& ts, const Style& st,
                                          const std::vector<Series>& series, bool bars,
                                          const Rect& area, LegendMode mode);

// Places the legend once the plot and everything drawn in it (`obs`) are known. False when the
// mode fails after all (inside: no free corner; right: the plot keeps too little width), and the
// caller tries the next. `clearance` keeps a corner legend off the data; `below_axis` is the
// first y under the x axis's tick (or category) labels and its label.
bool place_legend(LegendLayout& l, const Style& st, const Rect& area, const Rect& plot,
                  const Obstacles& obs, double clearance, double below_axis);

// Draws a placed legend (boxed when inside the plot). Returns the y under a legend below the
// plot, where the note goes, or 0.
double draw_placed_legend(cairo_t* cr, const Typesetter& ts, const Style& st,
                          const LegendLayout& l);

struct RefLabel {
  Text text;
  Pt at;
};

// Reference lines are drawn across the plot; labels sit at the right end above the line, or
// below it when above would leave the plot or overlap an earlier label.
std::vector<RefLabel> place_reference_labels(const Typesetter& ts, const Style& st,
                                             const std::vector<ReferenceLine>& refs,
                                             const Mapper& my, const Rect& plot);

void draw_reference_lines(cairo_t* cr, const Style& st, const std::vector<ReferenceLine>& refs,
                          const Mapper& my, const Rect& plot);
void draw_reference_labels(cairo_t* cr, const Typesetter& ts, const std::vector<RefLabel>& labels);

// ---------------------------------------------------------------------------------------------
// The frame shared by both chart types: title, y axis, notes and where the plot goes.

struct Frame {
  Rect area;
  Text title, note, xlabel, ylabel;
  double top = 0;     // first y below the title
  double bottom = 0;  // last y above the note and x-axis label
};

Frame make_frame(const Typesetter& ts, const Style& st, const Rect& area, const std::string& title,
                 const std::string& note, const std::string& xlabel, const std::string& ylabel);

// Draws the title, the axis labels and (below `note_from`, or below the x-axis label when that is
// lower) the note. Returns the y below the x-axis label, where a legend below the plot goes.
double draw_frame_text(const Typesetter& ts, const Style& st, const Frame& f, const Rect& plot,
                       double below_ticks, double note_from = 0);

void draw_plot_box(cairo_t* cr, const Rect& plot);
void draw_y_axis(cairo_t* cr, const Typesetter& ts, const Style& st, const AxisTicks& yt,
                 const Mapper& my, const Rect& plot);

// The left edge of the plot once the y-axis label and the widest tick label are in.
double plot_left(const Style& st, const Frame& f, double tick_label_w);

// ---------------------------------------------------------------------------------------------
// The two chart types (line_chart.cpp, bar_chart.cpp): each draws one chart into `area`, trying
// the legend modes in turn (see LegendLayout).

void draw_line_chart(cairo_t* cr, const Typesetter& ts, const Style& st, const LineChart& c,
                     const Rect& area);
void draw_bar_chart(cairo_t* cr, const Typesetter& ts, const Style& st, const BarChart& c,
                    const Rect& area);
// A heat map (heat_map.cpp): no legend, a colour scale beside the cells instead.
void draw_heat_map(cairo_t* cr, const Typesetter& ts, const Style& st, const HeatMap& c,
                   const Rect& area);

}  // namespace sxb::report::detail::cairo
