// `sxbench report` end to end on run directories the binary writes in the test (CPU, mpi
// backend, one and two ranks, sxbench run / nccl / train, a failed run and a broken copy): the
// files it writes, the skipped directories, targets that nothing on a CPU can meet shown as not
// measured, Japanese output, bad input, the charts' PNGs decoded, the HTML page rendered by
// headless Chromium, and the seed's entry script.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "e2e_util.hpp"
#include "png_util.hpp"
#include "report/results/aggregate.hpp"
#include "report/charts/chart.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;

// One results directory for the whole suite: the runs take a few seconds to make (half a minute
// under the sanitizers), and ctest runs every test in a process of its own. So the first process
// makes them in a directory named after the binary (path, size and time), under an exclusive
// lock, and marks it complete; the others, in parallel or later, wait for the lock and read it.
// Each test's own outputs go to a directory of its process.
class ReportE2E : public ::testing::Test {
 protected:
  static fs::path root_;
  static fs::path results_;
  static std::string setup_log_;

  static void SetUpTestSuite() {
    root_ = scratch_dir("report");
    const fs::path bin = binary_path();
    const auto key = std::hash<std::string>{}(
        bin.string() + "|" + std::to_string(fs::file_size(bin)) + "|" +
        std::to_string(fs::last_write_time(bin).time_since_epoch().count()));
    const fs::path shared = fs::temp_directory_path() / ("sxb_e2e_report_results_" +
                                                         std::to_string(key));
    results_ = shared / "results";
    const int lock = ::open((shared.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(lock, 0) << "cannot open the suite's lock file";
    ASSERT_EQ(::flock(lock, LOCK_EX), 0);
    if (fs::exists(shared / "complete")) {
      setup_log_ = read_file(shared / "setup.log");
    } else {
      fs::remove_all(shared);
      make_results();
      write_file_atomic(shared / "setup.log", setup_log_);
      write_file_atomic(shared / "complete", "");
    }
    ::flock(lock, LOCK_UN);
    ::close(lock);
  }

  static void make_results() {
    fs::create_directories(results_);
    const std::string r = results_.string();
    const std::string train = " --model tiny --seq-len 64 --backend mpi";
    struct Step {
      std::string cmd;
      int expect;
    };
    const Step steps[] = {
        {sxbench("run --mode quick --nccl-max-bytes 64K --steps 4" + train + " --out " + r +
                 "/h200_benchmark_q_tiny_1n"),
         0},
        {mpirun(2,
                "run --mode sft --steps 4" + train + " --out " + r + "/h200_benchmark_s_tiny_1n"),
         0},
        {mpirun(2, "run --mode nccl --backend mpi --nccl-max-bytes 256K --out " + r +
                       "/h200_benchmark_n_1n"),
         0},
        {mpirun(2, "nccl --backend mpi -e 128K --out " + r + "/nccl_standalone"), 0},
        {mpirun(2, "train --model tiny --seq-len 64 --steps 3 --out " + r + "/train_standalone"),
         0},
        // A run whose sft phase fails: recorded as failed, exit 1.
        {sxbench("run --mode sft --model no-such-model --backend mpi --out " + r +
                 "/h200_benchmark_failed"),
         1},
    };
    for (const auto& s : steps) {
      const auto out = run_command(s.cmd);
      setup_log_ += "$ " + s.cmd + "\n" + out.output;
      if (out.exit_code != s.expect) {
        setup_log_ += "UNEXPECTED EXIT " + std::to_string(out.exit_code) + "\n";
      }
    }
    // A broken copy: the CSV cut in the middle of its last line.
    fs::copy(results_ / "h200_benchmark_s_tiny_1n", results_ / "h200_benchmark_cut",
             fs::copy_options::recursive);
    std::string csv = read_file(results_ / "h200_benchmark_cut" / "gpu_metrics.csv");
    csv.resize(csv.size() - 3);
    write_file_atomic(results_ / "h200_benchmark_cut" / "gpu_metrics.csv", csv);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  void SetUp() override {
    ASSERT_EQ(setup_log_.find("UNEXPECTED EXIT"), std::string::npos) << setup_log_;
  }

  static RunResult report(const std::string& args) {
    return run_command(sxbench("report --results " + results_.string() + " " + args));
  }
};
fs::path ReportE2E::root_;
fs::path ReportE2E::results_;
std::string ReportE2E::setup_log_;

TEST_F(ReportE2E, AggregatesTheDirectoriesTheBinaryWrote) {
  const auto a = report::aggregate_results(results_);
  ASSERT_EQ(a.runs.size(), 6u);
  ASSERT_EQ(a.skipped.size(), 1u);
  EXPECT_EQ(a.skipped[0].dir.filename(), "h200_benchmark_cut");
  EXPECT_NE(a.skipped[0].reason.find("gpu_metrics.csv: truncated"), std::string::npos)
      << a.skipped[0].reason;
  std::map<std::string, const report::RunRecord*> by;
  for (const auto& r : a.runs) by[r.name] = &r;
  EXPECT_EQ(by.at("h200_benchmark_failed")->status, "failed");
  EXPECT_FALSE(by.at("h200_benchmark_failed")->usable());
  const auto& q = *by.at("h200_benchmark_q_tiny_1n");
  EXPECT_EQ(q.kind, report::RunKind::run);
  EXPECT_EQ(q.status, "partial");  // compute skipped without a GPU
  ASSERT_TRUE(q.training);
  EXPECT_EQ(q.training->model_name, "tiny");
  EXPECT_EQ(q.training->seq_len, 64);
  EXPECT_EQ(q.training->device_kind, "cpu");
  ASSERT_TRUE(q.collectives);
  EXPECT_EQ(q.collectives->world_size, 1);
  ASSERT_TRUE(q.gpu_metrics);
  EXPECT_FALSE(q.gpu_metrics->gpu_metrics);  // no NVML here
  ASSERT_TRUE(q.validation);
  EXPECT_EQ(q.validation->source, "validation.json");
  const auto& s = *by.at("h200_benchmark_s_tiny_1n");
  EXPECT_EQ(s.world_size, 2);
  EXPECT_EQ(s.training->world_size, 2);
  const auto& n = *by.at("nccl_standalone");
  EXPECT_EQ(n.kind, report::RunKind::nccl);
  EXPECT_EQ(n.collectives->world_size, 2);
  EXPECT_EQ(n.collectives->find("all_reduce")->sizes.back().size_bytes, 128u * 1024);
  const auto& t = *by.at("train_standalone");
  EXPECT_EQ(t.kind, report::RunKind::train);
  EXPECT_EQ(t.world_size, 2);
}

TEST_F(ReportE2E, WritesEveryDocumentAndListsWhatItSkipped) {
  const fs::path out = root_ / "docs_en";
  const auto r = report("--out " + out.string() + " --lang en");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("sxbench report: skipped " + (results_ / "h200_benchmark_cut").string() +
                          ": gpu_metrics.csv: truncated"),
            std::string::npos)
      << r.output;
  for (const char* f : {"h200_benchmark_comprehensive_report.md",
                        "h200_benchmark_comprehensive_report.html", "report.json"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
    EXPECT_NE(r.output.find("wrote " + (out / f).string()), std::string::npos) << f;
  }
  const std::string md = read_file(out / "h200_benchmark_comprehensive_report.md");
  EXPECT_NE(md.find("# H200 benchmark comprehensive report"), std::string::npos);
  // The quick run's phase 0 (preflight.json) has a section: its host's counts, and the checks
  // that did not pass (this machine has no RDMA port to pass the ports check).
  EXPECT_NE(md.find("## Preflight (phase 0)"), std::string::npos);
  EXPECT_NE(md.find("`rdma.roce_ports`"), std::string::npos);
  EXPECT_NE(md.find("`h200_benchmark_cut` | gpu_metrics.csv: truncated"), std::string::npos);
  EXPECT_NE(md.find("`h200_benchmark_failed`: sft: unknown model"), std::string::npos);
  EXPECT_NE(md.find("### tiny"), std::string::npos);
  EXPECT_NE(md.find("2 x CPU rank"), std::string::npos);
  EXPECT_NE(md.find("### all_reduce"), std::string::npos);
  EXPECT_NE(md.find("no GPU in configs/hardware"), std::string::npos);
  // No file name of a temporary write is left behind.
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  const auto j = read_json_file(out / "report.json");
  EXPECT_EQ(j["schema"], "sxbench.report/1");
  EXPECT_EQ(j["runs"].size(), 6u);
  EXPECT_EQ(j["skipped"].size(), 1u);
  // Paths a reader elsewhere can resolve: the repository's targets file relative to the
  // repository root, a skipped directory relative to the results directory.
  EXPECT_EQ(j["targets_file"], "configs/targets.json");
  EXPECT_EQ(j["skipped"][0]["directory"], "h200_benchmark_cut");
  EXPECT_NE(md.find("Targets from `configs/targets.json` (Requirements (docs/requirements.md)"),
            std::string::npos);
  EXPECT_EQ(md.find("/configs/targets.json"), std::string::npos);  // no absolute path to it
  // Nothing on one CPU host measures GPU utilisation, multi-node scaling or a fabric: every seed
  // target is "not measured", none is "met". On a machine with a GPU the runs' monitor samples
  // it (idle during CPU training), so the utilisation target is left out there.
  const bool gpu_sampled = read_json_file(results_ / "h200_benchmark_s_tiny_1n" /
                                          "gpu_metrics_summary.json")["gpu_metrics"];
  ASSERT_EQ(j["targets"].size(), 4u);
  for (const auto& t : j["targets"]) {
    if (gpu_sampled && t["id"] == "gpu_utilization") continue;
    EXPECT_EQ(t["verdict"], "not_measured") << t.dump();
    EXPECT_TRUE(t["value"].is_null());
  }
  EXPECT_EQ(j["targets"][3]["reachability"]["reachable"], false);
  // The throughput row of the two-rank tiny runs names both runs.
  bool two_rank = false;
  for (const auto& row : j["figures"]["throughput"]) {
    if (row["devices"] == 2) {
      two_rank = true;
      EXPECT_EQ(row["runs"].size(), 2u);  // the sft run and the standalone train
    }
  }
  EXPECT_TRUE(two_rank);
}

TEST_F(ReportE2E, JapaneseFromTheFlagAndFromReportLang) {
  const fs::path out1 = root_ / "docs_ja_flag", out2 = root_ / "docs_ja_env";
  ASSERT_EQ(report("--out " + out1.string() + " --lang ja").exit_code, 0);
  const auto r = run_command("REPORT_LANG=ja " + sxbench("report --results " + results_.string() +
                                                         " --out " + out2.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const fs::path& out : {out1, out2}) {
    const std::string md = read_file(out / "h200_benchmark_comprehensive_report.md");
    for (const char* h : {"# H200 ベンチマーク総合レポート", "## 目標", "## 実行とインベントリ",
                          "## 学習スループット", "## スケール効率", "## 検証結果",
                          "## 予測値と測定値", "**未測定**"}) {
      EXPECT_NE(md.find(h), std::string::npos) << out << ": " << h;
    }
    const std::string html = read_file(out / "h200_benchmark_comprehensive_report.html");
    EXPECT_NE(html.find("<html lang=\"ja\">"), std::string::npos);
    EXPECT_NE(html.find("目標"), std::string::npos);
  }
}

TEST_F(ReportE2E, ChartsArePngsOfTheExpectedSizeAndNotBlank) {
  const fs::path out = root_ / "docs_charts";
  const auto r = report("--out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string md = read_file(out / "h200_benchmark_comprehensive_report.md");
  if (!report::charts_available()) {
    // Without cairo/pango: the documents and stderr say so, and no image is written.
    EXPECT_NE(r.output.find("charts not drawn"), std::string::npos) << r.output;
    EXPECT_NE(md.find("Charts were not drawn"), std::string::npos);
    EXPECT_FALSE(fs::exists(out / "h200_performance_charts.png"));
    EXPECT_FALSE(fs::exists(out / "charts"));
    GTEST_SKIP()
        << "built without cairo/pango (SXB_CHARTS off): the no-charts path was checked instead";
  }
  // Two-rank collectives exist: one chart per collective, plus throughput (single points).
  int charts = 0;
  for (const auto& e : fs::directory_iterator(out / "charts")) {
    if (e.path().extension() == ".png") {
      ++charts;
      const DecodedPng png = decode_png(read_file(e.path()));
      ASSERT_TRUE(png.ok) << e.path() << ": " << png.error;
      EXPECT_EQ(png.width, 960) << e.path();
      EXPECT_EQ(png.height, 560) << e.path();
      EXPECT_GT(png.non_background_share(), 0.02) << e.path() << " looks blank";
      EXPECT_GT(png.distinct_colours(), 16u) << e.path();
      fs::path svg = e.path();
      svg.replace_extension(".svg");
      ASSERT_TRUE(fs::exists(svg));
      EXPECT_NE(read_file(svg).find("<svg"), std::string::npos);
      EXPECT_NE(md.find("charts/" + e.path().filename().string()), std::string::npos) << e.path();
    }
  }
  EXPECT_GE(charts, 8);  // 7 collectives + throughput
  const DecodedPng grid = decode_png(read_file(out / "h200_performance_charts.png"));
  ASSERT_TRUE(grid.ok) << grid.error;
  EXPECT_GE(grid.width, 1600);  // two panels of 800 per row
  EXPECT_GT(grid.height, 470 * ((charts + 1) / 2));
  EXPECT_GT(grid.non_background_share(), 0.02);
  // A stale chart from an earlier report is removed; the new set is written again.
  write_file_atomic(out / "charts" / "old_chart.png", "x");
  ASSERT_EQ(report("--out " + out.string()).exit_code, 0);
  EXPECT_FALSE(fs::exists(out / "charts" / "old_chart.png"));
}

// The first existing executable among the names, searched on PATH.
std::string find_on_path(std::initializer_list<const char*> names) {
  const char* path = std::getenv("PATH");
  if (!path) return {};
  for (const char* n : names) {
    std::string p = path;
    size_t start = 0;
    while (start <= p.size()) {
      const size_t end = p.find(':', start);
      const fs::path candidate = fs::path(p.substr(start, end - start)) / n;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return {};
}

TEST_F(ReportE2E, HtmlPageRendersInHeadlessChromium) {
  const std::string chromium = find_on_path({"chromium", "chromium-browser"});
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (Debian package chromium)";
  const fs::path out = root_ / "docs_html";
  ASSERT_EQ(report("--out " + out.string()).exit_code, 0);
  const fs::path html = out / "h200_benchmark_comprehensive_report.html";
  const std::string page = read_file(html);
  // Self-contained: no external reference of any kind.
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("<style>"), std::string::npos);
  if (report::charts_available())
    EXPECT_NE(page.find("src=\"data:image/svg+xml;base64,"), std::string::npos);
  const fs::path shot = root_ / "screenshot.png";
  // timeout(1): a wedged browser fails this test instead of hanging the suite.
  const auto r = run_command(
      "timeout 120 " + chromium + " --headless --no-sandbox --disable-gpu --user-data-dir=" +
      (root_ / "chromium_profile").string() + " --screenshot=" + shot.string() +
      " --window-size=1280,4000 file://" + html.string());
  ASSERT_TRUE(fs::exists(shot)) << r.output;
  const DecodedPng png = decode_png(read_file(shot));
  ASSERT_TRUE(png.ok) << png.error;
  EXPECT_EQ(png.width, 1280);
  EXPECT_EQ(png.height, 4000);
  EXPECT_GT(png.non_background_share(), 0.03) << "the rendered page looks blank";
  EXPECT_GT(png.distinct_colours(), 32u);
}

// The Japanese page's targets table at a laptop's width: every header cell renders on one line
// (CJK text may break between any two glyphs, so a squeezed column once showed 測/定/値 one glyph
// per line). The page itself has no script; a copy gets one that counts, per header cell, the
// distinct line tops of its text and writes them into the DOM that --dump-dom prints.
TEST_F(ReportE2E, JapaneseTargetsHeadersRenderOnOneLineInHeadlessChromium) {
  const std::string chromium = find_on_path({"chromium", "chromium-browser"});
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (Debian package chromium)";
  const fs::path out = root_ / "docs_html_ja";
  ASSERT_EQ(report("--out " + out.string() + " --lang ja").exit_code, 0);
  std::string page = read_file(out / "h200_benchmark_comprehensive_report.html");
  const std::string probe = R"(<script>
(function () {
  let h = [...document.querySelectorAll('h2')].find(e => e.textContent.trim() === '目標');
  let t = h ? h.nextElementSibling : null;
  while (t && t.tagName !== 'TABLE') t = t.nextElementSibling;
  const out = [];
  if (t) for (const th of t.querySelectorAll('thead th')) {
    const r = document.createRange();
    r.selectNodeContents(th);
    const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
    out.push(th.textContent + '=' + tops.size);
  }
  const p = document.createElement('pre');
  p.id = 'sxb-probe';
  // How far the table overflows its box (0: long cells wrapped instead of widening it).
  if (t) out.push('overflow=' + Math.max(0, t.scrollWidth - t.clientWidth));
  p.textContent = 'PRO' + 'BE[' + out.join('|') + ']PRO' + 'BE';  // not in this source
  document.body.appendChild(p);
})();
</script>)";
  const size_t body_end = page.rfind("</body>");
  ASSERT_NE(body_end, std::string::npos);
  page.insert(body_end, probe);
  const fs::path probed = root_ / "probed_ja.html";
  write_file_atomic(probed, page);
  const auto r = run_command("timeout 120 " + chromium +
                             " --headless --no-sandbox --disable-gpu --user-data-dir=" +
                             (root_ / "chromium_profile_ja").string() +
                             " --window-size=900,2000 --dump-dom file://" + probed.string());
  const size_t a = r.output.find("PROBE[");
  const size_t b = r.output.find("]PROBE");
  ASSERT_TRUE(a != std::string::npos && b != std::string::npos) << r.output;
  const std::string cells = r.output.substr(a + 6, b - a - 6);
  // 目標, 要件, 測定値, 判定, 測定元, 定義: six header cells, each one line; then the overflow.
  std::vector<std::string> items;
  for (size_t start = 0; start <= cells.size();) {
    const size_t end = std::min(cells.find('|', start), cells.size());
    items.push_back(cells.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_EQ(items.size(), 7u) << cells;
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(items[i].substr(items[i].rfind('=') + 1), "1")
        << "header cell on several lines: " << items[i];
  }
  EXPECT_EQ(items[6], "overflow=0") << "long cells widened the table past the page: " << cells;
}

TEST_F(ReportE2E, NoRunDirectoryIsAOneLineErrorNamingTheDirectory) {
  const fs::path empty = root_ / "empty_results";
  fs::create_directories(empty);
  auto r = run_command(
      sxbench("report --results " + empty.string() + " --out " + (root_ / "x").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "sxbench: error: no run directory in " + empty.string() + "\n");
  r = run_command(sxbench("report --results " + (root_ / "nope").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output,
            "sxbench: error: results directory " + (root_ / "nope").string() + " does not exist\n");
  EXPECT_FALSE(fs::exists(root_ / "x" / "h200_benchmark_comprehensive_report.md"));
}

TEST_F(ReportE2E, BadTargetsFileOrLanguageIsAOneLineError) {
  write_file_atomic(root_ / "bad_targets.json",
                    R"({"schema": "sxbench.targets/1", "targets": [{"id": "x"}]})");
  auto r = report("--out " + (root_ / "y").string() + " --targets " +
                  (root_ / "bad_targets.json").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "sxbench: error: " + (root_ / "bad_targets.json").string() +
                          ": target 'x': label is missing\n");
  r = report("--out " + (root_ / "y").string() + " --lang fr");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "sxbench: error: --lang: unknown report language 'fr' (known: en, ja)\n");
  EXPECT_FALSE(fs::exists(root_ / "y"));
}

TEST_F(ReportE2E, SeedEntryScriptRunsTheReport) {
  const fs::path script =
      fs::path(SXB_TEST_SOURCE_DIR) / "scripts" / "generate_comprehensive_report.py";
  const fs::path out = root_ / "docs_script";
  const auto r =
      run_command("SXBENCH=" + std::string(SXB_BINARY) + " python3 " + script.string() +
                  " --results " + results_.string() + " --out " + out.string() + " --lang ja");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_file(out / "h200_benchmark_comprehensive_report.md").find("## 目標"),
            std::string::npos);
  const auto bad = run_command("SXBENCH=" + std::string(SXB_BINARY) + " python3 " +
                               script.string() + " --results " + (root_ / "nope").string());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("sxbench: error: results directory"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace sxb::e2e
