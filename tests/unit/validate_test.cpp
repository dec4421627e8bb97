#include <gtest/gtest.h>

#include "validate/findings.hpp"

namespace sxb {
namespace {

TEST(ValidateCompute, RatesAboveTheDatasheetAreImpossible) {
  const nlohmann::json c = {
      {"gemm",
       {{{"device", 0}, {"dtype", "bf16"}, {"m", 8192}, {"n", 8192}, {"k", 8192}, {"name", "8192"},
         {"tflop_per_s", 704.6},
         {"spec", {{"key", "dense_bf16_tflops"}, {"value", 989.4}, {"fraction", 0.712}}}},
        {{"device", 0}, {"dtype", "fp8_e4m3"}, {"m", 8192}, {"n", 8192}, {"k", 8192}, {"name", "x"},
         {"tflop_per_s", 2500.0},
         {"spec", {{"key", "dense_fp8_tflops"}, {"value", 1978.9}}}}}},
      {"bandwidth",
       {{{"test", "hbm"}, {"variant", "copy"}, {"src_device", 0}, {"dst_device", 0},
         {"gb_per_s", 4139.7}, {"spec", {{"key", "hbm_bandwidth_gb_per_s"}, {"value", 4800.0}}}}}},
      {"gemm_checks", {{{"device", 0}, {"dtype", "bf16"}, {"passed", true}},
                       {{"device", 0}, {"dtype", "fp16"}, {"passed", false}}}}};
  const auto f = validate_compute(c);
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_NE(f[0].arithmetic.find("704.6 TFLOP/s <= 989.4 TFLOP/s"), std::string::npos) << f[0].arithmetic;
  EXPECT_EQ(f[1].verdict, Verdict::impossible);
  EXPECT_EQ(f[2].verdict, Verdict::ok);
  EXPECT_EQ(f[3].verdict, Verdict::ok);
  EXPECT_EQ(f[4].verdict, Verdict::failed);
}

TEST(ValidateTraining, NonFiniteLossFailsAndRisingLossWarns) {
  const nlohmann::json m = {{"model", {{"name", "tiny"}}},
                            {"loss_curve", {{{"loss", 5.5}}, {{"loss", nullptr}}}},
                            {"initial_loss", 5.5},
                            {"final_loss", 5.6},
                            {"replicas_identical", true}};
  ValidationReport r;
  r.add(validate_training(m, JobLimits{}));
  EXPECT_EQ(r.count(Verdict::failed), 1);
  EXPECT_EQ(r.count(Verdict::warning), 1);
  EXPECT_FALSE(r.passed());
}

TEST(ValidateCollectives, WrongElementsFailAndNvlinkBoundsBusbw) {
  CollectiveReport rep;
  rep.world_size = 2;
  rep.node_count = 1;
  rep.params.backend = "nccl";
  rep.summary = {{"all_reduce", 300, 344.5, 8ull << 30, 0, true},
                 {"all_gather", 300, 512.0, 8ull << 30, 3, true}};
  JobLimits limits;
  HardwareSpec gpu;
  gpu.id = "h200_sxm";
  gpu.figures["nvlink_bandwidth_per_direction_gb_per_s"] = {450, "GB/s", "datasheet"};
  limits.gpu = gpu;
  const auto f = validate_collectives(rep, limits);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_EQ(f[1].verdict, Verdict::failed);
  EXPECT_EQ(f[2].verdict, Verdict::ok);
  EXPECT_EQ(f[3].verdict, Verdict::impossible);
  EXPECT_NE(f[3].arithmetic.find("busbw 512.00 GB/s > NVLink 450 GB/s"), std::string::npos)
      << f[3].arithmetic;
}

}  // namespace
}  // namespace sxb
