// diagnose.json in the report: the reader (a directory holding it is a "diagnose" run; a broken
// file skips the directory with a one-line reason), the heat map's data built from the pair
// matrix (values in both cells, missing cells, slow pairs and named units marked) and the colour
// scale (span from the values, positions, colours, missing cells grey).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "report/charts/chart.hpp"
#include "report/results/aggregate.hpp"
#include "report/results/report_charts.hpp"
#include "report_fixtures.hpp"

namespace sxb::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::fresh_dir;

json verdict(const std::string& unit, double median, const std::string& standing) {
  return {{"unit", unit},
          {"median", median},
          {"noise_fraction", 0.02},
          {"uncertainty_fraction", 0.01},
          {"reference", 10.0},
          {"deviation_fraction", median / 10.0 - 1},
          {"allowed_fraction", 0.08},
          {"standing", standing},
          {"reason", standing + ": the arithmetic"}};
}

// Four ranks; pairs 0-1, 0-2, 1-2, 2-3 and 0-3 measured, 1-3 not; unit 2 slow on its pairs.
json diagnose_file() {
  json pairs = json::array();
  const struct {
    int a, b;
    double gb;
    const char* standing;
  } ps[] = {{0, 1, 10, "ok"}, {0, 2, 2, "slow"}, {1, 2, 2.5, "slow"}, {2, 3, 3, "slow"},
            {0, 3, 9.5, "ok"}};
  for (const auto& p : ps) {
    json e = verdict(fmt::format("rank {} (vm) - rank {} (vm)", p.a, p.b), p.gb, p.standing);
    e["a"] = p.a;
    e["b"] = p.b;
    e["samples"] = {p.gb};
    pairs.push_back(e);
  }
  json rank_verdicts = json::array();
  for (int r = 0; r < 4; ++r) {
    json v = verdict(fmt::format("rank {} (vm, CPU)", r), r == 2 ? 3.0 : 12.0,
                     r == 2 ? "slow" : "ok");
    v["rank"] = r;
    v["samples"] = {1.0};
    rank_verdicts.push_back(v);
  }
  return {{"schema", "sxbench.diagnose/1"},
          {"tool_version", "test"},
          {"created_utc", "2026-01-01T00:00:00Z"},
          {"world_size", 4},
          {"nodes", 1},
          {"hosts", {"vm", "vm", "vm", "vm"}},
          {"device", "cpu"},
          {"settings",
           {{"samples", 9},
            {"threshold_fraction", 0.05},
            {"noise_multiple", 3},
            {"min_units", 3},
            {"pairs", "ranks"},
            {"pair_bytes", 8388608},
            {"baseline", nullptr}}},
          {"components",
           {{{"metric", "host_gemm_gflops"},
             {"unit", "GFLOP/s"},
             {"what", "fp32 product"},
             {"job_median", 12.0},
             {"ranks", rank_verdicts}}}},
          {"pairs",
           {{"mode", "ranks"},
            {"units", {"rank 0 (vm)", "rank 1 (vm)", "rank 2 (vm)", "rank 3 (vm)"}},
            {"bytes", 8388608},
            {"what", "bidirectional exchange"},
            {"pairs", pairs},
            {"matrix_gb_per_s", json::array()},
            {"blamed_units", {{{"unit", "rank 2 (vm)"}, {"reason", "3 of its 3 pairs slow"}}}},
            {"slow_links", json::array()}}},
          {"node_all_reduce",
           {{"what", "all_reduce of 8 MiB"},
            {"bytes", 8388608},
            {"job_median", 5.0},
            {"units",
             {[] {
               json v = verdict("vm (4 ranks)", 5.0, "inconclusive");
               v["host"] = "vm";
               v["ranks"] = {0, 1, 2, 3};
               v["samples"] = {5.0};
               return v;
             }()}},
            {"note", "1 node(s) with two or more ranks, 3 needed"}}},
          {"named", {{{"unit", "rank 2 (vm)"}, {"what", "pair exchanges"}, {"reason", "r"}}}},
          {"slow", 2},
          {"inconclusive", 0},
          {"verdict", "slow components named"}};
}

TEST(DiagnoseReport, ADirectoryWithDiagnoseJsonIsReadAsADiagnoseRun) {
  const fs::path d = fresh_dir("diagnose_read") / "diag";
  fs::create_directories(d);
  write_json_atomic(d / "diagnose.json", diagnose_file());
  const RunRecord r = read_run_directory(d);
  EXPECT_EQ(r.kind, RunKind::diagnose);
  EXPECT_EQ(run_kind_name(r.kind), "diagnose");
  EXPECT_EQ(r.world_size, 4);
  ASSERT_EQ(r.hosts.size(), 1u);
  ASSERT_TRUE(r.diagnose);
  const DiagnoseSummary& s = *r.diagnose;
  EXPECT_EQ(s.verdict, "slow components named");
  EXPECT_DOUBLE_EQ(s.threshold, 0.05);
  // The per-rank metric, then each node's all_reduce as one more component.
  ASSERT_EQ(s.components.size(), 2u);
  EXPECT_EQ(s.components[0].ranks[2].standing, "slow");
  EXPECT_EQ(s.components[1].metric, "node_all_reduce_busbw");
  ASSERT_EQ(s.components[1].ranks.size(), 1u);
  EXPECT_EQ(s.components[1].ranks[0].unit, "vm (4 ranks)");
  EXPECT_EQ(s.components[1].ranks[0].standing, "inconclusive");
  ASSERT_EQ(s.pairs.matrix.size(), 4u);
  EXPECT_DOUBLE_EQ(s.pairs.matrix[2][0], 2.0);
  EXPECT_TRUE(std::isnan(s.pairs.matrix[1][3]));
  EXPECT_TRUE(std::isnan(s.pairs.matrix[0][0]));
  EXPECT_EQ(s.pairs.blamed_units, std::vector<std::string>{"rank 2 (vm)"});
}

TEST(DiagnoseReport, ABrokenDiagnoseJsonSkipsTheDirectoryWithItsReason) {
  const fs::path root = fresh_dir("diagnose_broken");
  struct Case {
    std::string name;
    std::function<void(json&)> spoil;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"standing", [](json& j) { j["pairs"]["pairs"][1]["standing"] = "bad"; },
       "diagnose.json: /pairs/pairs/1: standing 'bad' is not ok, slow or inconclusive"},
      {"unit", [](json& j) { j["pairs"]["pairs"][0]["b"] = 4; }, "diagnose.json: /pairs/pairs/0/b"},
      {"self", [](json& j) { j["pairs"]["pairs"][0]["b"] = 0; }, "a pair of a unit with itself"},
      {"median", [](json& j) { j["components"][0]["ranks"][0]["median"] = "x"; },
       "diagnose.json: /components/0/ranks/0/median: expected a number"},
      {"version", [](json& j) { j["schema"] = "sxbench.diagnose/9"; }, "diagnose.json"},
  };
  for (const auto& c : cases) {
    json j = diagnose_file();
    c.spoil(j);
    fs::create_directories(root / c.name);
    write_json_atomic(root / c.name / "diagnose.json", j);
  }
  const Aggregate a = aggregate_results(root);
  EXPECT_TRUE(a.runs.empty());
  ASSERT_EQ(a.skipped.size(), cases.size());
  for (const auto& c : cases) {
    bool found = false;
    for (const auto& s : a.skipped) {
      if (s.dir.filename() != c.name) continue;
      found = true;
      EXPECT_NE(s.reason.find(c.message), std::string::npos) << c.name << ": " << s.reason;
      EXPECT_EQ(s.reason.find('\n'), std::string::npos) << s.reason;
    }
    EXPECT_TRUE(found) << c.name;
  }
}

TEST(DiagnoseReport, TheHeatMapHoldsEveryPairTwiceAndMarksTheSlowOnes) {
  const fs::path d = fresh_dir("diagnose_map") / "slow run";
  fs::create_directories(d);
  write_json_atomic(d / "diagnose.json", diagnose_file());
  const RunRecord r = read_run_directory(d);
  const auto m = diagnose_heat_map(*r.diagnose, r.name, ReportLang::en);
  ASSERT_TRUE(m);
  EXPECT_EQ(diagnose_chart_stem(r.name), "diagnose_pairs_slow_run");
  ASSERT_EQ(m->rows.size(), 4u);
  EXPECT_EQ(m->rows, m->columns);
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(std::isnan(m->values[i][i])) << i;
  EXPECT_TRUE(std::isnan(m->values[1][3]));  // not measured: missing, not zero
  EXPECT_TRUE(std::isnan(m->values[3][1]));
  EXPECT_DOUBLE_EQ(m->values[0][1], 10);
  EXPECT_DOUBLE_EQ(m->values[1][0], 10);
  EXPECT_DOUBLE_EQ(m->values[3][2], 3);
  EXPECT_TRUE(m->marked[0][2] && m->marked[2][0] && m->marked[1][2] && m->marked[3][2]);
  EXPECT_FALSE(m->marked[0][1] || m->marked[0][3] || m->marked[1][3]);
  EXPECT_EQ(m->marked_rows, (std::vector<bool>{false, false, true, false}));
  EXPECT_NE(m->note.find("Outlined: a pair judged slow"), std::string::npos);
  EXPECT_NE(diagnose_heat_map(*r.diagnose, r.name, ReportLang::ja)->title.find("ペア行列"),
            std::string::npos);

  // The scale spans the measured values only.
  const auto s = heat_scale(*m);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->lo, 2);
  EXPECT_DOUBLE_EQ(s->hi, 10);
  EXPECT_DOUBLE_EQ(heat_position(*s, 2), 0);
  EXPECT_DOUBLE_EQ(heat_position(*s, 10), 1);
  EXPECT_DOUBLE_EQ(heat_position(*s, 6), 0.5);
  EXPECT_TRUE(std::isnan(heat_position(*s, std::nan(""))));

  // A matrix without a pair (--pairs none) draws nothing.
  DiagnoseSummary none = *r.diagnose;
  none.pairs = DiagnosePairs{};
  none.pairs.mode = "none";
  EXPECT_FALSE(diagnose_heat_map(none, "x", ReportLang::en));
}

TEST(DiagnoseReport, TheColourScaleRunsDarkToLightAndMissingCellsAreGrey) {
  HeatMap m;
  m.rows = m.columns = {"a", "b"};
  m.values = {{std::nan(""), 5}, {5, std::nan("")}};
  // One value: a narrow span around it, the cells mid-scale.
  auto s = heat_scale(m);
  ASSERT_TRUE(s);
  EXPECT_LT(s->lo, 5);
  EXPECT_GT(s->hi, 5);
  EXPECT_NEAR(heat_position(*s, 5), 0.5, 1e-9);
  m.values = {{std::nan(""), std::nan("")}, {std::nan(""), std::nan("")}};
  EXPECT_FALSE(heat_scale(m));

  auto luminance = [](HeatColour c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; };
  double last = -1;
  for (int k = 0; k <= 20; ++k) {
    const HeatColour c = heat_colour(k / 20.0);
    for (double ch : {c.r, c.g, c.b}) {
      EXPECT_GE(ch, 0);
      EXPECT_LE(ch, 1);
    }
    EXPECT_GT(luminance(c), last) << k;  // lower bandwidth, darker cell
    last = luminance(c);
  }
  const HeatColour grey = heat_colour(std::nan(""));
  EXPECT_DOUBLE_EQ(grey.r, grey.g);
  EXPECT_DOUBLE_EQ(grey.g, grey.b);
}

TEST(DiagnoseReport, AHeatMapOfTheWrongShapeIsRefusedByName) {
  HeatMap m;
  m.title = "pairs";
  m.rows = m.columns = {"a", "b"};
  m.values = {{1, 2}};
  try {
    (void)render_chart(m, ImageFormat::png);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chart 'pairs': 1 rows of values for 2 rows"),
              std::string::npos)
        << e.what();
  }
  m.values = {{1, 2}, {2, INFINITY}};
  EXPECT_THROW((void)render_chart(m, ImageFormat::png), Error);
  m.values = {{1, 2}, {2, 1}};
  m.marked = {{true}};
  EXPECT_THROW((void)render_chart(m, ImageFormat::png), Error);
}

}  // namespace
}  // namespace sxb::report
