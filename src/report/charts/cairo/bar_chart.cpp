// Grouped bar charts: bars per category and series, value labels, a legend clear of both.
#include <cairo.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "report/charts/cairo/canvas.hpp"
#include "report/charts/ticks.hpp"

namespace sxb::report::detail::cairo {

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

}  // namespace sxb::report::detail::cairo
