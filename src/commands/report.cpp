// `sxbench report`: every run directory under the results directory aggregated into the
// comprehensive report: docs/h200_benchmark_comprehensive_report.md and .html, docs/charts/*.png
// and *.svg, docs/h200_performance_charts.png (all charts in one image), docs/report.json, and
// the sales summary docs/sales_presentation_h200_spectrumx.md (report/sales.hpp).
// Every file is written atomically; a broken run directory is listed and skipped, never fatal.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/records.hpp"
#include "core/units.hpp"
#include "report/results/aggregate.hpp"
#include "report/charts/chart.hpp"
#include "report/results/report_charts.hpp"
#include "report/results/comprehensive.hpp"
#include "report/results/figures.hpp"
#include "report/doc/lang.hpp"
#include "report/sales/roi.hpp"
#include "report/sales/sales.hpp"
#include "report/results/targets.hpp"

namespace sxb {

namespace {

namespace fs = std::filesystem;
using namespace sxb::report;

// `p` relative to `base` when p lies under base (both resolved, so symlinks and `..` do not
// matter); empty otherwise.
std::string relative_under(const fs::path& p, const fs::path& base) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(fs::absolute(p, ec), ec);
  const fs::path b = fs::weakly_canonical(fs::absolute(base, ec), ec);
  if (ec || b.empty()) return {};
  const fs::path r = a.lexically_relative(b);
  if (r.empty() || *r.begin() == "..") return {};
  return r.generic_string();
}

// How a document names a path: relative to the repository root (the parent of configs/) when
// under it, else relative to the working directory when under it, else as given.
std::string shown_path(const fs::path& p, const fs::path& config_dir) {
  if (config_dir.filename() == "configs") {
    if (auto r = relative_under(p, config_dir.parent_path()); !r.empty()) return r;
  }
  std::error_code ec;
  if (auto r = relative_under(p, fs::current_path(ec)); !r.empty()) return r;
  return p.string();
}

struct ReportOptions {
  std::string results;  // empty: RESULTS_DIR
  std::string out = "docs";
  std::string targets;  // empty: configs/targets.json
  std::string lang;     // empty: REPORT_LANG
};

constexpr const char* kMarkdownName = "h200_benchmark_comprehensive_report.md";
constexpr const char* kHtmlName = "h200_benchmark_comprehensive_report.html";
constexpr const char* kGridName = "h200_performance_charts.png";
constexpr ImageSize kChartSize{960, 560};
constexpr ImageSize kGridPanel{800, 470};

// Chart files a previous report left in charts/ that this one does not write: removed, so the
// directory never shows a figure the documents no longer back.
void remove_stale_charts(const fs::path& dir, const std::set<std::string>& keep) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if ((ext == ".png" || ext == ".svg") && !keep.count(e.path().filename().string())) {
      fs::remove(e.path(), ec);
    }
  }
}

int run_report(const ReportOptions& o, const CommandContext& ctx) {
  const ReportLang lang = resolve_report_lang(ctx.env, o.lang);
  const std::string results = o.results.empty() ? ctx.env.get_string("RESULTS_DIR") : o.results;
  const fs::path config_dir = find_config_dir();
  const fs::path targets_path =
      o.targets.empty() ? config_dir / "targets.json" : fs::path(o.targets);
  // Inputs are checked before anything is read or written.
  const TargetsFile targets = load_targets(targets_path);
  const auto specs = load_hardware_specs(config_dir / "hardware");
  const RoiSettings roi = roi_settings_from_env(ctx.env);  // the sales summary's .env inputs

  ReadOptions read;
  read.specs = &specs;
  const auto records = load_records(config_dir / "records");
  read.records = &records;
  const Aggregate aggregate = aggregate_results(results, read);
  for (const auto& s : aggregate.skipped) {
    std::fprintf(stderr, "sxbench report: skipped %s: %s\n", s.dir.c_str(), s.reason.c_str());
  }
  if (aggregate.runs.empty()) {
    throw usage_error(
        aggregate.skipped.empty()
            ? fmt::format("no run directory in {}", results)
            : fmt::format("no readable run directory in {} ({} skipped, reasons above)", results,
                          aggregate.skipped.size()));
  }
  const Figures figures = compute_figures(aggregate, specs);
  const auto target_results = evaluate_targets(targets, aggregate, figures, specs);

  // Every file is written into a staging directory inside out and moved into place together at
  // the end, so two reports into one directory never mix (one's documents, the other's charts)
  // and a failure part-way leaves the previous report whole.
  const fs::path out(o.out);
  StagedOutput staged(out, "report");
  const fs::path stage = staged.dir();
  std::vector<std::string> wrote;
  bool grid_written = false;
  ReportContext rc;
  rc.aggregate = &aggregate;
  rc.figures = &figures;
  rc.targets = &targets;
  rc.target_results = &target_results;
  rc.generated_utc = utc_iso8601_now();
  rc.tool_version = SXB_VERSION;
  rc.results_dir = shown_path(results, config_dir);
  rc.targets_file = shown_path(targets_path, config_dir);

  const ReportCharts charts = build_report_charts(aggregate, figures, target_results, lang);
  rc.chart_notes = charts.notes;
  std::set<std::string> keep;
  if (!charts_available()) {
    rc.charts_absent =
        tr(lang, {"this sxbench was built without cairo/pango (SXB_CHARTS off)",
                  "この sxbench は cairo/pango なし (SXB_CHARTS off) でビルドされています"});
    std::fprintf(stderr,
                 "sxbench report: charts not drawn: this sxbench was built without cairo/pango "
                 "(SXB_CHARTS off); the documents say so\n");
  } else if (!charts.charts.empty()) {
    // Text the installed fonts cannot draw would show as boxes: said, not hidden.
    int missing = 0;
    for (const auto& c : charts.charts) missing += missing_glyphs(chart_title(c.chart));
    if (missing > 0) {
      rc.chart_notes.push_back(
          tr(lang,
             {"{} characters of the chart titles have no glyph in the installed "
              "fonts and show as boxes (install fonts-noto-cjk)",
              "グラフタイトルの {} 文字は導入済みフォントにグリフがなく四角で表示されます "
              "(fonts-noto-cjk を導入してください)"},
             missing));
      std::fprintf(
          stderr,
          "sxbench report: warning: %d characters of the chart titles have no glyph in the "
          "installed fonts (install fonts-noto-cjk)\n",
          missing);
    }
    const fs::path chart_dir = stage / "charts";
    const fs::path final_chart_dir = out / "charts";
    fs::create_directories(chart_dir);
    std::vector<Chart> all;
    for (const auto& c : charts.charts) {
      const std::string png = render_chart(c.chart, ImageFormat::png, kChartSize);
      const std::string svg = render_chart(c.chart, ImageFormat::svg, kChartSize);
      write_chart(chart_dir / (c.stem + ".png"), png);
      write_chart(chart_dir / (c.stem + ".svg"), svg);
      keep.insert(c.stem + ".png");
      keep.insert(c.stem + ".svg");
      wrote.push_back((final_chart_dir / (c.stem + ".png")).string());
      wrote.push_back((final_chart_dir / (c.stem + ".svg")).string());
      rc.charts.push_back({c.stem, chart_title(c.chart), svg});
      all.push_back(c.chart);
    }
    const std::string grid = render_chart_grid(
        all, all.size() > 1 ? 2 : 1, ImageFormat::png, kGridPanel,
        tr(lang, {"H200 benchmark: performance charts", "H200 ベンチマーク: 性能グラフ"}));
    write_chart(stage / kGridName, grid);
    grid_written = true;
    wrote.push_back((out / kGridName).string());
    rc.grid_file = kGridName;
  }

  const Document doc = build_comprehensive_report(rc, lang);
  write_file_atomic(stage / kMarkdownName, render_markdown(doc));
  wrote.push_back((out / kMarkdownName).string());
  write_file_atomic(stage / kHtmlName, render_html(doc));
  wrote.push_back((out / kHtmlName).string());
  write_json_atomic(stage / "report.json", report_json(rc, lang));
  wrote.push_back((out / "report.json").string());
  wrote.push_back(
      (out /
       write_sales_presentation(aggregate, roi, ctx.env, stage, lang, rc.generated_utc).filename())
          .string());
  staged.commit();
  // A report without charts leaves none of an earlier one's behind.
  if (!grid_written) {
    std::error_code ec;
    fs::remove(out / kGridName, ec);
  }
  remove_stale_charts(out / "charts", keep);

  std::printf("sxbench report: %zu run(s) (%zu usable), %zu skipped, language %s\n",
              aggregate.runs.size(), aggregate.usable().size(), aggregate.skipped.size(),
              std::string(report_lang_name(lang)).c_str());
  for (const auto& r : target_results) {
    const std::string value =
        r.value ? fmt::format(" ({} {})", format_figure(*r.value), r.target.unit) : "";
    std::printf("sxbench report: target %s: %s%s\n", r.target.id.c_str(),
                verdict_text(r.verdict, ReportLang::en).c_str(), value.c_str());
  }
  for (const auto& w : wrote) std::printf("sxbench report: wrote %s\n", w.c_str());
  return 0;
}

}  // namespace

Command add_report_command(CLI::App& root) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* app = root.add_subcommand(
      "report",
      "Aggregate every run directory into the comprehensive report (Markdown, self-contained "
      "HTML, charts as PNG and SVG, report.json): inventory, throughput, scaling efficiency, "
      "collective bandwidth, GPU metrics, targets, validation, predicted vs measured");
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->add_option("--results", o->results, "Directory of run directories [RESULTS_DIR]");
  app->add_option("--out", o->out, "Output directory")->capture_default_str();
  app->add_option("--targets", o->targets, "Targets file (default: configs/targets.json)");
  app->add_option("--lang", o->lang, "Report language: en or ja [REPORT_LANG]");
  return {app, [o](const CommandContext& ctx) { return run_report(*o, ctx); }};
}

}  // namespace sxb
