#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "model/flops.hpp"
#include "model/model_shape.hpp"
#include "validate/claims.hpp"

namespace sxb {
namespace {

ModelShape shape(const std::string& name) { return model_shape(name); }

std::vector<HardwareSpec> specs() { return load_hardware_specs(find_config_dir() / "hardware"); }

// The seed's own headline claims must be flagged, with the arithmetic shown.
TEST(Claims, SeedClaimsAreFlaggedImpossible) {
  const auto claims = read_json_file(find_config_dir() / "claims" / "seed_claims.json");
  const auto findings = validate_claims(claims, specs(), shape);
  ASSERT_EQ(findings.size(), 7u);
  const Finding& b7 = findings[0];
  EXPECT_EQ(b7.verdict, Verdict::impossible);
  // 28,800 x 512 tokens/s x (6 x 6,738,415,616 + 12 x 32 x 4096 x 512) FLOP/token over
  // 64 x 989.4 TFLOP/s is about 9.6x peak.
  EXPECT_NEAR(*b7.measured / *b7.limit, 9.6, 0.05);
  EXPECT_NE(b7.arithmetic.find("ratio 9.6"), std::string::npos) << b7.arithmetic;
  EXPECT_NE(b7.arithmetic.find("64 GPUs x 989.4 TFLOP/s"), std::string::npos) << b7.arithmetic;
  EXPECT_EQ(findings[1].verdict, Verdict::impossible);
  EXPECT_EQ(findings[2].verdict, Verdict::impossible);
  const Finding& bw = findings[3];
  EXPECT_EQ(bw.verdict, Verdict::impossible);
  EXPECT_DOUBLE_EQ(*bw.limit, 800.0);
  EXPECT_NE(bw.arithmetic.find("912.5 Gbit/s claimed > 2 ports x 400 Gbit/s line rate"),
            std::string::npos)
      << bw.arithmetic;
  EXPECT_EQ(findings[4].verdict, Verdict::ok);
  EXPECT_EQ(findings[5].verdict, Verdict::ok);
}

TEST(Claims, PlausibleThroughputPasses) {
  const nlohmann::json claims = {
      {"claims",
       {{{"id", "ref"}, {"kind", "training_tokens_per_s"}, {"model", "meta-llama/Llama-2-7b-hf"}, {"nodes", 1},
         {"value", 9570.0 * 8}, {"seq_len", 4096}}}}};
  const auto f = validate_claims(claims, specs(), shape);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].verdict, Verdict::ok) << f[0].arithmetic;
  EXPECT_NE(f[0].arithmetic.find("MFU 45%"), std::string::npos) << f[0].arithmetic;
}

TEST(Claims, MalformedClaimsAreOneLineErrors) {
  EXPECT_THROW(validate_claims(nlohmann::json::array(), specs(), shape), Error);
  const nlohmann::json no_kind = {{"claims", {{{"id", "x"}, {"value", 1}}}}};
  try {
    validate_claims(no_kind, specs(), shape);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "claims: claim 'x' lacks 'kind'");
  }
  const nlohmann::json bad_gpu = {{"cluster", {{"gpu", "b300"}}}, {"claims", nlohmann::json::array()}};
  EXPECT_THROW(validate_claims(bad_gpu, specs(), shape), Error);
  const nlohmann::json superlinear = {
      {"claims", {{{"id", "s"}, {"kind", "scaling_efficiency_percent"}, {"nodes", 2}, {"value", 130}}}}};
  EXPECT_EQ(validate_claims(superlinear, specs(), shape)[0].verdict, Verdict::warning);
}

std::vector<Record> records() { return load_records(find_config_dir() / "records"); }

// One claim of the seed's cluster (H200 SXM, 8 GPUs per node, 2 x 400GbE) through the records.
Finding judge(nlohmann::json claim) {
  claim["id"] = "c";
  const nlohmann::json file = {{"cluster", {{"gpu", "h200_sxm"}, {"gpus_per_node", 8}}},
                               {"claims", {claim}}};
  const auto f = validate_claims(file, specs(), shape, "claims.json", records());
  EXPECT_EQ(f.size(), 1u);
  return f.empty() ? Finding{} : f[0];
}

enum class Want { ok, implausible, impossible };
void expect(const Finding& f, Want w, const std::string& label) {
  switch (w) {
    case Want::ok:
      EXPECT_EQ(f.verdict, Verdict::ok) << label << ": " << f.arithmetic;
      EXPECT_FALSE(f.implausible) << label;
      break;
    case Want::implausible:
      EXPECT_EQ(f.verdict, Verdict::warning) << label << ": " << f.arithmetic;
      EXPECT_TRUE(f.implausible) << label;
      EXPECT_NE(f.arithmetic.find("implausible: "), std::string::npos) << label << ": " << f.arithmetic;
      EXPECT_NE(f.arithmetic.find("above the best published record"), std::string::npos) << label;
      break;
    case Want::impossible:
      EXPECT_EQ(f.verdict, Verdict::impossible) << label << ": " << f.arithmetic;
      break;
  }
}

// The example: Llama-2-7B at 160,000 tokens/s on one 8-GPU node is MFU 95 %: possible
// in physics, far above the best published bf16 training MFU (72 %).
TEST(Claims, Llama7bAt160kTokensPerSecondOnOneNodeIsImplausible) {
  const Finding f = judge({{"kind", "training_tokens_per_s"}, {"model", "meta-llama/Llama-2-7b-hf"},
                           {"nodes", 1}, {"seq_len", 4096}, {"value", 160000}});
  expect(f, Want::implausible, "160k tokens/s");
  EXPECT_NE(f.arithmetic.find("(MFU 95%)"), std::string::npos) << f.arithmetic;
  EXPECT_NE(f.arithmetic.find("record mfu_bf16_flashattention2: 72 %"), std::string::npos)
      << f.arithmetic;
  // 0.9476 / 0.72 - 1 = 31.6 % above the record.
  EXPECT_NE(f.arithmetic.find("31.6% above the best published record"), std::string::npos)
      << f.arithmetic;
}

// Every throughput-like kind at, just under and above the record (MFU 72 %) and the peak.
TEST(Claims, ThroughputKindsAtUnderAndAboveRecordAndPeak) {
  const ModelShape m = shape("meta-llama/Llama-2-7b-hf");
  const double flop_per_token = palm_flops_per_token(m, 4096);
  const double peak_node = 8 * 989.4e12;  // one node of H200, dense bf16
  auto tokens_at = [&](double mfu) { return mfu * peak_node / flop_per_token; };
  const std::vector<std::pair<double, Want>> table = {
      {0.70, Want::ok}, {0.72 * (1 - 1e-6), Want::ok}, {0.72, Want::ok},
      {0.73, Want::implausible}, {1.0 * (1 - 1e-6), Want::implausible}, {1.01, Want::impossible}};
  for (const auto& [mfu, want] : table) {
    const std::string label = fmt::format("MFU {}", mfu);
    const double tps = tokens_at(mfu);
    const nlohmann::json base = {{"model", "meta-llama/Llama-2-7b-hf"}, {"nodes", 1}};
    auto with = [&](nlohmann::json extra) {
      nlohmann::json c = base;
      c.update(extra);
      return c;
    };
    expect(judge(with({{"kind", "training_tokens_per_s"}, {"seq_len", 4096}, {"value", tps}})), want,
           "tokens/s " + label);
    expect(judge(with({{"kind", "training_samples_per_s"}, {"tokens_per_sample", 4096},
                       {"value", tps / 4096}})),
           want, "samples/s " + label);
    // 700 W per GPU x 8 GPUs / (J/token) = tokens/s.
    const Finding e = judge(with({{"kind", "energy_per_token_joules"}, {"seq_len", 4096},
                                  {"watts_per_gpu", 700}, {"value", 8 * 700 / tps}}));
    expect(e, want, "energy " + label);
    EXPECT_EQ(e.check, "claim.energy_per_token");
    // 1e12 tokens in hours = 1e12 / tps / 3600.
    const Finding t = judge(with({{"kind", "time_to_train_hours"}, {"seq_len", 4096},
                                  {"tokens", 1e12}, {"value", 1e12 / tps / 3600}}));
    expect(t, want, "time to train " + label);
    EXPECT_EQ(t.check, "claim.time_to_train");
  }
  // Power above the board limit cannot be drawn, whatever the energy per token.
  expect(judge({{"kind", "energy_per_token_joules"}, {"model", "meta-llama/Llama-2-7b-hf"},
                {"nodes", 1}, {"seq_len", 4096}, {"watts_per_gpu", 701}, {"value", 1.0}}),
         Want::impossible, "701 W");
  // fp8 training: the fp8 peak, and no published record to compare with (said so).
  const Finding fp8 = judge({{"kind", "training_tokens_per_s"}, {"model", "meta-llama/Llama-2-7b-hf"},
                             {"nodes", 1}, {"seq_len", 4096}, {"precision", "fp8"},
                             {"value", tokens_at(1.5)}});
  expect(fp8, Want::ok, "fp8 at 75% of the fp8 peak");
  EXPECT_NE(fp8.arithmetic.find("no published record"), std::string::npos) << fp8.arithmetic;
}

// Datasheet kinds: GEMM and attention per data type, HBM, power.
TEST(Claims, DatasheetKindsAtUnderAndAboveRecordAndPeak) {
  struct Row {
    const char* kind;
    const char* dtype;
    double value;
    Want want;
    const char* scaling = "";  // the claim's "scaling" member; "" leaves it out
  };
  const std::vector<Row> table = {
      // GEMM fp8 with block (fine-grained) scaling: record 1550 (DeepGEMM on H800), peak 1978.9.
      {"gemm_tflops", "fp8", 1549, Want::ok, "block"},
      {"gemm_tflops", "fp8", 1550, Want::ok, "block"},
      {"gemm_tflops", "fp8", 1551, Want::implausible, "block"},
      {"gemm_tflops", "fp8_e4m3", 1573.9, Want::implausible, "block"},
      {"gemm_tflops", "fp8", 1978.9, Want::implausible, "block"},
      {"gemm_tflops", "fp8", 1979, Want::impossible, "block"},
      // GEMM fp8 per tensor (stated, or no scaling: the cuBLAS / Transformer Engine path): the
      // block-scaled record does not bound it, and no per-tensor record is published.
      {"gemm_tflops", "fp8", 1551, Want::ok},
      {"gemm_tflops", "fp8_e4m3", 1573.9, Want::ok},
      {"gemm_tflops", "fp8", 1700, Want::ok, "tensor"},
      {"gemm_tflops", "fp8", 1978.9, Want::ok},
      {"gemm_tflops", "fp8", 1979, Want::impossible},
      {"gemm_tflops", "fp8", 1979, Want::impossible, "tensor"},
      // GEMM bf16 (and fp16, the same class): record 828.6 of 989 (GH200, MAMF) -> 0.83782 x
      // 989.4 = 828.94 here; peak 989.4.
      {"gemm_tflops", "bf16", 828.9, Want::ok},
      {"gemm_tflops", "bf16", 829.0, Want::implausible},
      {"gemm_tflops", "fp16", 829.0, Want::implausible},
      {"gemm_tflops", "bf16", 989.4, Want::implausible},
      {"gemm_tflops", "bf16", 989.5, Want::impossible},
      {"gemm_tflops", "tf32", 494.8, Want::impossible},
      // Attention bf16: record 740 (FlashAttention-3 fp16), peak 989.4; fp8: 1200, 1978.9.
      {"attention_tflops", "bf16", 739, Want::ok},
      {"attention_tflops", "bf16", 740, Want::ok},
      {"attention_tflops", "bf16", 741, Want::implausible},
      {"attention_tflops", "bf16", 990, Want::impossible},
      {"attention_tflops", "fp8", 1200, Want::ok},
      {"attention_tflops", "fp8", 1201, Want::implausible},
      {"attention_tflops", "fp8", 1979, Want::impossible},
      // HBM: datasheet 4800 GB/s, no record; power: board limit 700 W.
      {"hbm_bandwidth_gb_per_s", "", 4800, Want::ok},
      {"hbm_bandwidth_gb_per_s", "", 4801, Want::impossible},
      {"gpu_power_watts", "", 699, Want::ok},
      {"gpu_power_watts", "", 700, Want::ok},
      {"gpu_power_watts", "", 700.5, Want::impossible},
  };
  for (const auto& r : table) {
    nlohmann::json c = {{"kind", r.kind}, {"value", r.value}};
    if (*r.dtype) c["dtype"] = r.dtype;
    if (*r.scaling) c["scaling"] = r.scaling;
    const Finding f = judge(c);
    expect(f, r.want, fmt::format("{} {} {} {}", r.kind, r.dtype, r.scaling, r.value));
    if (std::string(r.kind) == "gemm_tflops" && std::string(r.dtype).rfind("fp8", 0) == 0 &&
        r.want != Want::impossible) {
      const bool block = std::string(r.scaling) == "block";
      EXPECT_EQ(f.record, block ? "gemm_fp8_deepgemm" : "") << r.value;
      if (!block) {
        EXPECT_NE(f.arithmetic.find(fmt::format(
                      "no published record of this kind (gemm_tflops, {}, tensor scaling)", r.dtype)),
                  std::string::npos)
            << f.arithmetic;
      }
    }
  }
}

// A GEMM claim states its fp8 scaling (tensor or block) only for an fp8 data type; no other kind
// states one. Each mistake is a one-line error naming the key.
TEST(Claims, ScalingIsTensorOrBlockOnFp8GemmClaimsOnly) {
  auto error = [](nlohmann::json claim) {
    try {
      judge(std::move(claim));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(error({{"kind", "gemm_tflops"}, {"dtype", "fp8"}, {"scaling", "row"}, {"value", 1}}),
            "claims.json: claim 'c': key \"scaling\": unknown fp8 scaling 'row' (tensor, block)");
  EXPECT_EQ(error({{"kind", "gemm_tflops"}, {"dtype", "bf16"}, {"scaling", "block"}, {"value", 1}}),
            "claims.json: claim 'c': key \"scaling\": only an fp8 GEMM has a scaling (dtype is "
            "'bf16')");
  EXPECT_EQ(
      error({{"kind", "attention_tflops"}, {"dtype", "fp8"}, {"scaling", "block"}, {"value", 1}}),
      "claims.json: claim 'c': key \"scaling\": only a gemm_tflops claim states an fp8 scaling");
  EXPECT_NE(error({{"kind", "gemm_tflops"}, {"dtype", "fp8"}, {"scaling", 1}, {"value", 1}})
                .find("key \"scaling\""),
            std::string::npos);
}

// Collective bus bandwidth: one node against NVLink x the operation's ceiling and the records;
// across nodes against ports x NIC rate x the ceiling.
TEST(Claims, CollectiveBusbwAtUnderAndAboveRecordAndCeiling) {
  struct Row {
    const char* op;
    int nodes;
    double value;
    Want want;
  };
  const std::vector<Row> table = {
      // all_reduce on 8 GPUs: record 480 (NVLS), ceiling 450 x 2 x 7/8 = 787.5.
      {"all_reduce", 1, 479, Want::ok},
      {"all_reduce", 1, 480, Want::ok},
      {"all_reduce", 1, 481, Want::implausible},
      {"all_reduce", 1, 787.5, Want::implausible},
      {"all_reduce", 1, 788, Want::impossible},
      // every other operation: record 370 (NCCL's effective NVLink rate), link 450.
      {"all_gather", 1, 370, Want::ok},
      {"all_gather", 1, 371, Want::implausible},
      {"all_gather", 1, 450, Want::implausible},
      {"all_gather", 1, 451, Want::impossible},
      {"sendrecv", 1, 451, Want::impossible},
      // 2 nodes x 8 GPUs, 2 x 50 GB/s per node: all_reduce ceiling 100 x 2 x 15/16 = 187.5; the
      // inter-node record (48 of 50 GB/s per NIC, ring) is not compared on 2 nodes.
      {"all_reduce", 2, 187.5, Want::ok},
      {"all_reduce", 2, 188, Want::impossible},
      {"reduce_scatter", 2, 100, Want::ok},
      {"reduce_scatter", 2, 101, Want::impossible},
      // 4 nodes (32 ranks): ceiling 100 x 2 x 31/32 = 193.75; record 0.96 x 100 = 96.
      {"all_reduce", 4, 96, Want::ok},
      {"all_reduce", 4, 96.1, Want::implausible},
      {"all_reduce", 4, 193.75, Want::implausible},
      {"all_reduce", 4, 193.8, Want::impossible},
      // other operations have no inter-node record: the NIC rate alone.
      {"all_gather", 4, 100, Want::ok},
  };
  for (const auto& r : table) {
    const Finding f = judge({{"kind", "collective_busbw_gb_per_s"}, {"op", r.op},
                             {"nodes", r.nodes}, {"value", r.value}});
    expect(f, r.want, fmt::format("{} {} node(s) {} GB/s", r.op, r.nodes, r.value));
  }
  EXPECT_THROW(judge({{"kind", "collective_busbw_gb_per_s"}, {"op", "gossip"}, {"nodes", 1},
                      {"value", 1}}),
               Error);
  // The arithmetic names the inter-node record, or why it is not compared, or its absence.
  const Finding four = judge({{"kind", "collective_busbw_gb_per_s"}, {"op", "all_reduce"},
                              {"nodes", 4}, {"value", 120}});
  EXPECT_EQ(four.record, "nccl_allreduce_per_400g_nic");
  EXPECT_NE(four.arithmetic.find("25.0% above the best published record, 96 GB/s here (96.0% of "
                                 "100 GB/s)"),
            std::string::npos)
      << four.arithmetic;
  const Finding two = judge({{"kind", "collective_busbw_gb_per_s"}, {"op", "all_reduce"},
                             {"nodes", 2}, {"value", 120}});
  EXPECT_TRUE(two.record.empty());
  EXPECT_NE(two.arithmetic.find("nccl_allreduce_per_400g_nic (ring, or NCCL's choice from 3 "
                                "nodes) is not compared on 2 nodes"),
            std::string::npos)
      << two.arithmetic;
  const Finding gather = judge({{"kind", "collective_busbw_gb_per_s"}, {"op", "all_gather"},
                                {"nodes", 4}, {"value", 90}});
  EXPECT_NE(gather.arithmetic.find(
                "no published record of this kind (collective_busbw_inter_node, all_gather)"),
            std::string::npos)
      << gather.arithmetic;
}

TEST(Claims, NewKindsRefuseMissingOrUnknownFieldsInOneLine) {
  try {
    judge({{"kind", "gemm_tflops"}, {"value", 1}, {"dtype", "int4"}});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "claims.json: claim 'c': key \"dtype\": unknown data type 'int4' (bf16, fp16, fp8, "
                 "tf32, fp32)");
  }
  try {
    judge({{"kind", "time_to_train_hours"}, {"model", "meta-llama/Llama-2-7b-hf"}, {"nodes", 1},
           {"seq_len", 4096}, {"value", 10}});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "claims.json: claim 'c' lacks 'tokens'");
  }
}

// The seed's claims with the records: still failing, the same four impossible, none merely
// implausible (physics wins over records).
TEST(Claims, SeedClaimsStillFailWithRecords) {
  const auto claims = read_json_file(find_config_dir() / "claims" / "seed_claims.json");
  ValidationReport r;
  r.add(validate_claims(claims, specs(), shape, "seed_claims.json", records()));
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.count(Verdict::impossible), 4);
  EXPECT_EQ(r.count(Verdict::ok), 3);
  EXPECT_EQ(r.implausible(), 0);
}

}  // namespace
}  // namespace sxb
