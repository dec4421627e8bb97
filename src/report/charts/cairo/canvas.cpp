// Shared chart drawing: axis ticks, markers, legend layout, reference labels, frame and y axis.
#include "report/charts/cairo/canvas.hpp"

namespace sxb::report::detail::cairo {

namespace {

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

// A legend beside the plot must leave the plot at least this share of the chart's width;
// otherwise it goes below the plot.
constexpr double kMinPlotShareBesideLegend = 0.55;

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

}  // namespace

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

namespace {

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

}  // namespace

bool Obstacles::hit(const Rect& r) const {
  for (const Rect& o : rects) {
    if (o.intersects(r)) return true;
  }
  for (const auto& [p, q] : segments) {
    if (segment_hits(r, p, q)) return true;
  }
  return false;
}

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
                       double below_ticks, double note_from) {
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

}  // namespace sxb::report::detail::cairo
