#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bench/collective_sweep.hpp"
#include "core/atomic_file.hpp"
#include "core/collective_results.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"

namespace sxb {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("sxb_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(AtomicFile, WritesWholeFileAndLeavesNoTemporary) {
  const fs::path d = fresh_dir("atomic");
  write_file_atomic(d / "a.txt", "first");
  write_file_atomic(d / "a.txt", "second version");
  EXPECT_EQ(read_file(d / "a.txt"), "second version");
  write_json_atomic(d / "sub" / "b.json", nlohmann::json{{"x", 1}});
  EXPECT_EQ(read_json_file(d / "sub" / "b.json")["x"], 1);
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(d)) files += e.is_regular_file();
  EXPECT_EQ(files, 2);
  fs::remove_all(d);
}

TEST(AtomicFile, UniqueDirectoriesNeverCollide) {
  const fs::path d = fresh_dir("unique");
  EXPECT_EQ(create_unique_directory(d / "run"), d / "run");
  EXPECT_EQ(create_unique_directory(d / "run"), d / "run-2");
  EXPECT_EQ(create_unique_directory(d / "run"), d / "run-3");
  fs::remove_all(d);
}

TEST(AtomicFile, MalformedJsonIsOneLineWithPath) {
  const fs::path d = fresh_dir("badjson");
  write_file_atomic(d / "bad.json", "{\"a\": [1, 2,\n}");
  try {
    read_json_file(d / "bad.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bad.json: malformed JSON at byte"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
  }
  EXPECT_THROW(read_file(d / "missing.json"), Error);
  fs::remove_all(d);
}

TEST(Error, AlwaysOneLine) {
  Error e("first\nsecond\r\nthird\n");
  EXPECT_STREQ(e.what(), "first; second; third");
}

CollectiveReport sample_report() {
  CollectiveReport r;
  r.tool_version = "0.1.0";
  r.status = "complete";
  r.library_version = "NCCL 2.28.3";
  r.world_size = 2;
  r.node_count = 1;
  r.ranks = {{0, "node1", 100, "GPU 0"}, {1, "node1", 101, "GPU 1"}};
  r.params = {"nccl", "float", 8, 8ull << 30, 2, 0, 5, 20, true, 0, 300};
  CollectiveRow row{"all_reduce", "float", "sum", -1, 8ull << 30, 2147483648ull,
                    {49900.5, 172.1, 344.2, 0}, CollectiveMeasurement{49800.0, 172.4, 344.9, 0}};
  r.rows = {row};
  row.op = "alltoall";
  row.in_place.reset();
  row.out_of_place.wrong.reset();
  r.rows.push_back(row);
  r.summary = {summarize("all_reduce", {r.rows[0]})};
  return r;
}

TEST(CollectiveReport, JsonRoundTrip) {
  const CollectiveReport r = sample_report();
  const nlohmann::json j = r;
  const CollectiveReport back = j.get<CollectiveReport>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_TRUE(j["rows"][1]["in_place"].is_null());
  EXPECT_TRUE(j["rows"][1]["out_of_place"]["wrong"].is_null());
  EXPECT_DOUBLE_EQ(back.summary[0].avg_busbw_gb_per_s, (344.2 + 344.9) / 2);
  EXPECT_DOUBLE_EQ(back.summary[0].max_busbw_gb_per_s, 344.9);
}

// Existing nccl-tests parsers split data lines on whitespace: 13 fields, size first, busbw 8th.
TEST(NcclLog, RowsHaveNcclTestsColumns) {
  const CollectiveReport r = sample_report();
  const std::string line = nccl_log_row(r.rows[0]);
  std::istringstream in(line);
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  ASSERT_EQ(fields.size(), 13u) << line;
  EXPECT_EQ(fields[0], "8589934592");
  EXPECT_EQ(fields[2], "float");
  EXPECT_EQ(fields[5], "49900");  // >= 10000 us printed without decimals
  EXPECT_EQ(fields[7], "344.20");
  EXPECT_EQ(fields[8], "0");
  EXPECT_EQ(fields[11], "344.90");
  EXPECT_EQ(line.substr(0, 12), "  8589934592");
  const std::string none = nccl_log_row(r.rows[1]);
  EXPECT_NE(none.find("N/A"), std::string::npos);
  const std::string footer = nccl_log_footer(r.summary[0]);
  EXPECT_NE(footer.find("# Out of bounds values : 0 OK"), std::string::npos);
  EXPECT_NE(footer.find("# Avg bus bandwidth    : 344.5500"), std::string::npos);
  EXPECT_NE(nccl_log_table_header().find("#       size         count      type   redop    root"),
            std::string::npos);
}

TEST(Hardware, EveryFigureHasUnitAndSource) {
  const auto specs = load_hardware_specs(find_config_dir() / "hardware");
  ASSERT_GE(specs.size(), 3u);
  for (const auto& s : specs) {
    EXPECT_FALSE(s.figures.empty()) << s.id;
    for (const auto& [k, f] : s.figures) {
      EXPECT_GT(f.value, 0) << s.id << "." << k;
      EXPECT_FALSE(f.source.empty()) << s.id << "." << k;
    }
  }
  auto h200 = find_gpu_spec(specs, "NVIDIA H200");
  ASSERT_TRUE(h200);
  EXPECT_EQ(h200->id, "h200_sxm");
  EXPECT_DOUBLE_EQ(h200->figure("hbm_bandwidth_gb_per_s").value, 4800);
  EXPECT_DOUBLE_EQ(h200->figure("dense_bf16_tflops").value, 989.4);
  EXPECT_EQ(find_gpu_spec(specs, "NVIDIA H100 80GB HBM3")->id, "h100_sxm");
  EXPECT_FALSE(find_gpu_spec(specs, "NVIDIA A100-SXM4-80GB"));
  EXPECT_THROW(h200->figure("warp_drive_factor"), Error);
}

TEST(Hardware, RejectsFigureWithoutSource) {
  const fs::path d = fresh_dir("hw");
  write_file_atomic(d / "x.json",
                    R"({"name": "X", "kind": "gpu", "figures": {"tdp_watts": {"value": 1, "unit": "W", "source": ""}}})");
  EXPECT_THROW(load_hardware_spec(d / "x.json"), Error);
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb
