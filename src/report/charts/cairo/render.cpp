// Chart renderer entry points: draw_chart, and one chart or a grid as PNG or SVG in memory.
// cairo draws, pango lays out every piece of text (UTF-8, with fontconfig's fallback across the
// font set, so Japanese finds a CJK font). Compiled only when cairo and pango are found
// (SXB_HAVE_CHARTS); inputs arrive validated by report/charts/chart.cpp.
#include "report/charts/render.hpp"

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <regex>
#include <utility>

#include "core/error.hpp"
#include "report/charts/cairo/canvas.hpp"

namespace sxb::report::detail {

namespace {

using cairo::CairoPtr;
using cairo::draw_bar_chart;
using cairo::draw_heat_map;
using cairo::draw_line_chart;
using cairo::kText;
using cairo::kWhite;
using cairo::Rect;
using cairo::set_colour;
using cairo::Style;
using cairo::SurfacePtr;
using cairo::Text;
using cairo::Typesetter;

Style style_for(ImageSize s) {
  const double k =
      std::clamp(std::sqrt(static_cast<double>(s.width) * s.height / (960.0 * 560.0)), 0.75, 3.0);
  // Lines at least 2 px wide: every line then covers one full pixel row or column wherever it
  // falls, so small panels keep solid series colours, not only antialiased blends.
  return Style{17 * k, 13 * k, 12 * k, 12 * k, 11 * k, 14 * k, 8 * k, 5 * k, std::max(2.0, 2.2 * k),
               4 * k};
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
  } else if (const auto* bars = std::get_if<BarChart>(&c)) {
    draw_bar_chart(cr, ts, st, *bars, area);
  } else {
    draw_heat_map(cr, ts, st, std::get<HeatMap>(c), area);
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
