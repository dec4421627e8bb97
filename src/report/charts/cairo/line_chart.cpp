// Line charts: series as polylines with markers, split at NaN gaps, a legend clear of the data.
#include <cairo.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <vector>

#include "report/charts/cairo/canvas.hpp"

namespace sxb::report::detail::cairo {

namespace {

struct Polyline {
  size_t series = 0;
  std::vector<std::vector<Pt>> runs;  // maximal stretches without a NaN
};

}  // namespace

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

}  // namespace sxb::report::detail::cairo
