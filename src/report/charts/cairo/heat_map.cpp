// Heat maps: a matrix of cells coloured by value (chart.hpp's heat_colour), each printing its
// value, with the row labels on the left, the column labels above (turned to read upward when
// wider than a cell) and the colour scale on the right. A missing value is a light grey cell with
// a diagonal; a marked cell gets a heavy outline; a marked row or column label is drawn bold
// beside a bar in the marking colour.
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "report/charts/cairo/canvas.hpp"
#include "report/charts/ticks.hpp"

namespace sxb::report::detail::cairo {

namespace {

constexpr Rgb kMark = hex(0xD55E00);  // Okabe & Ito's vermillion: slow cells and units

Rgb to_rgb(HeatColour c) {
  return {c.r, c.g, c.b};
}

// Dark text on light cells, white on dark ones (relative luminance).
Rgb text_on(Rgb c) {
  return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b > 0.45 ? kText : kWhite;
}

}  // namespace

void draw_heat_map(cairo_t* cr, const Typesetter& ts, const Style& st, const HeatMap& c,
                   const Rect& area) {
  const Frame f = make_frame(ts, st, area, c.title, c.note, "", "");
  const std::optional<HeatScale> scale = heat_scale(c);
  const size_t nr = c.rows.size(), nc = c.columns.size();
  auto row_marked = [&](size_t i) { return !c.marked_rows.empty() && c.marked_rows[i]; };
  // Square matrices mark a unit's column as well as its row.
  auto col_marked = [&](size_t j) {
    return nr == nc && !c.marked_rows.empty() && c.marked_rows[j];
  };

  // The colour scale on the right: a bar, its two end values and its caption (reading upward).
  const double bar_w = st.tick * 1.4;
  const Text lo_text = ts.make(scale ? format_value(scale->lo) : "", st.tick);
  const Text hi_text = ts.make(scale ? format_value(scale->hi) : "", st.tick);
  const Text caption = ts.make(c.scale_label, st.label, false, std::max(10.0, area.h * 0.6),
                               PANGO_ALIGN_CENTER);
  const double scale_w = st.gap * 2 + bar_w + st.gap * 0.6 + std::max(lo_text.w, hi_text.w) +
                         (caption ? st.gap + caption.h : 0);
  const double right = area.right() - st.pad - scale_w;

  // Row labels: at most 30% of the width, wrapped.
  const double row_w_max = std::max(20.0, area.w * 0.3);
  std::vector<Text> row_labels;
  double row_w = 0;
  for (size_t i = 0; i < nr; ++i) {
    row_labels.push_back(ts.make(c.rows[i], st.tick, row_marked(i), row_w_max));
    row_w = std::max(row_w, row_labels.back().w);
  }
  const double mark_w = st.tick * 0.4;
  const double left = area.x + st.pad + row_w + st.gap + mark_w + st.gap * 0.5;
  const double cell_w = std::max(4.0, (right - left) / static_cast<double>(nc));

  // Column labels: horizontal when every one fits its cell, else turned.
  std::vector<Text> col_labels;
  bool turned = false;
  for (size_t j = 0; j < nc; ++j) {
    col_labels.push_back(
        ts.make(c.columns[j], st.tick, col_marked(j), 0, PANGO_ALIGN_CENTER));
    if (col_labels.back().w > cell_w - st.gap * 0.5) turned = true;
  }
  double col_h = 0;
  for (const Text& t : col_labels) col_h = std::max(col_h, turned ? t.w : t.h);
  col_h = std::min(col_h, area.h * 0.3);
  const double top = f.top + col_h + st.gap + mark_w + st.gap * 0.5;
  const double cell_h =
      std::max(4.0, std::min((f.bottom - top) / static_cast<double>(nr), cell_w * 1.2));
  const Rect grid{left, top, cell_w * static_cast<double>(nc), cell_h * static_cast<double>(nr)};

  // Cells.
  for (size_t i = 0; i < nr; ++i) {
    for (size_t j = 0; j < nc; ++j) {
      const double v = c.values[i][j];
      const Rect cell{grid.x + cell_w * static_cast<double>(j),
                      grid.y + cell_h * static_cast<double>(i), cell_w, cell_h};
      const Rgb fill = to_rgb(heat_colour(scale ? heat_position(*scale, v) : std::nan("")));
      set_colour(cr, fill);
      cairo_rectangle(cr, cell.x, cell.y, cell.w, cell.h);
      cairo_fill(cr);
      if (std::isnan(v)) {
        set_colour(cr, kFrame);
        cairo_set_line_width(cr, 1.0);
        cairo_move_to(cr, cell.x, cell.bottom());
        cairo_line_to(cr, cell.right(), cell.y);
        cairo_stroke(cr);
        continue;
      }
      const Text t = ts.make(format_value(v), std::min(st.tick, cell_h * 0.45));
      if (t.w < cell.w - 2 && t.h < cell.h - 2) {
        ts.draw(t, cell.x + (cell.w - t.w) / 2, cell.y + (cell.h - t.h) / 2, text_on(fill));
      }
    }
  }
  // Thin white lines between cells, the frame, then the marks over them.
  cairo_set_line_width(cr, 1.0);
  set_colour(cr, kWhite);
  for (size_t j = 1; j < nc; ++j) {
    const double x = grid.x + cell_w * static_cast<double>(j);
    cairo_move_to(cr, x, grid.y);
    cairo_line_to(cr, x, grid.bottom());
  }
  for (size_t i = 1; i < nr; ++i) {
    const double y = grid.y + cell_h * static_cast<double>(i);
    cairo_move_to(cr, grid.x, y);
    cairo_line_to(cr, grid.right(), y);
  }
  cairo_stroke(cr);
  draw_plot_box(cr, grid);
  const double heavy = std::max(2.5, st.line * 1.4);
  set_colour(cr, kMark);
  cairo_set_line_width(cr, heavy);
  for (size_t i = 0; i < c.marked.size(); ++i) {
    for (size_t j = 0; j < c.marked[i].size(); ++j) {
      if (!c.marked[i][j]) continue;
      cairo_rectangle(cr, grid.x + cell_w * static_cast<double>(j) + heavy / 2,
                      grid.y + cell_h * static_cast<double>(i) + heavy / 2, cell_w - heavy,
                      cell_h - heavy);
      cairo_stroke(cr);
    }
  }

  // Labels, with a bar in the marking colour beside a marked unit.
  for (size_t i = 0; i < nr; ++i) {
    const double cy = grid.y + cell_h * (static_cast<double>(i) + 0.5);
    const Text& t = row_labels[i];
    ts.draw(t, left - st.gap * 0.5 - mark_w - st.gap - t.w, cy - t.h / 2,
            row_marked(i) ? kMark : kText);
    if (row_marked(i)) {
      set_colour(cr, kMark);
      cairo_rectangle(cr, left - st.gap * 0.5 - mark_w, grid.y + cell_h * static_cast<double>(i),
                      mark_w, cell_h);
      cairo_fill(cr);
    }
  }
  for (size_t j = 0; j < nc; ++j) {
    const double cx = grid.x + cell_w * (static_cast<double>(j) + 0.5);
    const Text& t = col_labels[j];
    const Rgb colour = col_marked(j) ? kMark : kText;
    const double base = grid.y - st.gap * 0.5 - mark_w - st.gap;  // labels end here
    if (turned) {
      ts.draw_up(t, cx - t.h / 2, base - t.w, colour);
    } else {
      ts.draw(t, cx - t.w / 2, base - t.h, colour);
    }
    if (col_marked(j)) {
      set_colour(cr, kMark);
      cairo_rectangle(cr, grid.x + cell_w * static_cast<double>(j), grid.y - st.gap * 0.5 - mark_w,
                      cell_w, mark_w);
      cairo_fill(cr);
    }
  }

  // The scale: a gradient bar from the lowest value (bottom) to the highest (top).
  if (scale) {
    const Rect bar{right + st.gap * 2, grid.y, bar_w, grid.h};
    const int steps = 64;
    for (int k = 0; k < steps; ++k) {
      const double p0 = static_cast<double>(k) / steps;
      set_colour(cr, to_rgb(heat_colour((k + 0.5) / steps)));
      cairo_rectangle(cr, bar.x, bar.bottom() - (p0 + 1.0 / steps) * bar.h, bar.w,
                      bar.h / steps + 0.5);
      cairo_fill(cr);
    }
    draw_plot_box(cr, bar);
    ts.draw(hi_text, bar.right() + st.gap * 0.6, bar.y, kText);
    ts.draw(lo_text, bar.right() + st.gap * 0.6, bar.bottom() - lo_text.h, kText);
    if (caption) {
      const double x = bar.right() + st.gap * 0.6 + std::max(lo_text.w, hi_text.w) + st.gap;
      ts.draw_up(caption, x, bar.y + (bar.h - std::min(caption.w, bar.h)) / 2, kText);
    }
  }
  draw_frame_text(ts, st, f, grid, grid.bottom());
}

}  // namespace sxb::report::detail::cairo
