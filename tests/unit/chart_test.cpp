// The chart renderer (report/chart.hpp). Images are checked by decoding them again: PNG through
// cairo's PNG reader and pixel counts, SVG by its header and a tag-balance pass. Built without
// cairo/pango, the renderer must refuse (tested below) and the drawing tests report skipped.
#include "report/charts/chart.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

#if SXB_HAVE_CHARTS
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <unistd.h>
#endif

namespace sxb::report {
namespace {

#if SXB_HAVE_CHARTS

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Okabe-Ito blue and orange: the first two series colours.
constexpr uint32_t kBlue = 0x0072B2;
constexpr uint32_t kOrange = 0xE69F00;
constexpr uint32_t kGreen = 0x009E73;
constexpr uint32_t kWhitePx = 0xFFFFFF;

struct Image {
  int width = 0, height = 0;
  std::vector<uint32_t> rgb;  // 0xRRGGBB per pixel, row-major
  uint32_t at(int x, int y) const { return rgb[static_cast<size_t>(y) * width + x]; }
};

struct ReadState {
  const std::string* data;
  size_t pos = 0;
};

cairo_status_t read_bytes(void* closure, unsigned char* out, unsigned int length) {
  auto* s = static_cast<ReadState*>(closure);
  if (s->pos + length > s->data->size()) return CAIRO_STATUS_READ_ERROR;
  std::copy_n(s->data->data() + s->pos, length, out);
  s->pos += length;
  return CAIRO_STATUS_SUCCESS;
}

// Decodes PNG bytes with cairo's reader; fails the test when they do not decode.
Image decode_png(const std::string& png) {
  ReadState state{&png};
  cairo_surface_t* s = cairo_image_surface_create_from_png_stream(read_bytes, &state);
  Image img;
  EXPECT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS) << "PNG does not decode";
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(s);
    img.width = cairo_image_surface_get_width(s);
    img.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    img.rgb.resize(static_cast<size_t>(img.width) * img.height);
    for (int y = 0; y < img.height; ++y) {
      const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<size_t>(y) * stride);
      // Opaque images: premultiplied ARGB equals plain RGB.
      for (int x = 0; x < img.width; ++x)
        img.rgb[static_cast<size_t>(y) * img.width + x] = row[x] & 0xFFFFFF;
    }
  }
  cairo_surface_destroy(s);
  return img;
}

size_t count(const Image& img, uint32_t colour) {
  return static_cast<size_t>(std::count(img.rgb.begin(), img.rgb.end(), colour));
}

// Rows and columns holding a colour.
struct Extent {
  int x0 = 1 << 30, x1 = -1, y0 = 1 << 30, y1 = -1;
  size_t pixels = 0;
};
Extent extent(const Image& img, uint32_t colour, int x_from = 0, int x_to = -1) {
  Extent e;
  if (x_to < 0) x_to = img.width;
  for (int y = 0; y < img.height; ++y) {
    for (int x = x_from; x < x_to; ++x) {
      if (img.at(x, y) != colour) continue;
      ++e.pixels;
      e.x0 = std::min(e.x0, x);
      e.x1 = std::max(e.x1, x);
      e.y0 = std::min(e.y0, y);
      e.y1 = std::max(e.y1, y);
    }
  }
  return e;
}

// Runs of consecutive columns of one row that hold `colour`.
std::vector<std::pair<int, int>> runs_in_row(const Image& img, int y, uint32_t colour) {
  std::vector<std::pair<int, int>> runs;
  for (int x = 0; x < img.width; ++x) {
    if (img.at(x, y) != colour) continue;
    if (!runs.empty() && runs.back().second == x - 1) {
      runs.back().second = x;
    } else {
      runs.push_back({x, x});
    }
  }
  return runs;
}

// The row with the most pixels of `colour` (the core of a horizontal line of that colour).
int densest_row(const Image& img, uint32_t colour) {
  int best = -1;
  size_t best_n = 0;
  for (int y = 0; y < img.height; ++y) {
    size_t n = 0;
    for (int x = 0; x < img.width; ++x) n += img.at(x, y) == colour;
    if (n > best_n) {
      best_n = n;
      best = y;
    }
  }
  return best;
}

size_t longest_run(const std::vector<std::pair<int, int>>& runs) {
  size_t best = 0;
  for (const auto& [a, b] : runs) best = std::max(best, static_cast<size_t>(b - a + 1));
  return best;
}

Series line(std::string label, std::vector<double> x, std::vector<double> y, bool dashed = false,
            bool markers = true) {
  return Series{std::move(label), std::move(x), std::move(y), dashed, markers};
}

// A line chart with fixed axes 0..100, so data positions are known fractions of the plot.
LineChart fixed_chart(std::vector<Series> series) {
  LineChart c;
  c.title = "Fixed axes";
  c.x = Axis{"x (units)", false, false, 0.0, 100.0};
  c.y = Axis{"y (units)", false, false, 0.0, 100.0};
  c.series = std::move(series);
  return c;
}

LineChart scaling_chart() {
  LineChart c;
  c.title = "Scaling efficiency vs nodes";
  c.x.label = "nodes";
  c.y.label = "scaling efficiency (%)";
  c.series = {line("measured", {1, 2, 4}, {100, 97.5, 95.2}),
              line("projected", {4, 8}, {95.2, 90.8}, true)};
  c.references = {{95, "4-node target 95%"}, {90, "8-node target 90%"}};
  c.note = "dashed: projected (performance model), not measured";
  return c;
}

BarChart throughput_bars() {
  BarChart b;
  b.title = "Throughput";
  b.categories = {"1 node", "2 nodes", "4 nodes", "8 nodes"};
  b.series = {line("8B", {}, {51000, 100000, 196000, 380000}),
              line("70B", {}, {6100, 11900, kNaN, 44000}, true)};
  b.y.label = "throughput (tokens/s)";
  b.note = "n/a: not measured";
  return b;
}

bool cjk_font_installed() {
  FcPattern* pattern = FcPatternCreate();
  FcLangSet* langs = FcLangSetCreate();
  FcLangSetAdd(langs, reinterpret_cast<const FcChar8*>("ja"));
  FcPatternAddLangSet(pattern, FC_LANG, langs);
  FcObjectSet* fields = FcObjectSetBuild(FC_FAMILY, nullptr);
  FcFontSet* fonts = FcFontList(nullptr, pattern, fields);
  const bool any = fonts != nullptr && fonts->nfont > 0;
  if (fonts) FcFontSetDestroy(fonts);
  FcObjectSetDestroy(fields);
  FcLangSetDestroy(langs);
  FcPatternDestroy(pattern);
  return any;
}

// Start/end tags balance and nest: enough to call the SVG well-formed for a viewer.
bool tags_balance(const std::string& xml, std::string* why) {
  std::vector<std::string> open;
  size_t i = 0;
  while ((i = xml.find('<', i)) != std::string::npos) {
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) {
      *why = "unterminated tag";
      return false;
    }
    const std::string tag = xml.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    if (tag.back() == '/') continue;
    const size_t name_end = tag.find_first_of(" \t\r\n/");
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) {
        *why = "closing </" + name + "> does not match <" + (open.empty() ? "" : open.back()) + ">";
        return false;
      }
      open.pop_back();
    } else {
      open.push_back(tag.substr(0, name_end));
    }
  }
  if (!open.empty()) *why = "<" + open.back() + "> never closed";
  return open.empty();
}

void expect_one_line_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming '" << part << "'";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(part), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_EQ(e.code(), ExitCode::usage) << m;
  }
}

TEST(Chart, AvailableInThisBuild) {
  EXPECT_TRUE(charts_available());
}

TEST(Chart, PngDecodesWithTheRequestedSizeAndIsNotBlank) {
  const std::string png = render_chart(scaling_chart(), ImageFormat::png, {800, 500});
  ASSERT_EQ(png.rfind("\x89PNG\r\n\x1a\n", 0), 0u);
  const Image img = decode_png(png);
  ASSERT_EQ(img.width, 800);
  ASSERT_EQ(img.height, 500);
  const size_t total = img.rgb.size();
  const size_t background = count(img, kWhitePx);
  EXPECT_GT(background, total / 2) << "white background";
  EXPECT_GT(total - background, total / 50) << "axes, text and data drawn";
  std::set<uint32_t> colours(img.rgb.begin(), img.rgb.end());
  EXPECT_GT(colours.size(), 20u);
  // Both series are there in their palette colours.
  EXPECT_GT(count(img, kBlue), 100u);
  EXPECT_GT(count(img, kOrange), 50u);
  // Default size.
  const Image d = decode_png(render_chart(scaling_chart(), ImageFormat::png));
  EXPECT_EQ(d.width, 960);
  EXPECT_EQ(d.height, 560);
}

TEST(Chart, SeriesAppearWhereTheirDataIs) {
  // Two horizontal lines on fixed 0..100 axes: y = 75 (blue) above y = 25 (orange), both across
  // the middle of the image; an increasing line (green) is lower on the left than on the right.
  // No labels, so no legend swatches in these colours.
  const LineChart c = fixed_chart({line("", {0, 100}, {75, 75}, false, false),
                                   line("", {0, 100}, {25, 25}, false, false),
                                   line("", {10, 90}, {10, 90}, false, false)});
  const Image img = decode_png(render_chart(c, ImageFormat::png, {900, 600}));
  const int high = densest_row(img, kBlue);
  const int low = densest_row(img, kOrange);
  ASSERT_GE(high, 0);
  ASSERT_GE(low, 0);
  EXPECT_LT(high, low) << "y grows upward";
  EXPECT_GT(high, img.height / 10);
  EXPECT_LT(low, img.height * 9 / 10);
  // The plot spans most of the width: the horizontal line runs across more than half of it
  // (broken only where the rising line crosses it).
  const auto high_runs = runs_in_row(img, high, kBlue);
  ASSERT_FALSE(high_runs.empty());
  const double plot_w = high_runs.back().second - high_runs.front().first + 1;
  EXPECT_GT(plot_w, img.width / 2);
  // Data 25 and 75 sit at a quarter and three quarters of the y axis: the gap between the two
  // lines is about the distance from the low line to the plot bottom (y = 0) doubled.
  const Extent g = extent(img, kGreen);
  ASSERT_GT(g.pixels, 100u);
  size_t left_row = 0, right_row = 0, left_n = 0, right_n = 0;
  for (int y = 0; y < img.height; ++y) {
    for (int x = g.x0; x < g.x0 + 10; ++x) {
      if (img.at(x, y) == kGreen) left_row += y, ++left_n;
    }
    for (int x = g.x1 - 9; x <= g.x1; ++x) {
      if (img.at(x, y) == kGreen) right_row += y, ++right_n;
    }
  }
  ASSERT_GT(left_n, 0u);
  ASSERT_GT(right_n, 0u);
  EXPECT_GT(left_row / left_n, right_row / right_n + img.height / 4) << "rising line rises";
  // x = 10..90 of 0..100: the rising line covers about 80% of the horizontal line's width.
  EXPECT_NEAR((g.x1 - g.x0) / plot_w, 0.8, 0.03);
}

TEST(Chart, OneSeriesDiffersFromTwo) {
  LineChart one = fixed_chart({line("a", {0, 50, 100}, {20, 60, 40})});
  LineChart two = one;
  two.series.push_back(line("b", {0, 50, 100}, {70, 30, 80}));
  const std::string p1 = render_chart(one, ImageFormat::png);
  const std::string p2 = render_chart(two, ImageFormat::png);
  EXPECT_NE(p1, p2);
  const Image i1 = decode_png(p1), i2 = decode_png(p2);
  EXPECT_EQ(count(i1, kOrange), 0u);
  EXPECT_GT(count(i2, kOrange), 100u);
  EXPECT_GT(count(i1, kBlue), 100u);
  EXPECT_GT(count(i2, kBlue), 100u);
}

TEST(Chart, SameInputSameBytes) {
  const Chart c = scaling_chart();
  const std::string png = render_chart(c, ImageFormat::png);
  const std::string svg = render_chart(c, ImageFormat::svg);
  render_chart(throughput_bars(), ImageFormat::svg);  // other surfaces in between
  EXPECT_EQ(render_chart(c, ImageFormat::png), png);
  EXPECT_EQ(render_chart(c, ImageFormat::svg), svg);
}

TEST(Chart, SvgIsWellFormedWithSizeAndGlyphs) {
  const std::string svg = render_chart(scaling_chart(), ImageFormat::svg, {800, 450});
  EXPECT_TRUE(svg.rfind("<?xml", 0) == 0 || svg.rfind("<svg", 0) == 0) << svg.substr(0, 80);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("width=\"800pt\""), std::string::npos) << svg.substr(0, 300);
  EXPECT_NE(svg.find("height=\"450pt\""), std::string::npos);
  EXPECT_NE(svg.find("viewBox=\"0 0 800 450\""), std::string::npos);
  // Text is drawn as glyph outlines (symbols) placed with <use>.
  EXPECT_NE(svg.find("id=\"glyph"), std::string::npos);
  EXPECT_NE(svg.find("<use"), std::string::npos);
  // Series colours as strokes.
  EXPECT_NE(svg.find("stroke:rgb(0%,44.705882%,69.803922%)"), std::string::npos)
      << "Okabe-Ito blue stroke";
  std::string why;
  EXPECT_TRUE(tags_balance(svg, &why)) << why;
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

TEST(Chart, JapaneseTextHasNoUnknownGlyphs) {
  if (!cjk_font_installed()) {
    GTEST_SKIP() << "no font with Japanese coverage installed (fontconfig lang 'ja'); "
                    "setup/install_all.sh installs fonts-noto-cjk";
  }
  const std::string title = "ノード数に対するスケーリング効率（実測と予測）";
  EXPECT_EQ(missing_glyphs(title), 0);
  EXPECT_EQ(missing_glyphs("バス帯域幅 (GB/s)、メッセージサイズ"), 0);
  // The same check with the font list a report would pass.
  EXPECT_EQ(missing_glyphs(title, FontSet{"Noto Sans CJK JP, sans-serif"}), 0);
  // And the counter does count: a private-use code point no font draws.
  EXPECT_GT(missing_glyphs("\xF4\x8F\xBF\xBD"), 0);  // U+10FFFD

  LineChart c = scaling_chart();
  c.title = title;
  c.x.label = "ノード数";
  c.y.label = "スケーリング効率 (%)";
  c.series[0].label = "実測";
  c.series[1].label = "予測（性能モデル）";
  c.references[0].label = "目標 95%";
  c.note = "破線: 予測値（実測ではない）";
  const Image ja = decode_png(render_chart(c, ImageFormat::png));
  const Image en = decode_png(render_chart(scaling_chart(), ImageFormat::png));
  EXPECT_EQ(ja.width, 960);
  EXPECT_NE(ja.rgb, en.rgb);
  EXPECT_GT(count(ja, kBlue), 100u);
}

TEST(Chart, NanMakesAGapInTheLine) {
  std::vector<double> x, y, y_gap;
  for (int i = 0; i <= 20; ++i) {
    x.push_back(i * 5.0);
    y.push_back(50);
    y_gap.push_back(i >= 9 && i <= 11 ? kNaN : 50);
  }
  const Image solid =
      decode_png(render_chart(fixed_chart({line("s", x, y, false, false)}), ImageFormat::png));
  const Image gap =
      decode_png(render_chart(fixed_chart({line("s", x, y_gap, false, false)}), ImageFormat::png));
  const int row = densest_row(solid, kBlue);
  ASSERT_GE(row, 0);
  const auto solid_runs = runs_in_row(solid, row, kBlue);
  const auto gap_runs = runs_in_row(gap, row, kBlue);
  // Solid: one long run (plus the short legend swatch); with NaN at x = 45..55 the line breaks
  // into two runs, the hole about 20% of the plot wide (x = 40 .. 60).
  const size_t plot_w = longest_run(solid_runs);
  ASSERT_GT(plot_w, static_cast<size_t>(solid.width / 2));
  std::vector<std::pair<int, int>> long_runs;
  for (const auto& r : gap_runs) {
    if (static_cast<size_t>(r.second - r.first + 1) > plot_w / 5) long_runs.push_back(r);
  }
  ASSERT_EQ(long_runs.size(), 2u);
  const double hole = long_runs[1].first - long_runs[0].second;
  EXPECT_NEAR(hole / plot_w, 0.2, 0.03);
  // All-NaN series and NaN at the ends draw without error.
  LineChart c = fixed_chart(
      {line("empty", {1, 2}, {kNaN, kNaN}), line("ends", {0, 50, 100}, {kNaN, 40, kNaN})});
  EXPECT_FALSE(render_chart(c, ImageFormat::png).empty());
  EXPECT_FALSE(render_chart(c, ImageFormat::svg).empty());
}

TEST(Chart, DashedSeriesIsBrokenIntoDashes) {
  const Image solid = decode_png(
      render_chart(fixed_chart({line("s", {0, 100}, {50, 50}, false, false)}), ImageFormat::png));
  const Image dashed = decode_png(
      render_chart(fixed_chart({line("s", {0, 100}, {50, 50}, true, false)}), ImageFormat::png));
  const int row = densest_row(solid, kBlue);
  const size_t plot_w = longest_run(runs_in_row(solid, row, kBlue));
  const auto dashes = runs_in_row(dashed, densest_row(dashed, kBlue), kBlue);
  EXPECT_GT(dashes.size(), 20u);
  EXPECT_LT(longest_run(dashes), plot_w / 10);
}

TEST(Chart, LegendNeverCoversData) {
  // Lines along the top and the bottom of the plot block all four corners: the legend must go
  // beside the plot, so each line stays one unbroken run as long as the middle line.
  const LineChart blocked =
      fixed_chart({line("top line with a long legend label", {0, 100}, {97, 97}, false, false),
                   line("bottom line", {0, 100}, {3, 3}, false, false),
                   line("middle line", {0, 100}, {50, 50}, false, false)});
  const Image img = decode_png(render_chart(blocked, ImageFormat::png));
  const size_t top = longest_run(runs_in_row(img, densest_row(img, kBlue), kBlue));
  const size_t bottom = longest_run(runs_in_row(img, densest_row(img, kOrange), kOrange));
  const size_t middle = longest_run(runs_in_row(img, densest_row(img, kGreen), kGreen));
  EXPECT_GT(middle, static_cast<size_t>(img.width / 2));
  EXPECT_GE(top + 2, middle);
  EXPECT_GE(bottom + 2, middle);
  // Beside the plot: the legend's blue swatch lies right of where the bottom line ends.
  const auto bottom_runs = runs_in_row(img, densest_row(img, kOrange), kOrange);
  EXPECT_GT(extent(img, kBlue).x1, bottom_runs.back().second + 10);
  // A narrow chart has no room beside the plot: the legend goes below it, under the bottom
  // line, and the lines still run unbroken.
  const Image narrow = decode_png(render_chart(blocked, ImageFormat::png, {250, 400}));
  const int narrow_bottom = densest_row(narrow, kOrange);
  EXPECT_GT(extent(narrow, kBlue).y1, narrow_bottom + 10);
  const size_t narrow_top = longest_run(runs_in_row(narrow, densest_row(narrow, kBlue), kBlue));
  EXPECT_GE(narrow_top + 2, longest_run(runs_in_row(narrow, narrow_bottom, kOrange)));

  // With a free corner the legend goes inside: every data pixel of the chart without a legend
  // (empty labels) is still there with the legend drawn.
  LineChart free =
      fixed_chart({line("rising", {0, 100}, {0, 60}), line("flat", {0, 100}, {20, 20})});
  LineChart unlabelled = free;
  for (Series& s : unlabelled.series) s.label.clear();
  const Image with = decode_png(render_chart(free, ImageFormat::png));
  const Image without = decode_png(render_chart(unlabelled, ImageFormat::png));
  size_t data_px = 0, kept = 0;
  for (size_t i = 0; i < without.rgb.size(); ++i) {
    if (without.rgb[i] == kBlue || without.rgb[i] == kOrange) {
      ++data_px;
      kept += with.rgb[i] == without.rgb[i];
    }
  }
  ASSERT_GT(data_px, 500u);
  EXPECT_EQ(kept, data_px);
  EXPECT_GT(count(with, kBlue), count(without, kBlue)) << "legend swatch drawn";
}

TEST(Chart, ReferenceLinesAndNotesAreDrawn) {
  LineChart c = fixed_chart({line("s", {0, 100}, {20, 20}, false, false)});
  const Image plain = decode_png(render_chart(c, ImageFormat::png));
  c.references = {{80, "target 80"}};
  const Image with_ref = decode_png(render_chart(c, ImageFormat::png));
  c.note = "a note under the plot";
  const Image with_note = decode_png(render_chart(c, ImageFormat::png));
  // The reference line's grey (0x3A3A3A; text antialiasing makes a few such pixels too) comes
  // with it; the note adds text pixels.
  EXPECT_GT(count(with_ref, 0x3A3A3A), count(plain, 0x3A3A3A) + 100) << count(plain, 0x3A3A3A);
  EXPECT_NE(with_note.rgb, with_ref.rgb);
}

TEST(Chart, Log2ByteAxisRenders) {
  Series bw{"all_reduce busbw", {}, {}};
  for (int e = 3; e <= 33; ++e) {
    bw.x.push_back(std::exp2(e));
    bw.y.push_back(400 * std::exp2(e) / (std::exp2(e) + 4e6));
  }
  LineChart c{"NCCL bus bandwidth",     {"message size", true, true},
              {"bus bandwidth (GB/s)"}, {bw},
              {{100, "800 Gbps"}},      ""};
  const Image img = decode_png(render_chart(c, ImageFormat::png));
  const Extent e = extent(img, kBlue);
  // An S-curve: low on the left, high on the right, across most of the width.
  EXPECT_GT(e.x1 - e.x0, img.width / 2);
  EXPECT_GT(e.y1 - e.y0, img.height / 3);
  c.series[0].x[0] = 0;
  expect_one_line_error([&] { render_chart(c, ImageFormat::png); }, "log2 x axis");
}

TEST(Chart, GroupedBarsWithValueLabels) {
  const BarChart b = throughput_bars();
  const Image img = decode_png(render_chart(b, ImageFormat::png));
  // Solid bars in blue; dashed (projected) bars as a light fill with an orange dashed outline.
  EXPECT_GT(count(img, kBlue), 5000u);
  EXPECT_GT(count(img, kOrange), 100u);
  // Four blue bars of increasing height, left to right: their columns form 4 runs.
  const Extent e = extent(img, kBlue);
  const int base_row = e.y1;
  std::vector<std::pair<int, int>> bars;
  for (const auto& r : runs_in_row(img, base_row - 2, kBlue)) {
    if (r.second - r.first > 10) bars.push_back(r);
  }
  ASSERT_EQ(bars.size(), 4u);
  std::vector<int> tops;
  for (const auto& [x0, x1] : bars) {
    const int x = (x0 + x1) / 2;
    int y = base_row - 2;
    while (y > 0 && img.at(x, y - 1) == kBlue) --y;
    tops.push_back(y);
  }
  for (size_t i = 1; i < tops.size(); ++i) EXPECT_LT(tops[i], tops[i - 1]);
  // Heights proportional to the values (51000 vs 380000), axis from 0.
  const double h1 = base_row - tops[0], h4 = base_row - tops[3];
  EXPECT_NEAR(h1 / h4, 51000.0 / 380000.0, 0.02);
  // The value label: dark text pixels just above the tallest bar.
  size_t dark_above = 0;
  for (int y = std::max(0, tops[3] - 25); y < tops[3] - 2; ++y) {
    for (int x = bars[3].first; x <= bars[3].second; ++x) {
      const uint32_t p = img.at(x, y);
      dark_above += ((p >> 16) & 0xff) < 0x80 && ((p >> 8) & 0xff) < 0x80 && (p & 0xff) < 0x80;
    }
  }
  EXPECT_GT(dark_above, 10u) << "value label over the 8-node bar";
  // SVG of the same chart.
  const std::string svg = render_chart(b, ImageFormat::svg);
  std::string why;
  EXPECT_TRUE(tags_balance(svg, &why)) << why;
}

TEST(Chart, BadInputIsAOneLineErrorNamingTheChart) {
  LineChart c = scaling_chart();
  c.series[0].y.pop_back();
  expect_one_line_error([&] { render_chart(c, ImageFormat::png); },
                        "chart 'Scaling efficiency vs nodes': series 'measured' has 3 x values "
                        "but 2 y values");
  LineChart none = scaling_chart();
  none.series.clear();
  expect_one_line_error([&] { render_chart(none, ImageFormat::svg); }, "no series");
  LineChart empty = scaling_chart();
  for (Series& s : empty.series) s.x.clear(), s.y.clear();
  expect_one_line_error([&] { render_chart(empty, ImageFormat::png); }, "no data points");
  for (ImageSize bad : {ImageSize{0, 560}, ImageSize{960, 0}, ImageSize{-5, 100},
                        ImageSize{100, 50}, ImageSize{20000, 500}}) {
    expect_one_line_error([&] { render_chart(scaling_chart(), ImageFormat::png, bad); },
                          "image size");
  }
  LineChart inf = scaling_chart();
  inf.series[0].y[1] = std::numeric_limits<double>::infinity();
  expect_one_line_error([&] { render_chart(inf, ImageFormat::png); }, "y[1] is inf");
  LineChart nan_x = scaling_chart();
  nan_x.series[0].x[1] = kNaN;
  expect_one_line_error([&] { render_chart(nan_x, ImageFormat::png); }, "x[1]");
  LineChart axis = scaling_chart();
  axis.y.min = 100;
  axis.y.max = 10;
  expect_one_line_error([&] { render_chart(axis, ImageFormat::png); }, "y axis minimum");
  LineChart utf = scaling_chart();
  utf.title = "bad \xC3\x28 title";
  expect_one_line_error([&] { render_chart(utf, ImageFormat::png); }, "not valid UTF-8");

  BarChart b = throughput_bars();
  b.series[1].y.pop_back();
  expect_one_line_error([&] { render_chart(b, ImageFormat::png); },
                        "series '70B' has 3 values for 4 categories");
  BarChart nocat = throughput_bars();
  nocat.categories.clear();
  expect_one_line_error([&] { render_chart(nocat, ImageFormat::png); }, "no categories");

  expect_one_line_error([] { render_chart_grid({}, 2, ImageFormat::png); }, "no charts");
  expect_one_line_error([] { render_chart_grid({scaling_chart()}, 0, ImageFormat::png); },
                        "columns");
  std::vector<Chart> grid{scaling_chart(), c};
  expect_one_line_error([&] { render_chart_grid(grid, 2, ImageFormat::png); },
                        "panel 2 (chart 'Scaling efficiency vs nodes')");
}

TEST(Chart, GridHasColumnsTimesRowsPanels) {
  std::vector<Chart> charts{scaling_chart(), throughput_bars(),
                            fixed_chart({line("a", {0, 100}, {10, 90})}),
                            fixed_chart({line("b", {0, 100}, {90, 10})}), scaling_chart()};
  const ImageSize panel{480, 320};
  const Image plain = decode_png(render_chart_grid(charts, 2, ImageFormat::png, panel));
  EXPECT_EQ(plain.width, 2 * 480);
  EXPECT_EQ(plain.height, 3 * 320);
  const Image titled =
      decode_png(render_chart_grid(charts, 2, ImageFormat::png, panel, "H200 performance"));
  EXPECT_EQ(titled.width, 960);
  ASSERT_GT(titled.height, 3 * 320);
  ASSERT_LT(titled.height, 4 * 320);
  const int band = titled.height - 3 * 320;
  // Every panel holds a chart (its blue series), except the sixth cell, which stays blank.
  for (int cell = 0; cell < 6; ++cell) {
    const int col = cell % 2, row = cell / 2;
    size_t blue = 0, non_white = 0;
    for (int y = band + row * 320; y < band + (row + 1) * 320; ++y) {
      for (int x = col * 480; x < (col + 1) * 480; ++x) {
        blue += titled.at(x, y) == kBlue;
        non_white += titled.at(x, y) != kWhitePx;
      }
    }
    if (cell < 5) {
      EXPECT_GT(blue, 100u) << "panel " << cell + 1;
      EXPECT_GT(non_white, 2000u) << "panel " << cell + 1;
    } else {
      EXPECT_EQ(non_white, 0u) << "empty cell";
    }
  }
  // The title band has text.
  size_t title_px = 0;
  for (int y = 0; y < band; ++y) {
    for (int x = 0; x < titled.width; ++x) title_px += titled.at(x, y) != kWhitePx;
  }
  EXPECT_GT(title_px, 100u);
  // More columns than charts: one row.
  const Image wide = decode_png(
      render_chart_grid({scaling_chart(), throughput_bars()}, 4, ImageFormat::png, panel));
  EXPECT_EQ(wide.width, 960);
  EXPECT_EQ(wide.height, 320);
  const std::string svg = render_chart_grid(charts, 3, ImageFormat::svg, panel, "grid");
  EXPECT_NE(svg.find("width=\"1440pt\""), std::string::npos);
  std::string why;
  EXPECT_TRUE(tags_balance(svg, &why)) << why;
}

TEST(Chart, WriteChartIsAtomicAndChecksTheFormat) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sxb_chart_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string png = render_chart(scaling_chart(), ImageFormat::png);
  const std::string svg = render_chart(scaling_chart(), ImageFormat::svg);
  write_chart(dir / "c.png", png);
  write_chart(dir / "c.svg", svg);
  EXPECT_EQ(read_file(dir / "c.png"), png);
  EXPECT_EQ(read_file(dir / "c.svg"), svg);
  expect_one_line_error([&] { write_chart(dir / "x.svg", png); }, "not SVG");
  expect_one_line_error([&] { write_chart(dir / "x.png", svg); }, "not PNG");
  expect_one_line_error([&] { write_chart(dir / "x.png", ""); }, "nothing to write");
  EXPECT_FALSE(std::filesystem::exists(dir / "x.png"));
  // No temporary files left behind.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 2u);
  std::filesystem::remove_all(dir);
}

#else  // !SXB_HAVE_CHARTS

TEST(Chart, RendererNotBuilt) {
  GTEST_SKIP() << "sxbench was built without cairo/pango (SXB_CHARTS=OFF or pkg-config found no "
                  "pangocairo): the drawing tests need them";
}

// Without the renderer nothing pretends to draw: every entry point refuses with one line.
TEST(Chart, WithoutCairoEveryRenderCallThrows) {
  EXPECT_FALSE(charts_available());
  LineChart c{"t", {"x"}, {"y"}, {{"s", {1, 2}, {3, 4}}}, {}, ""};
  for (const auto& call : std::vector<std::function<void()>>{
           [&] { render_chart(c, ImageFormat::png); }, [&] { render_chart(c, ImageFormat::svg); },
           [&] { render_chart_grid({c}, 1, ImageFormat::png); }, [&] { missing_glyphs("abc"); }}) {
    try {
      call();
      ADD_FAILURE() << "rendered without cairo/pango";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "sxbench was built without cairo/pango: charts unavailable");
      EXPECT_EQ(e.code(), ExitCode::environment);
    }
  }
}

#endif

}  // namespace
}  // namespace sxb::report
