// The chart renderer: cairo draws, pango lays out every piece of text (UTF-8, with fontconfig's
// fallback across the font set, so Japanese finds a CJK font). Compiled only when cairo and
// pango are found (SXB_HAVE_CHARTS); inputs arrive validated by report/chart.cpp.
//
// Layout invariants: everything is placed from measured text (no fixed pixel offsets for text),
// so long or Japanese labels push the plot area instead of overlapping it; the legend never
// covers data or reference lines: it goes into a free corner of the plot when one exists,
// otherwise to the right of the plot or below it. Output depends only on the inputs and the
// installed fonts: no clocks, no randomness, hinting off (PNG and SVG share one layout).
#include "report/charts/render.hpp"

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <optional>
#include <regex>

#include "core/error.hpp"
#include "report/charts/ticks.hpp"

namespace sxb::report::detail {

namespace {

// ---------------------------------------------------------------------------------------------
// Basics: colours, geometry, owned cairo/pango objects.

struct Rgb {
  double r = 0, g = 0, b = 0;
};
constexpr Rgb hex(unsigned v) {
  return {((v >> 16) & 0xff) / 255.0, ((v >> 8) & 0xff) / 255.0, (v & 0xff) / 255.0};
}

// Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies. Yellow is
// last: it has the least contrast on white. Series beyond eight reuse colours with other markers.
constexpr Rgb kPalette[] = {hex(0x0072B2), hex(0xE69F00), hex(0x009E73), hex(0xD55E00),
                            hex(0xCC79A7), hex(0x56B4E9), hex(0x000000), hex(0xF0E442)};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr Rgb kText = hex(0x222222);
constexpr Rgb kMutedText = hex(0x555555);
constexpr Rgb kGrid = hex(0xE3E3E3);
constexpr Rgb kMinorGrid = hex(0xF1F1F1);
constexpr Rgb kFrame = hex(0x9A9A9A);
constexpr Rgb kAxis = hex(0x444444);
constexpr Rgb kReference = hex(0x3A3A3A);
constexpr Rgb kWhite = hex(0xFFFFFF);

enum class Marker { circle, square, triangle, diamond, triangle_down };
constexpr Marker kMarkers[] = {Marker::circle, Marker::square, Marker::triangle, Marker::diamond,
                               Marker::triangle_down};

Rgb series_colour(size_t i) {
  return kPalette[i % kPaletteSize];
}
// Marker shapes cycle independently of colours, so series 1 and 9 (same colour) still differ.
Marker series_marker(size_t i) {
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

// Liang-Barsky: does the segment p-q pass through r?
bool segment_hits(const Rect& r, Pt p, Pt q) {
  double t0 = 0, t1 = 1;
  const double dx = q.x - p.x, dy = q.y - p.y;
  auto clip = [&](double den, double num) {
    if (den == 0) return num >= 0;
    const double t = num / den;
    if (den < 0) {
      if (t > t1) return false;
      t0 = std::max(t0, t);
    } else {
      if (t < t0) return false;
      t1 = std::min(t1, t);
    }
    return true;
  };
  return clip(-dx, p.x - r.x) && clip(dx, r.right() - p.x) && clip(-dy, p.y - r.y) &&
         clip(dy, r.bottom() - p.y) && t0 <= t1;
}

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

void set_colour(cairo_t* cr, Rgb c, double alpha = 1.0) {
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
// Sizes: every length scales with the image, so a grid panel and a full-page chart look alike.

struct Style {
  double title, label, tick, legend, note;  // font sizes (px)
  double pad, gap, tick_len, line, marker;
};

Style style_for(ImageSize s) {
  const double k =
      std::clamp(std::sqrt(static_cast<double>(s.width) * s.height / (960.0 * 560.0)), 0.75, 3.0);
  // Lines at least 2 px wide: every line then covers one full pixel row or column wherever it
  // falls, so small panels keep solid series colours, not only antialiased blends.
  return Style{17 * k, 13 * k, 12 * k, 12 * k, 11 * k, 14 * k, 8 * k, 5 * k, std::max(2.0, 2.2 * k),
               4 * k};
}

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
                     double length, bool horizontal, bool zero_based, double headroom) {
  AxisTicks out;
  const double per_tick = horizontal ? st.tick * 5.5 : st.tick * 2.6;
  int max_ticks = std::clamp(static_cast<int>(length / per_tick) + 1, 2, 16);
  for (; max_ticks >= 2; --max_ticks) {
    if (axis.log2_scale) {
      out.range = log2_range(span.lo, span.hi, axis.min, axis.max);
      out.ticks = log2_ticks(out.range, max_ticks, axis.byte_ticks);
      out.minor = log2_minor_values(out.range);
    } else {
      out.range = linear_range(span.lo, span.hi, zero_based, headroom, max_ticks, axis.byte_ticks,
                               axis.min, axis.max);
      out.ticks = linear_ticks(out.range, axis.byte_ticks);
      out.minor.clear();
    }
    out.labels.clear();
    out.max_w = out.max_h = 0;
    for (const Tick& t : out.ticks) {
      out.labels.push_back(ts.make(t.label, st.tick));
      out.max_w = std::max(out.max_w, out.labels.back().w);
      out.max_h = std::max(out.max_h, out.labels.back().h);
    }
    if (out.ticks.size() < 2 || max_ticks == 2) break;
    Mapper m{out.range, axis.log2_scale, 0, length};
    bool fits = true;
    for (size_t i = 1; i < out.ticks.size() && fits; ++i) {
      const double d = std::fabs(m(out.ticks[i].value) - m(out.ticks[i - 1].value));
      const double need =
          horizontal ? (out.labels[i].w + out.labels[i - 1].w) / 2 + st.gap * 1.5 : out.max_h * 1.4;
      fits = d >= need;
    }
    if (fits) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Legend.

enum class LegendMode { inside, right, below };
// A legend beside the plot must leave the plot at least this share of the chart's width;
// otherwise it goes below the plot.
constexpr double kMinPlotShareBesideLegend = 0.55;

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

// Entries for every series with a label; `wrap` bounds label width (and for `flow`, the width of
// a row of entries laid out left to right).
Legend make_legend(const Typesetter& ts, const Style& st, const std::vector<Series>& series,
                   bool bars, double wrap, bool flow) {
  Legend lg;
  lg.bars = bars;
  lg.swatch_w = bars ? st.legend : st.legend * 2.4;
  const double inner = st.gap;
  for (size_t i = 0; i < series.size(); ++i) {
    if (series[i].label.empty()) continue;
    const double label_wrap = std::max(20.0, wrap - lg.swatch_w - st.gap - 2 * inner);
    lg.entries.push_back({i, ts.make(series[i].label, st.legend, false, label_wrap),
                          series[i].dashed, series[i].markers});
  }
  if (lg.entries.empty()) return lg;
  lg.row_h = st.legend * 1.35;
  double x = inner, y = inner, row = 0, widest = 0;
  for (const LegendEntry& e : lg.entries) {
    const double ew = lg.swatch_w + st.gap * 0.7 + e.label.w;
    const double eh = std::max(lg.row_h, e.label.h);
    if (flow && x > inner && x + ew + inner > wrap) {
      x = inner;
      y += row + st.gap * 0.5;
      row = 0;
    }
    lg.at.push_back({x, y});
    row = std::max(row, eh);
    widest = std::max(widest, x + ew);
    if (flow) {
      x += ew + st.gap * 2;
    } else {
      y += eh + st.gap * 0.4;
    }
  }
  lg.w = widest + inner;
  lg.h = (flow ? y + row : y - st.gap * 0.4) + inner;
  return lg;
}

void draw_marker(cairo_t* cr, Marker m, Pt p, double r, Rgb c, bool hollow, double line) {
  switch (m) {
    case Marker::circle:
      cairo_arc(cr, p.x, p.y, r, 0, 2 * std::numbers::pi);
      break;
    case Marker::square:
      cairo_rectangle(cr, p.x - r * 0.88, p.y - r * 0.88, r * 1.76, r * 1.76);
      break;
    case Marker::triangle:
      cairo_move_to(cr, p.x, p.y - r * 1.15);
      cairo_line_to(cr, p.x + r * 1.05, p.y + r * 0.75);
      cairo_line_to(cr, p.x - r * 1.05, p.y + r * 0.75);
      cairo_close_path(cr);
      break;
    case Marker::triangle_down:
      cairo_move_to(cr, p.x, p.y + r * 1.15);
      cairo_line_to(cr, p.x + r * 1.05, p.y - r * 0.75);
      cairo_line_to(cr, p.x - r * 1.05, p.y - r * 0.75);
      cairo_close_path(cr);
      break;
    case Marker::diamond:
      cairo_move_to(cr, p.x, p.y - r * 1.2);
      cairo_line_to(cr, p.x + r * 1.2, p.y);
      cairo_line_to(cr, p.x, p.y + r * 1.2);
      cairo_line_to(cr, p.x - r * 1.2, p.y);
      cairo_close_path(cr);
      break;
  }
  // Dashed (projected) series get hollow markers: measured and projected points differ in
  // shape of fill as well as line style.
  set_colour(cr, hollow ? kWhite : c);
  cairo_fill_preserve(cr);
  set_colour(cr, c);
  cairo_set_line_width(cr, line * 0.7);
  cairo_set_dash(cr, nullptr, 0, 0);
  cairo_stroke(cr);
}

void set_dash(cairo_t* cr, bool dashed, const Style& st) {
  if (dashed) {
    const double d[] = {st.line * 3.2, st.line * 2.0};
    cairo_set_dash(cr, d, 2, 0);
  } else {
    cairo_set_dash(cr, nullptr, 0, 0);
  }
}

void draw_bar_shape(cairo_t* cr, const Rect& r, Rgb c, bool dashed, const Style& st) {
  cairo_rectangle(cr, r.x, r.y, r.w, r.h);
  if (dashed) {
    // Projected bars: light fill and a dashed outline in the series colour.
    set_colour(cr, c, 0.28);
    cairo_fill_preserve(cr);
    set_colour(cr, c);
    cairo_set_line_width(cr, st.line * 0.7);
    set_dash(cr, true, st);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
  } else {
    set_colour(cr, c);
    cairo_fill(cr);
  }
}

void draw_legend(cairo_t* cr, const Typesetter& ts, const Style& st, const Legend& lg, Pt origin,
                 bool boxed) {
  if (lg.empty()) return;
  if (boxed) {
    cairo_rectangle(cr, origin.x, origin.y, lg.w, lg.h);
    set_colour(cr, kWhite, 0.92);
    cairo_fill_preserve(cr);
    set_colour(cr, kFrame);
    cairo_set_line_width(cr, 0.8);
    cairo_set_dash(cr, nullptr, 0, 0);
    cairo_stroke(cr);
  }
  for (size_t i = 0; i < lg.entries.size(); ++i) {
    const LegendEntry& e = lg.entries[i];
    const double x = origin.x + lg.at[i].x;
    const double y = origin.y + lg.at[i].y;
    // Swatch centred on the label's first line; multi-line labels grow downward.
    const double line_h = e.label.h / e.label.lines;
    const double cy = y + std::max(lg.row_h, line_h) / 2;
    const Rgb c = series_colour(e.series);
    if (lg.bars) {
      const double s = lg.swatch_w;
      draw_bar_shape(cr, {x, cy - s / 2, s, s}, c, e.dashed, st);
    } else {
      set_colour(cr, c);
      cairo_set_line_width(cr, st.line);
      set_dash(cr, e.dashed, st);
      cairo_move_to(cr, x, cy);
      cairo_line_to(cr, x + lg.swatch_w, cy);
      cairo_stroke(cr);
      if (e.markers) {
        draw_marker(cr, series_marker(e.series), {x + lg.swatch_w / 2, cy}, st.marker, c, e.dashed,
                    st.line);
      }
    }
    ts.draw(e.label, x + lg.swatch_w + st.gap * 0.7, y + std::max(0.0, (lg.row_h - line_h) / 2),
            kText);
  }
}

// ---------------------------------------------------------------------------------------------
// Things drawn inside the plot that the legend must not cover.

struct Obstacles {
  std::vector<std::pair<Pt, Pt>> segments;
  std::vector<Rect> rects;
  bool hit(const Rect& r) const {
    for (const Rect& o : rects) {
      if (o.intersects(r)) return true;
    }
    for (const auto& [p, q] : segments) {
      if (segment_hits(r, p, q)) return true;
    }
    return false;
  }
};

// A free corner of the plot for a legend box of w x h, or nothing.
std::optional<Pt> free_corner(const Rect& plot, double w, double h, const Obstacles& obs,
                              double margin, double clearance) {
  if (w + 2 * margin > plot.w || h + 2 * margin > plot.h) return std::nullopt;
  const Pt corners[] = {{plot.right() - margin - w, plot.y + margin},
                        {plot.x + margin, plot.y + margin},
                        {plot.right() - margin - w, plot.bottom() - margin - h},
                        {plot.x + margin, plot.bottom() - margin - h}};
  for (const Pt& c : corners) {
    if (!obs.hit(Rect{c.x, c.y, w, h}.inflated(clearance))) return c;
  }
  return std::nullopt;
}

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
                                          const Rect& area, LegendMode mode) {
  const bool flow = mode == LegendMode::below;
  LegendLayout l;
  l.mode = mode;
  l.legend = make_legend(ts, st, series, bars, flow ? area.w - 2 * st.pad : area.w * 0.3, flow);
  if (l.legend.empty() && mode != LegendMode::inside) return std::nullopt;
  if (mode == LegendMode::right && l.legend.w > area.w * 0.34) return std::nullopt;
  l.below_h = mode == LegendMode::below ? l.legend.h + st.gap : 0;
  l.right_edge = area.right() - st.pad - (mode == LegendMode::right ? l.legend.w + st.gap : 0);
  return l;
}

// Places the legend once the plot and everything drawn in it (`obs`) are known. False when the
// mode fails after all (inside: no free corner; right: the plot keeps too little width), and the
// caller tries the next. `clearance` keeps a corner legend off the data; `below_axis` is the
// first y under the x axis's tick (or category) labels and its label.
bool place_legend(LegendLayout& l, const Style& st, const Rect& area, const Rect& plot,
                  const Obstacles& obs, double clearance, double below_axis) {
  if (l.mode == LegendMode::right && plot.w < area.w * kMinPlotShareBesideLegend) return false;
  if (l.legend.empty()) return true;
  switch (l.mode) {
    case LegendMode::inside:
      l.at = free_corner(plot, l.legend.w, l.legend.h, obs, st.gap, clearance);
      return l.at.has_value();
    case LegendMode::right:
      l.at = Pt{area.right() - st.pad - l.legend.w, plot.y};
      return true;
    case LegendMode::below:
      l.at = Pt{area.x + (area.w - l.legend.w) / 2, below_axis + st.gap * 0.5};
      return true;
  }
  return true;
}

// Draws a placed legend (boxed when inside the plot). Returns the y under a legend below the
// plot, where the note goes, or 0.
double draw_placed_legend(cairo_t* cr, const Typesetter& ts, const Style& st,
                          const LegendLayout& l) {
  if (!l.at) return 0;
  draw_legend(cr, ts, st, l.legend, *l.at, l.mode == LegendMode::inside);
  return l.mode == LegendMode::below ? l.at->y + l.legend.h : 0;
}

struct RefLabel {
  Text text;
  Pt at;
};

// Reference lines are drawn across the plot; labels sit at the right end above the line, or
// below it when above would leave the plot or overlap an earlier label.
std::vector<RefLabel> place_reference_labels(const Typesetter& ts, const Style& st,
                                             const std::vector<ReferenceLine>& refs,
                                             const Mapper& my, const Rect& plot) {
  std::vector<RefLabel> out;
  std::vector<Rect> taken;
  for (const ReferenceLine& r : refs) {
    const double y = my(r.y);
    if (r.label.empty() || y < plot.y - 0.5 || y > plot.bottom() + 0.5) {
      out.push_back({Text{}, {}});
      continue;
    }
    Text t = ts.make(r.label, st.tick, false, plot.w * 0.6);
    const double x = plot.right() - st.gap * 0.6 - t.w;
    Rect above{x, y - st.line - t.h, t.w, t.h};
    Rect below{x, y + st.line, t.w, t.h};
    auto ok = [&](const Rect& c) {
      if (!plot.contains(c)) return false;
      for (const Rect& o : taken) {
        if (o.intersects(c)) return false;
      }
      return true;
    };
    const Rect chosen = ok(above) ? above : (ok(below) ? below : above);
    taken.push_back(chosen);
    out.push_back({std::move(t), {chosen.x, chosen.y}});
  }
  return out;
}

void draw_reference_lines(cairo_t* cr, const Style& st, const std::vector<ReferenceLine>& refs,
                          const Mapper& my, const Rect& plot) {
  const double d[] = {st.line * 4, st.line * 1.6, st.line * 1.0, st.line * 1.6};
  for (const ReferenceLine& r : refs) {
    const double y = my(r.y);
    if (y < plot.y - 0.5 || y > plot.bottom() + 0.5) continue;  // outside an explicit axis range
    set_colour(cr, kReference);
    cairo_set_line_width(cr, st.line * 0.6);
    cairo_set_dash(cr, d, 4, 0);
    cairo_move_to(cr, plot.x, y);
    cairo_line_to(cr, plot.right(), y);
    cairo_stroke(cr);
  }
  cairo_set_dash(cr, nullptr, 0, 0);
}

void draw_reference_labels(cairo_t* cr, const Typesetter& ts, const std::vector<RefLabel>& labels) {
  for (const RefLabel& l : labels) {
    if (!l.text) continue;
    // A light backing keeps the label legible where it crosses a series.
    cairo_rectangle(cr, l.at.x - 2, l.at.y, l.text.w + 4, l.text.h);
    set_colour(cr, kWhite, 0.8);
    cairo_fill(cr);
    ts.draw(l.text, l.at.x, l.at.y, kReference);
  }
}

// ---------------------------------------------------------------------------------------------
// The frame shared by both chart types: title, y axis, notes and where the plot goes.

struct Frame {
  Rect area;
  Text title, note, xlabel, ylabel;
  double top = 0;     // first y below the title
  double bottom = 0;  // last y above the note and x-axis label
};

Frame make_frame(const Typesetter& ts, const Style& st, const Rect& area, const std::string& title,
                 const std::string& note, const std::string& xlabel, const std::string& ylabel) {
  Frame f;
  f.area = area;
  const double inner_w = std::max(10.0, area.w - 2 * st.pad);
  f.title = ts.make(title, st.title, true, inner_w, PANGO_ALIGN_CENTER);
  f.note = ts.make(note, st.note, false, inner_w, PANGO_ALIGN_LEFT);
  f.xlabel = ts.make(xlabel, st.label, false, inner_w, PANGO_ALIGN_CENTER);
  f.ylabel = ts.make(ylabel, st.label, false, std::max(10.0, area.h * 0.7), PANGO_ALIGN_CENTER);
  f.top = area.y + st.pad + (f.title ? f.title.h + st.gap * 1.5 : 0);
  f.bottom = area.bottom() - st.pad - (f.note ? f.note.h + st.gap : 0) -
             (f.xlabel ? f.xlabel.h + st.gap * 0.6 : 0);
  return f;
}

// Draws the title, the axis labels and (below `note_from`, or below the x-axis label when that is
// lower) the note. Returns the y below the x-axis label, where a legend below the plot goes.
double draw_frame_text(const Typesetter& ts, const Style& st, const Frame& f, const Rect& plot,
                       double below_ticks, double note_from = 0) {
  if (f.title) ts.draw(f.title, f.area.x + (f.area.w - f.title.w) / 2, f.area.y + st.pad, kText);
  if (f.ylabel) {
    ts.draw_up(f.ylabel, f.area.x + st.pad, plot.y + (plot.h - f.ylabel.w) / 2, kText);
  }
  double y = below_ticks;
  if (f.xlabel) {
    ts.draw(f.xlabel, plot.x + (plot.w - f.xlabel.w) / 2, y + st.gap * 0.6, kText);
    y += st.gap * 0.6 + f.xlabel.h;
  }
  if (f.note) ts.draw(f.note, f.area.x + st.pad, std::max(y, note_from) + st.gap, kMutedText);
  return y;
}

void draw_plot_box(cairo_t* cr, const Rect& plot) {
  cairo_set_dash(cr, nullptr, 0, 0);
  cairo_set_line_width(cr, 1.0);
  set_colour(cr, kFrame);
  cairo_rectangle(cr, plot.x, plot.y, plot.w, plot.h);
  cairo_stroke(cr);
}

void draw_y_axis(cairo_t* cr, const Typesetter& ts, const Style& st, const AxisTicks& yt,
                 const Mapper& my, const Rect& plot) {
  cairo_set_dash(cr, nullptr, 0, 0);
  cairo_set_line_width(cr, 1.0);
  for (double v : yt.minor) {
    set_colour(cr, kMinorGrid);
    cairo_move_to(cr, plot.x, my(v));
    cairo_line_to(cr, plot.right(), my(v));
    cairo_stroke(cr);
  }
  for (size_t i = 0; i < yt.ticks.size(); ++i) {
    const double y = my(yt.ticks[i].value);
    set_colour(cr, kGrid);
    cairo_move_to(cr, plot.x, y);
    cairo_line_to(cr, plot.right(), y);
    cairo_stroke(cr);
    set_colour(cr, kAxis);
    cairo_move_to(cr, plot.x - st.tick_len, y);
    cairo_line_to(cr, plot.x, y);
    cairo_stroke(cr);
    const Text& t = yt.labels[i];
    ts.draw(t, plot.x - st.tick_len - st.gap * 0.5 - t.w, y - t.h / 2, kMutedText);
  }
}

// The left edge of the plot once the y-axis label and the widest tick label are in.
double plot_left(const Style& st, const Frame& f, double tick_label_w) {
  return f.area.x + st.pad + (f.ylabel ? f.ylabel.h + st.gap : 0) + tick_label_w + st.tick_len +
         st.gap * 0.5;
}

// ---------------------------------------------------------------------------------------------
// Line charts.

struct Polyline {
  size_t series = 0;
  std::vector<std::vector<Pt>> runs;  // maximal stretches without a NaN
};

void draw_line_chart(cairo_t* cr, const Typesetter& ts, const Style& st, const LineChart& c,
                     const Rect& area) {
  const Frame f = make_frame(ts, st, area, c.title, c.note, c.x.label, c.y.label);
  DataSpan xs, ys;
  for (const Series& s : c.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      xs.add(s.x[i]);
      ys.add(s.y[i]);
    }
  }
  for (const ReferenceLine& r : c.references) ys.add(r.y);

  for (LegendMode mode : {LegendMode::inside, LegendMode::right, LegendMode::below}) {
    std::optional<LegendLayout> layout = layout_legend(ts, st, c.series, false, area, mode);
    if (!layout) continue;
    LegendLayout& legend = *layout;

    // Vertical extent first (it does not depend on widths), then y ticks, then x.
    const double x_tick_h = ts.make("0", st.tick).h;
    Rect plot;
    plot.y = f.top + x_tick_h / 2;
    const double ticks_bottom = f.bottom - legend.below_h;
    plot.h = std::max(1.0, ticks_bottom - x_tick_h - st.tick_len - st.gap * 0.5 - plot.y);
    const AxisTicks yt = make_ticks(ts, st, c.y, ys, plot.h, false, true, 0.05);
    plot.x = plot_left(st, f, yt.max_w);
    const double right_edge = legend.right_edge;
    AxisTicks xt;
    double overhang = 0;
    for (int pass = 0; pass < 2; ++pass) {
      // The last x tick label is centred on the frame's right edge: leave room for its half.
      plot.w = std::max(1.0, right_edge - overhang - plot.x);
      xt = make_ticks(ts, st, c.x, xs, plot.w, true, false, 0);
      const double last_half = xt.labels.empty() ? 0 : xt.labels.back().w / 2;
      const double room = mode == LegendMode::right ? st.gap : st.pad * 0.5;
      overhang = std::max(0.0, last_half - room);
    }
    const Mapper mx{xt.range, c.x.log2_scale, plot.x, plot.right()};
    const Mapper my{yt.range, c.y.log2_scale, plot.bottom(), plot.y};

    // Device coordinates of every series, split at NaN gaps.
    std::vector<Polyline> lines;
    Obstacles obs;
    for (size_t si = 0; si < c.series.size(); ++si) {
      const Series& s = c.series[si];
      Polyline pl{si, {}};
      std::vector<Pt> run;
      for (size_t i = 0; i <= s.x.size(); ++i) {
        if (i == s.x.size() || std::isnan(s.y[i])) {
          if (!run.empty()) pl.runs.push_back(std::move(run));
          run.clear();
          continue;
        }
        run.push_back({mx(s.x[i]), my(s.y[i])});
      }
      for (const auto& r : pl.runs) {
        for (size_t i = 0; i < r.size(); ++i) {
          if (i > 0) obs.segments.push_back({r[i - 1], r[i]});
          obs.rects.push_back(Rect{r[i].x, r[i].y, 0, 0}.inflated(st.marker));
        }
      }
      lines.push_back(std::move(pl));
    }
    // Markers closer than about two marker widths merge into a band (long time series): such
    // series are drawn as plain lines, and their legend entries match.
    std::vector<bool> show_markers(c.series.size(), false);
    for (const Polyline& pl : lines) {
      if (!c.series[pl.series].markers) continue;
      size_t n = 0;
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (const auto& run : pl.runs) {
        for (const Pt& p : run) {
          ++n;
          lo = std::min(lo, p.x);
          hi = std::max(hi, p.x);
        }
      }
      show_markers[pl.series] = n < 2 || (hi - lo) / static_cast<double>(n - 1) >= st.marker * 2.5;
    }
    for (LegendEntry& e : legend.legend.entries) e.markers = show_markers[e.series];
    const std::vector<RefLabel> ref_labels = place_reference_labels(ts, st, c.references, my, plot);
    for (const ReferenceLine& r : c.references) {
      obs.segments.push_back({{plot.x, my(r.y)}, {plot.right(), my(r.y)}});
    }
    for (const RefLabel& l : ref_labels) {
      if (l.text) obs.rects.push_back({l.at.x, l.at.y, l.text.w, l.text.h});
    }

    // Below the x-axis label (same arithmetic as draw_frame_text).
    const double below_ticks = plot.bottom() + st.tick_len + st.gap * 0.3 + x_tick_h;
    if (!place_legend(legend, st, area, plot, obs, st.line + st.marker * 0.5,
                      below_ticks + (f.xlabel ? st.gap * 0.6 + f.xlabel.h : 0))) {
      continue;
    }

    // Grid, references, data, axes, text; data is clipped to the plot (plus a marker's width,
    // so points on the frame are whole).
    cairo_set_dash(cr, nullptr, 0, 0);
    cairo_set_line_width(cr, 1.0);
    for (double v : xt.minor) {
      set_colour(cr, kMinorGrid);
      cairo_move_to(cr, mx(v), plot.y);
      cairo_line_to(cr, mx(v), plot.bottom());
      cairo_stroke(cr);
    }
    for (size_t i = 0; i < xt.ticks.size(); ++i) {
      const double x = mx(xt.ticks[i].value);
      set_colour(cr, kGrid);
      cairo_move_to(cr, x, plot.y);
      cairo_line_to(cr, x, plot.bottom());
      cairo_stroke(cr);
      set_colour(cr, kAxis);
      cairo_move_to(cr, x, plot.bottom());
      cairo_line_to(cr, x, plot.bottom() + st.tick_len);
      cairo_stroke(cr);
      const Text& t = xt.labels[i];
      ts.draw(t, x - t.w / 2, plot.bottom() + st.tick_len + st.gap * 0.3, kMutedText);
    }
    draw_y_axis(cr, ts, st, yt, my, plot);
    draw_plot_box(cr, plot);
    draw_reference_lines(cr, st, c.references, my, plot);

    cairo_save(cr);
    const Rect clip = plot.inflated(st.marker + st.line);
    cairo_rectangle(cr, clip.x, clip.y, clip.w, clip.h);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (const Polyline& pl : lines) {
      const Series& s = c.series[pl.series];
      const bool markers = show_markers[pl.series];
      const Rgb col = series_colour(pl.series);
      for (const auto& run : pl.runs) {
        if (run.size() == 1 && !markers) {
          // A point between two gaps is still data: show it as a dot.
          set_colour(cr, col);
          cairo_arc(cr, run[0].x, run[0].y, st.line * 1.4, 0, 2 * std::numbers::pi);
          cairo_fill(cr);
          continue;
        }
        set_colour(cr, col);
        cairo_set_line_width(cr, st.line);
        set_dash(cr, s.dashed, st);
        cairo_move_to(cr, run[0].x, run[0].y);
        for (size_t i = 1; i < run.size(); ++i) cairo_line_to(cr, run[i].x, run[i].y);
        cairo_stroke(cr);
      }
      if (markers) {
        for (const auto& run : pl.runs) {
          for (const Pt& p : run) {
            draw_marker(cr, series_marker(pl.series), p, st.marker, col, s.dashed, st.line);
          }
        }
      }
    }
    cairo_restore(cr);
    cairo_set_dash(cr, nullptr, 0, 0);

    draw_reference_labels(cr, ts, ref_labels);
    draw_frame_text(ts, st, f, plot, below_ticks, draw_placed_legend(cr, ts, st, legend));
    return;
  }
}

// ---------------------------------------------------------------------------------------------
// Grouped bar charts.

void draw_bar_chart(cairo_t* cr, const Typesetter& ts, const Style& st, const BarChart& c,
                    const Rect& area) {
  const Frame f = make_frame(ts, st, area, c.title, c.note, "", c.y.label);
  DataSpan ys;
  for (const Series& s : c.series) {
    for (double v : s.y) ys.add(v);
  }
  for (const ReferenceLine& r : c.references) ys.add(r.y);
  const size_t ncat = c.categories.size();
  const size_t nser = c.series.size();

  for (LegendMode mode : {LegendMode::inside, LegendMode::right, LegendMode::below}) {
    std::optional<LegendLayout> layout = layout_legend(ts, st, c.series, true, area, mode);
    if (!layout) continue;
    LegendLayout& legend = *layout;
    const double legend_below = legend.below_h;
    const double right_edge = legend.right_edge;

    // Widths and heights depend on each other (category labels wrap to the slot width, the
    // y tick labels set the left edge): a few passes settle them. Bar value labels may also
    // need more room above the tallest bar, which raises the axis maximum.
    DataSpan span = ys;
    Rect plot;
    AxisTicks yt;
    std::vector<Text> cat_labels;
    double cat_h = ts.make("0", st.tick).h;
    double tick_w = -1;
    // Value labels over bars (rotated to read upward when wider than the bar), in series-major
    // order like the bars themselves.
    std::vector<Text> value_labels;
    std::vector<bool> rotated;
    // Bars share 80% of a category's slot, but no bar is wider than 12% of the plot (one
    // category, one series would otherwise fill the chart).
    auto bar_width = [&](double plot_w) {
      return std::min(plot_w / static_cast<double>(ncat) * 0.8 / static_cast<double>(nser),
                      plot_w * 0.12);
    };
    auto make_value_labels = [&](double bar_w) {
      value_labels.clear();
      rotated.clear();
      for (const Series& s : c.series) {
        for (double v : s.y) {
          value_labels.push_back(ts.make(format_value(v), st.tick * 0.9));
          rotated.push_back(value_labels.back().w > bar_w * 1.15);
        }
      }
    };
    for (int pass = 0; pass < 8; ++pass) {
      plot.y = f.top + st.tick / 2;
      plot.h = std::max(1.0, f.bottom - legend_below - cat_h - st.tick_len - st.gap * 0.5 - plot.y);
      yt = make_ticks(ts, st, c.y, span, plot.h, false, true, 0.05);
      plot.x = plot_left(st, f, yt.max_w);
      plot.w = std::max(1.0, right_edge - plot.x);
      const double slot = plot.w / static_cast<double>(ncat);
      cat_labels.clear();
      double new_cat_h = 0;
      for (const std::string& cat : c.categories) {
        cat_labels.push_back(
            ts.make(cat, st.tick, false, std::max(8.0, slot - st.gap * 0.5), PANGO_ALIGN_CENTER));
        new_cat_h = std::max(new_cat_h, cat_labels.back().h);
      }
      const bool settled = new_cat_h <= cat_h + 0.01 && std::fabs(yt.max_w - tick_w) < 0.01;
      cat_h = std::max(cat_h, new_cat_h);
      tick_w = yt.max_w;
      if (!settled) continue;

      // Room for the value labels: where one would leave the plot, raise the axis maximum (or
      // lower the minimum for negative bars) so that the bar ends one label short of the frame.
      // Axes with an explicit end keep it.
      make_value_labels(bar_width(plot.w));
      const Mapper my{yt.range, c.y.log2_scale, plot.bottom(), plot.y};
      const double base =
          my(c.y.log2_scale ? yt.range.min : std::clamp(0.0, yt.range.min, yt.range.max));
      bool grown = false;
      size_t li = 0;
      for (const Series& s : c.series) {
        for (double v : s.y) {
          const Text& t = value_labels[li];
          const double extent = (rotated[li++] ? t.w : t.h) + st.gap * 0.4;
          const double frac = (plot.h - extent) / plot.h;
          if (std::isnan(v) || frac < 0.2) continue;
          const double py = my(v);
          if (py <= base && py - extent < plot.y && !c.y.max) {
            const double lo = yt.range.min;
            span.hi = std::max(
                span.hi, c.y.log2_scale
                             ? std::exp2(std::log2(lo) + (std::log2(v) - std::log2(lo)) / frac)
                             : lo + (v - lo) / frac);
            grown = true;
          } else if (py > base && py + extent > plot.bottom() && !c.y.min && !c.y.log2_scale) {
            span.lo = std::min(span.lo, yt.range.max - (yt.range.max - v) / frac);
            grown = true;
          }
        }
      }
      if (!grown) break;
      tick_w = -1;  // the axis changed: lay out again
    }
    make_value_labels(bar_width(plot.w));

    const Mapper my{yt.range, c.y.log2_scale, plot.bottom(), plot.y};
    const double slot = plot.w / static_cast<double>(ncat);
    const double bar_w = bar_width(plot.w);
    const double group_w = bar_w * static_cast<double>(nser);
    const double base_v =
        c.y.log2_scale ? yt.range.min : std::clamp(0.0, yt.range.min, yt.range.max);
    const double base = my(base_v);

    struct Bar {
      Rect r;
      size_t series, index;
      double value;
    };
    std::vector<Bar> bars;
    Obstacles obs;
    std::vector<Rect> label_rects;
    size_t li = 0;
    for (size_t si = 0; si < nser; ++si) {
      for (size_t ci = 0; ci < ncat; ++ci, ++li) {
        const double v = c.series[si].y[ci];
        const double x0 = plot.x + slot * ci + (slot - group_w) / 2 + bar_w * si;
        const Text& t = value_labels[li];
        if (std::isnan(v)) {
          label_rects.push_back({x0 + (bar_w - t.w) / 2, base - t.h - st.gap * 0.3, t.w, t.h});
          obs.rects.push_back(label_rects.back());
          continue;
        }
        const double vy = std::clamp(my(v), plot.y, plot.bottom());
        Rect r{x0 + bar_w * 0.06, std::min(vy, base), bar_w * 0.88, std::fabs(base - vy)};
        bars.push_back({r, si, ci, v});
        obs.rects.push_back(r);
        const double ew = rotated[li] ? t.h : t.w, eh = rotated[li] ? t.w : t.h;
        const double ly = vy <= base ? r.y - st.gap * 0.4 - eh : r.bottom() + st.gap * 0.4;
        label_rects.push_back({x0 + (bar_w - ew) / 2, ly, ew, eh});
        obs.rects.push_back(label_rects.back());
      }
    }
    const std::vector<RefLabel> ref_labels = place_reference_labels(ts, st, c.references, my, plot);
    for (const ReferenceLine& r : c.references) {
      obs.segments.push_back({{plot.x, my(r.y)}, {plot.right(), my(r.y)}});
    }
    for (const RefLabel& l : ref_labels) {
      if (l.text) obs.rects.push_back({l.at.x, l.at.y, l.text.w, l.text.h});
    }

    if (!place_legend(legend, st, area, plot, obs, st.gap * 0.5,
                      plot.bottom() + st.tick_len + st.gap * 0.5 + cat_h)) {
      continue;
    }

    draw_y_axis(cr, ts, st, yt, my, plot);
    draw_plot_box(cr, plot);
    cairo_save(cr);
    cairo_rectangle(cr, plot.x, plot.y, plot.w, plot.h);
    cairo_clip(cr);
    for (const Bar& b : bars) {
      draw_bar_shape(cr, b.r, series_colour(b.series), c.series[b.series].dashed, st);
    }
    cairo_restore(cr);
    // The zero line, darker than the grid, where bars start.
    set_colour(cr, kAxis);
    cairo_set_line_width(cr, 1.0);
    cairo_move_to(cr, plot.x, base);
    cairo_line_to(cr, plot.right(), base);
    cairo_stroke(cr);
    draw_reference_lines(cr, st, c.references, my, plot);
    li = 0;
    for (size_t si = 0; si < nser; ++si) {
      for (size_t ci = 0; ci < ncat; ++ci, ++li) {
        const Text& t = value_labels[li];
        const Rect& r = label_rects[li];
        const bool missing = std::isnan(c.series[si].y[ci]);
        if (rotated[li]) {
          ts.draw_up(t, r.x, r.y, missing ? kMutedText : kText);
        } else {
          ts.draw(t, r.x, r.y, missing ? kMutedText : kText);
        }
      }
    }
    for (size_t ci = 0; ci < ncat; ++ci) {
      const double cx = plot.x + slot * (ci + 0.5);
      const Text& t = cat_labels[ci];
      ts.draw(t, cx - t.w / 2, plot.bottom() + st.tick_len + st.gap * 0.3, kText);
    }
    draw_reference_labels(cr, ts, ref_labels);
    draw_frame_text(ts, st, f, plot, plot.bottom() + st.tick_len + st.gap * 0.3 + cat_h,
                    draw_placed_legend(cr, ts, st, legend));
    return;
  }
}

void draw_chart(cairo_t* cr, const Typesetter& ts, const Chart& c, const Rect& area) {
  const Style st = style_for({static_cast<int>(area.w), static_cast<int>(area.h)});
  cairo_save(cr);
  cairo_rectangle(cr, area.x, area.y, area.w, area.h);
  cairo_clip(cr);
  set_colour(cr, kWhite);
  cairo_paint(cr);
  if (const auto* line = std::get_if<LineChart>(&c)) {
    draw_line_chart(cr, ts, st, *line, area);
  } else {
    draw_bar_chart(cr, ts, st, std::get<BarChart>(c), area);
  }
  cairo_restore(cr);
}

// ---------------------------------------------------------------------------------------------
// Surfaces: PNG through an image surface, SVG through an SVG surface, both into memory.

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

void check(cairo_status_t s, const char* what) {
  if (s != CAIRO_STATUS_SUCCESS) {
    throw runtime_error(
        fmt::format("chart rendering failed ({}): {}", what, cairo_status_to_string(s)));
  }
}

// cairo names SVG elements after surfaces and images by process-wide ids (the second chart of a
// process gets "surface6" where the first got "surface1"); glyph and pattern ids are already
// per document. Renumbering the global ones in order of appearance makes the same chart the
// same file, whatever was rendered before it.
std::string renumber_svg_ids(const std::string& svg) {
  static const std::regex id_re(R"re((id="|href="#|url\(#)(surface|image)([0-9]+))re");
  std::map<std::string, int> last_given;                     // prefix -> highest new number
  std::map<std::pair<std::string, std::string>, int> given;  // (prefix, old number) -> new
  std::string out;
  out.reserve(svg.size());
  size_t copied = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), id_re); it != std::sregex_iterator();
       ++it) {
    const std::smatch& m = *it;
    auto [pos, inserted] = given.try_emplace({m[2].str(), m[3].str()}, 0);
    if (inserted) pos->second = ++last_given[m[2].str()];
    out.append(svg, copied, static_cast<size_t>(m.position(0)) - copied);
    out += m[1].str() + m[2].str() + std::to_string(pos->second);
    copied = static_cast<size_t>(m.position(0) + m.length(0));
  }
  out.append(svg, copied, std::string::npos);
  return out;
}

std::string render_surface(ImageFormat f, int w, int h, const FontSet& fonts,
                           const std::function<void(cairo_t*, const Typesetter&)>& draw) {
  std::string out;
  SurfacePtr surface;
  if (f == ImageFormat::png) {
    surface.reset(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h));
  } else {
    surface.reset(cairo_svg_surface_create_for_stream(append_bytes, &out, w, h));
#if CAIRO_VERSION >= CAIRO_VERSION_ENCODE(1, 16, 0)
    cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PT);
#endif
  }
  check(cairo_surface_status(surface.get()), "surface");
  {
    CairoPtr cr(cairo_create(surface.get()));
    check(cairo_status(cr.get()), "context");
    {
      const Typesetter ts(cr.get(), fonts);
      set_colour(cr.get(), kWhite);
      cairo_paint(cr.get());
      draw(cr.get(), ts);
    }
    check(cairo_status(cr.get()), "drawing");
  }
  if (f == ImageFormat::png) {
    cairo_surface_flush(surface.get());
    check(cairo_surface_write_to_png_stream(surface.get(), append_bytes, &out), "PNG encoding");
    return out;
  }
  cairo_surface_finish(surface.get());
  check(cairo_surface_status(surface.get()), "SVG output");
  return renumber_svg_ids(out);
}

}  // namespace

std::string render_chart_cairo(const Chart& c, ImageFormat f, ImageSize size,
                               const FontSet& fonts) {
  return render_surface(f, size.width, size.height, fonts, [&](cairo_t* cr, const Typesetter& ts) {
    draw_chart(cr, ts, c,
               {0, 0, static_cast<double>(size.width), static_cast<double>(size.height)});
  });
}

std::string render_grid_cairo(const std::vector<Chart>& charts, int columns, ImageFormat f,
                              ImageSize panel, const std::string& title, const FontSet& fonts) {
  const int rows = static_cast<int>((charts.size() + columns - 1) / columns);
  const int width = columns * panel.width;
  // The title band's height comes from the measured (wrapped) title, at most one panel high;
  // a throwaway surface measures it before the real one is sized.
  int band = 0;
  if (!title.empty()) {
    const Style st = style_for(panel);
    SurfacePtr probe(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1));
    CairoPtr cr(cairo_create(probe.get()));
    const Typesetter ts(cr.get(), fonts);
    const Text t = ts.make(title, st.title * 1.3, true, width - 2 * st.pad, PANGO_ALIGN_CENTER);
    band = std::min(panel.height, static_cast<int>(std::ceil(t.h + 2 * st.pad)));
  }
  const int height = rows * panel.height + band;
  return render_surface(f, width, height, fonts, [&](cairo_t* cr, const Typesetter& ts) {
    if (band > 0) {
      const Style st = style_for(panel);
      const Text t = ts.make(title, st.title * 1.3, true, width - 2 * st.pad, PANGO_ALIGN_CENTER);
      cairo_save(cr);
      cairo_rectangle(cr, 0, 0, width, band);
      cairo_clip(cr);
      ts.draw(t, (width - t.w) / 2, st.pad, kText);
      cairo_restore(cr);
    }
    for (size_t i = 0; i < charts.size(); ++i) {
      const int col = static_cast<int>(i) % columns;
      const int row = static_cast<int>(i) / columns;
      draw_chart(
          cr, ts, charts[i],
          {static_cast<double>(col * panel.width), static_cast<double>(band + row * panel.height),
           static_cast<double>(panel.width), static_cast<double>(panel.height)});
    }
  });
}

int missing_glyphs_cairo(const std::string& text, const FontSet& fonts) {
  SurfacePtr probe(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1));
  CairoPtr cr(cairo_create(probe.get()));
  const Typesetter ts(cr.get(), fonts);
  return ts.unknown_glyphs(text);
}

}  // namespace sxb::report::detail
