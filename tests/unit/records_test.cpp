// Published records (configs/records) and the run-directory checks that compare with them: a
// figure within the physical limit but above the best published record is a warning marked
// implausible that names the record; at or under it, ok.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "commands/run_report.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/records.hpp"
#include "report/results/aggregate.hpp"
#include "report/results/result_files.hpp"
#include "validate/findings.hpp"

namespace sxb {
namespace {

namespace fs = std::filesystem;

std::vector<Record> records() { return load_records(find_config_dir() / "records"); }

TEST(Records, EveryRecordCarriesSourceDateConditionsAndAPeakOrPercent) {
  const auto rs = records();
  ASSERT_FALSE(rs.empty());
  for (const auto& r : rs) {
    EXPECT_FALSE(r.source.empty()) << r.id;
    EXPECT_FALSE(r.date.empty()) << r.id;
    EXPECT_FALSE(r.hardware.empty()) << r.id;
    EXPECT_FALSE(r.conditions.empty()) << r.id;
    EXPECT_TRUE(r.peak || r.unit == "%") << r.id;
    // A record is a figure measured on hardware: never above the limit it was measured against,
    // except all_reduce with in-switch reduction (its busbw ceiling is 2(n-1)/n x the link).
    if (r.op != "all_reduce") EXPECT_LE(r.fraction(), 1.0) << r.id;
  }
}

TEST(Records, BestRecordMatchesKindPrecisionClassAndOperation) {
  const auto rs = records();
  const Record* mfu = best_record(rs, "training_mfu", "bf16");
  ASSERT_NE(mfu, nullptr);
  EXPECT_DOUBLE_EQ(mfu->fraction(), 0.72);
  EXPECT_EQ(best_record(rs, "training_mfu", "fp8"), nullptr);
  // DeepGEMM's record was set with fine-grained (block) fp8 scaling: it bounds block-scaled
  // GEMMs only, not per-tensor ones (cuBLASLt, Transformer Engine) nor a figure of no scaling.
  const Record* fp8 = best_record(rs, "gemm_tflops", "fp8_e4m3", {}, "block");
  ASSERT_NE(fp8, nullptr);
  EXPECT_EQ(fp8->id, "gemm_fp8_deepgemm");
  EXPECT_EQ(fp8->scaling, "block");
  EXPECT_EQ(best_record(rs, "gemm_tflops", "fp8_e4m3", {}, "tensor"), nullptr);
  EXPECT_EQ(best_record(rs, "gemm_tflops", "fp8_e4m3"), nullptr);
  // bf16 and fp16 share the MAMF record (GH200); tf32 has none.
  ASSERT_NE(best_record(rs, "gemm_tflops", "bf16"), nullptr);
  EXPECT_EQ(best_record(rs, "gemm_tflops", "fp16")->id, "gemm_bf16_mamf_gh200");
  EXPECT_NEAR(best_record(rs, "gemm_tflops", "bf16")->fraction(), 828.6 / 989, 1e-12);
  EXPECT_EQ(best_record(rs, "gemm_tflops", "tf32"), nullptr);
  // Across nodes: all_reduce per 400G NIC; other operations have no record.
  ASSERT_NE(best_record(rs, "collective_busbw_inter_node", {}, "all_reduce"), nullptr);
  EXPECT_DOUBLE_EQ(best_record(rs, "collective_busbw_inter_node", {}, "all_reduce")->fraction(),
                   0.96);
  EXPECT_EQ(best_record(rs, "collective_busbw_inter_node", {}, "all_gather"), nullptr);
  // Records without a scaling bound every scaling: FlashAttention-3's fp8 record.
  for (const char* scaling : {"", "tensor", "block"}) {
    ASSERT_NE(best_record(rs, "attention_tflops", "fp8", {}, scaling), nullptr) << scaling;
    EXPECT_EQ(best_record(rs, "attention_tflops", "fp8", {}, scaling)->id,
              "attention_fp8_flashattention3");
  }
  for (const auto& r : rs) {
    if (precision_class(r.precision) != "fp8") EXPECT_TRUE(r.scaling.empty()) << r.id;
  }
  // bf16 shares fp16's class: FlashAttention-3's fp16 record bounds bf16 attention.
  ASSERT_NE(best_record(rs, "attention_tflops", "bf16"), nullptr);
  EXPECT_EQ(best_record(rs, "attention_tflops", "bf16")->id, "attention_fp16_flashattention3");
  EXPECT_EQ(best_record(rs, "collective_busbw_intra_node", {}, "all_reduce")->id,
            "nccl_allreduce_nvls_h100");
  EXPECT_EQ(best_record(rs, "collective_busbw_intra_node", {}, "all_gather")->id,
            "nccl_nvlink_effective_h100");
}

TEST(Records, MalformedFilesAreOneLineErrorsNamingFileAndKey) {
  const fs::path dir = fs::temp_directory_path() / "sxb_records_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto expect_error = [&](const std::string& body, const std::string& needle) {
    std::ofstream(dir / "r.json") << body;
    try {
      load_records(dir);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find((dir / "r.json").string()), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  };
  const std::string head = R"({"schema": "sxbench.records/1", "records": [)";
  const std::string cond =
      R"("conditions": {"hardware": "h", "precision": "p", "parallelism": "q", "size": "s"})";
  expect_error(R"({"records": 1})", "\"records\" array");
  expect_error(R"({"schema": "x", "records": []})", "\"schema\"");
  expect_error(head + R"({"id": "a", "kind": "training_mfu", "unit": "%", "source": "s", "date": "d", )" + cond + "}]}",
               "\"value\"");
  expect_error(head + R"({"id": "a", "kind": "training_mfu", "value": -1, "unit": "%", "source": "s", "date": "d", )" + cond + "}]}",
               "value");
  expect_error(head + R"({"id": "a", "kind": "gemm_tflops", "value": 1, "unit": "TFLOP/s", "source": "s", "date": "d", )" + cond + "}]}",
               "\"peak\"");
  expect_error(head + R"({"id": "a", "kind": "training_mfu", "value": 1, "unit": "%", "date": "d", )" + cond + "}]}",
               "\"source\"");
  expect_error(head + R"({"id": "a", "kind": "training_mfu", "value": 1, "unit": "%", "source": "s", "date": "d"}]})",
               "\"conditions\"");
  const std::string ok = R"({"id": "a", "kind": "training_mfu", "value": 1, "unit": "%", "source": "s", "date": "d", )" + cond + "}";
  expect_error(head + ok + ", " + ok + "]}", "appears twice");
  // fp8 scaling: tensor or block, and only on an fp8 record.
  const std::string fp8 = R"({"id": "g", "kind": "gemm_tflops", "precision": "fp8", "value": 1, "unit": "TFLOP/s", "peak": {"value": 2, "source": "s"}, "source": "s", "date": "d", )" + cond;
  expect_error(head + fp8 + R"(, "scaling": "row"}]})",
               "('g'): key \"scaling\": unknown fp8 scaling 'row' (tensor, block)");
  expect_error(head + fp8 + R"(, "scaling": 1}]})", "key \"scaling\"");
  expect_error(head + R"({"id": "a", "kind": "training_mfu", "precision": "bf16", "scaling": "block", "value": 1, "unit": "%", "source": "s", "date": "d", )" + cond + "}]}",
               "key \"scaling\": only an fp8 record has a scaling");
  std::ofstream(dir / "r.json") << head + fp8 + R"(, "scaling": "tensor"}, )" + ok + "]}";
  const auto loaded = load_records(dir);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].scaling, "tensor");
  EXPECT_TRUE(loaded[1].scaling.empty());
  std::ofstream(dir / "r.json") << head + ok + "]}";
  EXPECT_EQ(load_records(dir).size(), 1u);
  fs::remove_all(dir);
}

// compare_with_record at, just under and above the record, and left alone when impossible.
TEST(Records, CompareAtUnderAndAboveTheRecord) {
  const auto rs = records();
  const Record* mfu = best_record(rs, "training_mfu", "bf16");
  auto judge = [&](double measured, Verdict physics = Verdict::ok) {
    Finding f;
    f.unit = "TFLOP/s";
    f.verdict = physics;
    compare_with_record(f, measured, 989.4, mfu);
    return f;
  };
  const double bound = 0.72 * 989.4;
  EXPECT_EQ(judge(bound).verdict, Verdict::ok) << judge(bound).arithmetic;
  EXPECT_FALSE(judge(bound).implausible);
  EXPECT_EQ(judge(bound).record, "mfu_bf16_flashattention2");
  EXPECT_EQ(judge(bound * 0.999).verdict, Verdict::ok);
  const Finding above = judge(bound * 1.10);
  EXPECT_EQ(above.verdict, Verdict::warning);
  EXPECT_TRUE(above.implausible);
  EXPECT_NE(above.arithmetic.find("implausible: "), std::string::npos) << above.arithmetic;
  EXPECT_NE(above.arithmetic.find("10.0% above the best published record"), std::string::npos)
      << above.arithmetic;
  EXPECT_NE(above.arithmetic.find("record mfu_bf16_flashattention2: 72 %"), std::string::npos)
      << above.arithmetic;
  EXPECT_NE(above.arithmetic.find("arxiv.org/abs/2307.08691"), std::string::npos);
  // Physics wins: an impossible figure stays impossible, with no record appended.
  const Finding beyond = judge(1000, Verdict::impossible);
  EXPECT_EQ(beyond.verdict, Verdict::impossible);
  EXPECT_FALSE(beyond.implausible);
}

TEST(Records, TrainingAboveTheMfuRecordIsImplausibleInRunDirectories) {
  JobLimits limits;
  limits.gpu = load_hardware_spec(find_config_dir() / "hardware" / "h200_sxm.json");
  limits.records = records();
  auto tflops = [&](double per_device) {
    const nlohmann::json m = {{"model", {{"name", "m"}}},
                              {"loss_curve", {{{"loss", 5.5}}}},
                              {"model_tflops_per_s_per_device", per_device}};
    for (const auto& f : validate_training(m, limits)) {
      if (f.check == "train.tflops_vs_peak") return f;
    }
    return Finding{};
  };
  // The H200 fixtures' 500 TFLOP/s (MFU 50.6%) is under the record.
  EXPECT_EQ(tflops(500.99).verdict, Verdict::ok) << tflops(500.99).arithmetic;
  EXPECT_EQ(tflops(0.72 * 989.4).verdict, Verdict::ok);
  EXPECT_EQ(tflops(0.80 * 989.4).verdict, Verdict::warning);
  EXPECT_TRUE(tflops(0.80 * 989.4).implausible);
  EXPECT_EQ(tflops(990).verdict, Verdict::impossible);
}

// compute.json's fp8 GEMMs are cuBLASLt with per-tensor scales: DeepGEMM's block-scaled record
// (1550 TFLOP/s on H800) does not bound them, so a healthy H200's 1573.9 TFLOP/s at 8192^3 is ok,
// and the finding says no record of that kind, precision and scaling exists.
TEST(Records, ComputeFp8GemmIsPerTensorAndNotBoundedByTheBlockScaledRecord) {
  auto gemm = [](const char* dtype, const char* key, double peak, double v) {
    return nlohmann::json{{"gemm",
                           {{{"device", 0}, {"dtype", dtype}, {"m", 8192}, {"n", 8192}, {"k", 8192},
                             {"name", "8192"}, {"tflop_per_s", v}, {"scale_pointers", true},
                             {"spec", {{"key", key}, {"value", peak}}}}}}};
  };
  const auto rs = records();
  const auto h200 = validate_compute(gemm("fp8_e4m3", "dense_fp8_tflops", 1978.9, 1573.9), rs);
  ASSERT_EQ(h200.size(), 1u);
  EXPECT_EQ(h200[0].verdict, Verdict::ok) << h200[0].arithmetic;
  EXPECT_FALSE(h200[0].implausible);
  EXPECT_TRUE(h200[0].record.empty());
  EXPECT_NE(h200[0].arithmetic.find(
                "no published record of this kind (gemm_tflops, fp8_e4m3, tensor scaling)"),
            std::string::npos)
      << h200[0].arithmetic;
  for (double v : {1540.4, 1550.0, 1600.0, 1978.9}) {
    const auto f = validate_compute(gemm("fp8_e4m3", "dense_fp8_tflops", 1978.9, v), rs)[0];
    EXPECT_EQ(f.verdict, Verdict::ok) << v << ": " << f.arithmetic;
    EXPECT_FALSE(f.implausible) << v;
  }
  // The datasheet still applies.
  EXPECT_EQ(validate_compute(gemm("fp8_e4m3", "dense_fp8_tflops", 1978.9, 1979), rs)[0].verdict,
            Verdict::impossible);
  // bf16 GEMM: the MAMF record (828.6 of 989 on GH200) scales to 828.94 TFLOP/s on a 989.4 peak;
  // a healthy H200's 798.2 is within it, 850 is implausible; tf32 has no record and says so.
  const auto bf16 = validate_compute(gemm("bf16", "dense_bf16_tflops", 989.4, 798.2), rs)[0];
  EXPECT_EQ(bf16.verdict, Verdict::ok);
  EXPECT_EQ(bf16.record, "gemm_bf16_mamf_gh200");
  EXPECT_NE(bf16.arithmetic.find("within the best published record, 828.9 TFLOP/s here (83.8% of "
                                 "989.4 TFLOP/s)"),
            std::string::npos)
      << bf16.arithmetic;
  const auto fast = validate_compute(gemm("bf16", "dense_bf16_tflops", 989.4, 850), rs)[0];
  EXPECT_EQ(fast.verdict, Verdict::warning);
  EXPECT_TRUE(fast.implausible);
  const auto tf32 = validate_compute(gemm("tf32", "dense_tf32_tflops", 494.7, 400), rs)[0];
  EXPECT_EQ(tf32.verdict, Verdict::ok);
  EXPECT_NE(tf32.arithmetic.find("no published record of this kind (gemm_tflops, tf32)"),
            std::string::npos)
      << tf32.arithmetic;
  // A per-tensor record, were one published, would bound compute.json's fp8 GEMMs.
  std::vector<Record> with_tensor = rs;
  Record t = *best_record(rs, "gemm_tflops", "fp8", {}, "block");
  t.id = "gemm_fp8_tensor_test";
  t.scaling = "tensor";
  t.value = 1500;
  with_tensor.push_back(t);
  const auto bounded =
      validate_compute(gemm("fp8_e4m3", "dense_fp8_tflops", 1978.9, 1573.9), with_tensor)[0];
  EXPECT_EQ(bounded.verdict, Verdict::warning) << bounded.arithmetic;
  EXPECT_TRUE(bounded.implausible);
  EXPECT_EQ(bounded.record, "gemm_fp8_tensor_test");
}

// A block-scaled fp8 GEMM at, under and above DeepGEMM's record: 1550 of 1978.9 on H800 ->
// 1550 TFLOP/s of the H200's same peak.
TEST(Records, BlockScaledFp8GemmAtUnderAndAboveTheRecord) {
  const auto rs = records();
  const Record* block = best_record(rs, "gemm_tflops", "fp8_e4m3", {}, "block");
  ASSERT_NE(block, nullptr);
  auto judge = [&](double measured) {
    Finding f;
    f.unit = "TFLOP/s";
    f.verdict = Verdict::ok;
    compare_with_record(f, measured, 1978.9, block);
    return f;
  };
  EXPECT_EQ(judge(1540.4).verdict, Verdict::ok);
  EXPECT_EQ(judge(1550).verdict, Verdict::ok) << judge(1550).arithmetic;
  EXPECT_FALSE(judge(1550).implausible);
  EXPECT_EQ(judge(1550).record, "gemm_fp8_deepgemm");
  const Finding above = judge(1573.9);
  EXPECT_EQ(above.verdict, Verdict::warning);
  EXPECT_TRUE(above.implausible);
  EXPECT_NE(above.arithmetic.find("record gemm_fp8_deepgemm: 1550 TFLOP/s"), std::string::npos)
      << above.arithmetic;
  EXPECT_NE(above.arithmetic.find("fp8 block scaling"), std::string::npos) << above.arithmetic;
}

CollectiveRow row(const std::string& op, uint64_t bytes, double busbw, int world) {
  CollectiveRow r;
  r.op = op;
  r.size_bytes = bytes;
  double factor = op == "all_reduce" ? 2.0 * (world - 1) / world : double(world - 1) / world;
  r.out_of_place.busbw_gb_per_s = busbw;
  r.out_of_place.algbw_gb_per_s = busbw / factor;
  r.out_of_place.time_us = double(bytes) / (r.out_of_place.algbw_gb_per_s * 1e3);
  return r;
}

TEST(Records, IntraNodeBusbwAgainstNvlinkCeilingAndRecords) {
  JobLimits limits;
  limits.gpu = load_hardware_spec(find_config_dir() / "hardware" / "h200_sxm.json");
  limits.records = records();
  auto busbw = [&](const std::string& op, double v) {
    CollectiveReport rep;
    rep.world_size = 8;
    rep.node_count = 1;
    rep.params.backend = "nccl";
    rep.summary = {{op, v, v, 8ull << 30, 0, true}};
    rep.rows = {row(op, 8ull << 30, v, 8)};
    for (const auto& f : validate_collectives(rep, limits)) {
      if (f.check == "nccl.busbw_vs_nvlink") return f;
    }
    return Finding{};
  };
  // all_reduce: NVLink SHARP reaches ~480 GB/s busbw, above the 450 GB/s link: not impossible
  // (ceiling 450 x 2 x 7/8 = 787.5), implausible only above the 480 GB/s record.
  EXPECT_EQ(busbw("all_reduce", 475).verdict, Verdict::ok) << busbw("all_reduce", 475).arithmetic;
  EXPECT_EQ(busbw("all_reduce", 480).verdict, Verdict::ok);
  EXPECT_TRUE(busbw("all_reduce", 500).implausible);
  EXPECT_EQ(busbw("all_reduce", 500).verdict, Verdict::warning);
  EXPECT_NE(busbw("all_reduce", 500).arithmetic.find("= 787.5 GB/s"), std::string::npos)
      << busbw("all_reduce", 500).arithmetic;
  EXPECT_EQ(busbw("all_reduce", 788).verdict, Verdict::impossible);
  // all_gather: link 450 GB/s, record 370 GB/s.
  EXPECT_EQ(busbw("all_gather", 369).verdict, Verdict::ok);
  EXPECT_EQ(busbw("all_gather", 370).verdict, Verdict::ok);
  EXPECT_EQ(busbw("all_gather", 380).verdict, Verdict::warning);
  EXPECT_EQ(busbw("all_gather", 451).verdict, Verdict::impossible);
}

// Across nodes (a run directory's nccl.json): the node's NICs x their rate x the operation's
// ceiling bounds busbw (a warning above it), and from 3 nodes the per-NIC record (48 of 50 GB/s,
// ring) marks more than 96 % of the NICs' rate implausible; on 2 nodes it is named, not compared.
TEST(Records, InterNodeBusbwAgainstNicRateAndThePerNicRecord) {
  JobLimits limits;
  limits.gpu = load_hardware_spec(find_config_dir() / "hardware" / "h200_sxm.json");
  limits.nic = load_hardware_spec(find_config_dir() / "hardware" / "nic_400gbe.json");
  limits.records = records();
  auto busbw = [&](const std::string& op, int nodes, double v) {
    CollectiveReport rep;
    rep.world_size = 8 * nodes;
    rep.node_count = nodes;
    rep.params.backend = "nccl";
    rep.summary = {{op, v, v, 8ull << 30, 0, true}};
    rep.rows = {row(op, 8ull << 30, v, rep.world_size)};
    for (const auto& f : validate_collectives(rep, limits)) {
      if (f.check == "nccl.busbw_vs_node_nic_rate") return f;
    }
    return Finding{};
  };
  // 2 ports x 50 GB/s: record bound 96 GB/s from 3 nodes.
  EXPECT_EQ(busbw("all_reduce", 4, 96).verdict, Verdict::ok) << busbw("all_reduce", 4, 96).arithmetic;
  EXPECT_EQ(busbw("all_reduce", 4, 96).record, "nccl_allreduce_per_400g_nic");
  EXPECT_TRUE(busbw("all_reduce", 4, 97).implausible);
  EXPECT_EQ(busbw("all_reduce", 4, 97).verdict, Verdict::warning);
  EXPECT_NE(busbw("all_reduce", 3, 120).arithmetic.find("above the best published record, 96 GB/s "
                                                       "here (96.0% of 100 GB/s)"),
            std::string::npos)
      << busbw("all_reduce", 3, 120).arithmetic;
  const Finding two = busbw("all_reduce", 2, 120);
  EXPECT_EQ(two.verdict, Verdict::ok);
  EXPECT_FALSE(two.implausible);
  EXPECT_NE(two.arithmetic.find("is not compared on 2 nodes"), std::string::npos)
      << two.arithmetic;
  EXPECT_EQ(busbw("all_reduce", 2, 188).verdict, Verdict::warning);  // above 187.5
  EXPECT_FALSE(busbw("all_gather", 4, 99).implausible);
  EXPECT_EQ(busbw("all_gather", 4, 101).verdict, Verdict::warning);  // above the NIC rate
}

TEST(Records, ImplausibleSurvivesValidationJsonAndItsSummary) {
  ValidationReport r;
  Finding f;
  f.check = "train.tflops_vs_peak";
  f.verdict = Verdict::warning;
  f.implausible = true;
  f.record = "mfu_bf16_flashattention2";
  r.findings.push_back(f);
  EXPECT_EQ(r.implausible(), 1);
  const nlohmann::json j = r;
  EXPECT_EQ(j["counts"]["implausible"], 1);
  const auto s = report::result_files::read_validation(j);
  EXPECT_EQ(s.implausible, 1);
  ASSERT_EQ(s.findings.size(), 1u);
  EXPECT_TRUE(s.findings[0].implausible);
  EXPECT_EQ(s.findings[0].record, "mfu_bf16_flashattention2");
  EXPECT_EQ(report::result_files::summarize(r, "x").implausible, 1);
}

// The run's own summary (summary_report.md) names a figure above a record as implausible.
TEST(Records, RunSummaryShowsImplausibleFindingsAsSuch) {
  const auto run = read_json_file(fs::path(SXB_TEST_SOURCE_DIR) / "tests" / "fixtures" / "gpu" /
                                  "h200_quick_7b" / "run.json");
  ValidationReport v;
  Finding ok;
  ok.check = "compute.gemm_vs_peak";
  v.findings.push_back(ok);
  Finding f;
  f.check = "train.tflops_vs_peak";
  f.subject = "meta-llama/Llama-2-7b-hf";
  f.verdict = Verdict::warning;
  f.implausible = true;
  f.record = "mfu_bf16_flashattention2";
  f.arithmetic = "implausible: ...";
  v.findings.push_back(f);
  const std::string md = render_run_summary(run, RunArtifacts{}, v);
  EXPECT_NE(md.find("1 ok, 1 warning(s) (1 implausible: above a published record, to be "
                    "double-checked), 0 failed, 0 impossible"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| **warning: implausible** (above a published record) | train.tflops_vs_peak"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| ok | compute.gemm_vs_peak"), std::string::npos) << md;
}

}  // namespace
}  // namespace sxb
