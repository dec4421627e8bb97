#include <gtest/gtest.h>

#include <cmath>

#include "validate/findings.hpp"

namespace sxb {
namespace {

TEST(ValidateCompute, RatesAboveTheDatasheetAreImpossible) {
  const nlohmann::json c = {
      {"gemm",
       {{{"device", 0},
         {"dtype", "bf16"},
         {"m", 8192},
         {"n", 8192},
         {"k", 8192},
         {"name", "8192"},
         {"tflop_per_s", 704.6},
         {"spec", {{"key", "dense_bf16_tflops"}, {"value", 989.4}, {"fraction", 0.712}}}},
        {{"device", 0},
         {"dtype", "fp8_e4m3"},
         {"m", 8192},
         {"n", 8192},
         {"k", 8192},
         {"name", "x"},
         {"tflop_per_s", 2500.0},
         {"spec", {{"key", "dense_fp8_tflops"}, {"value", 1978.9}}}}}},
      {"bandwidth",
       {{{"test", "hbm"},
         {"variant", "copy"},
         {"src_device", 0},
         {"dst_device", 0},
         {"gb_per_s", 4139.7},
         {"spec", {{"key", "hbm_bandwidth_gb_per_s"}, {"value", 4800.0}}}}}},
      {"gemm_checks",
       {{{"device", 0}, {"dtype", "bf16"}, {"passed", true}},
        {{"device", 0}, {"dtype", "fp16"}, {"passed", false}}}}};
  const auto f = validate_compute(c, {});
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_NE(f[0].arithmetic.find("704.6 TFLOP/s <= 989.4 TFLOP/s"), std::string::npos)
      << f[0].arithmetic;
  EXPECT_EQ(f[1].verdict, Verdict::impossible);
  EXPECT_EQ(f[2].verdict, Verdict::ok);
  EXPECT_EQ(f[3].verdict, Verdict::ok);
  EXPECT_EQ(f[4].verdict, Verdict::failed);
}

TEST(ValidateCompute, AttentionChecksPassOrFailNamingKernelAndWindow) {
  const nlohmann::json c = {
      {"attention_checks",
       {{{"device", 0}, {"kernel", "sm90"}, {"shape", {{"head_dim", 128}, {"window", 0}}},
         {"passed", true}},
        {{"device", 1}, {"kernel", "mma"}, {"shape", {{"head_dim", 64}, {"window", 200}}},
         {"passed", false}}}}};
  const auto f = validate_compute(c, {});
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].check, "compute.attention_check");
  EXPECT_EQ(f[0].subject, "gpu0 attention sm90 head_dim 128");
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_EQ(f[1].subject, "gpu1 attention mma head_dim 64 window 200");
  EXPECT_EQ(f[1].verdict, Verdict::failed);
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

// Loss curves for train.loss_decreasing with a known fit: steps 1..8, loss 5 + b (step - 1) + e_i
// with e = d (+1 -1 -1 +1 +1 -1 -1 +1). e sums to 0 and is orthogonal to (step - 4.5), so the
// least-squares slope is exactly b and the residuals are e: residual sd = d sqrt(8/6), slope
// standard error se = sd / sqrt(Sxx) with Sxx = 42. t_factor sets b = t_factor x se.
nlohmann::json trend_metrics(double t_factor, double lr_per_step, int steps = 8, double d = 0.01) {
  static const double e[8] = {1, -1, -1, 1, 1, -1, -1, 1};
  const double sd = d * std::sqrt(8.0 / 6.0), se = sd / std::sqrt(42.0);
  const double b = t_factor * se;
  nlohmann::json curve = nlohmann::json::array();
  for (int i = 0; i < steps; ++i) {
    curve.push_back({{"step", i + 1}, {"loss", 5.0 + b * i + d * e[i % 8]}, {"lr", lr_per_step}});
  }
  return {{"model", {{"name", "tiny"}}}, {"loss_curve", curve}};
}

Finding loss_finding(const nlohmann::json& m) {
  for (const auto& f : validate_training(m, JobLimits{})) {
    if (f.check == "train.loss_decreasing") return f;
  }
  ADD_FAILURE() << "no train.loss_decreasing finding";
  return {};
}

bool not_applicable(const Finding& f) {
  return f.verdict == Verdict::ok && f.arithmetic.rfind("not applicable: ", 0) == 0;
}

// lr x steps well above 1e-3 (8 x 1e-3 = 8e-3) so only the noise rule decides.
TEST(ValidateLossTrend, FallingBeyondNoiseIsOkAtAndAboveThreeSigma) {
  for (double t : {-3.001, -5.0, -50.0}) {
    const Finding f = loss_finding(trend_metrics(t, 1e-3));
    EXPECT_EQ(f.verdict, Verdict::ok) << t;
    EXPECT_EQ(f.arithmetic.rfind("falls beyond the noise", 0), 0u) << f.arithmetic;
  }
}

TEST(ValidateLossTrend, ChangeJustInsideTheNoiseBandDoesNotApply) {
  for (double t : {-2.999, -1.0, 0.0, 1.0, 2.999}) {
    const Finding f = loss_finding(trend_metrics(t, 1e-3));
    EXPECT_TRUE(not_applicable(f)) << t << ": " << f.arithmetic;
    EXPECT_NE(f.arithmetic.find("within the noise band"), std::string::npos) << f.arithmetic;
  }
}

TEST(ValidateLossTrend, RisingBeyondNoiseWarns) {
  for (double t : {3.001, 5.0}) {
    const Finding f = loss_finding(trend_metrics(t, 1e-3));
    EXPECT_EQ(f.verdict, Verdict::warning) << t;
    EXPECT_EQ(f.arithmetic.rfind("rises beyond the noise", 0), 0u) << f.arithmetic;
    EXPECT_NE(f.arithmetic.find("residual sd 0.0115"), std::string::npos) << f.arithmetic;
  }
}

TEST(ValidateLossTrend, LearningRateTimesStepsBelowOneThousandthDoesNotApply) {
  // 8 steps x 1.2487e-4 = 0.999e-3 < 1e-3: a rise beyond the noise is not judged.
  const Finding under = loss_finding(trend_metrics(5.0, 0.999e-3 / 8));
  EXPECT_TRUE(not_applicable(under)) << under.arithmetic;
  EXPECT_NE(under.arithmetic.find("learning rate x steps 0.000999 (sum of per-step lr) < 0.001"),
            std::string::npos)
      << under.arithmetic;
  // Above: the rise is judged.
  EXPECT_EQ(loss_finding(trend_metrics(5.0, 1.001e-3 / 8)).verdict, Verdict::warning);
  // At: optimizer lr 1.25e-4 x 8 steps = 1e-3 exactly (no per-step lr in the curve).
  nlohmann::json at = trend_metrics(5.0, 0.0);
  for (auto& s : at["loss_curve"]) s.erase("lr");
  at["ds_config"] = {{"optimizer", {{"lr", 1.25e-4}}}};
  const Finding f = loss_finding(at);
  EXPECT_EQ(f.verdict, Verdict::warning) << f.arithmetic;
  EXPECT_NE(f.arithmetic.find("(optimizer lr x steps)"), std::string::npos) << f.arithmetic;
  // A clear fall is ok whatever the learning rate.
  EXPECT_EQ(loss_finding(trend_metrics(-5.0, 1e-6)).arithmetic.rfind("falls beyond", 0), 0u);
}

TEST(ValidateLossTrend, ZeroLearningRateDoesNotApply) {
  for (double t : {5.0, 0.0}) {
    const Finding f = loss_finding(trend_metrics(t, 0.0));
    EXPECT_TRUE(not_applicable(f)) << f.arithmetic;
    EXPECT_NE(f.arithmetic.find("learning rate x steps 0 "), std::string::npos) << f.arithmetic;
  }
}

TEST(ValidateLossTrend, FewerThanFourStepsDoNotApply) {
  const Finding three = loss_finding(trend_metrics(50.0, 1e-3, 3));
  EXPECT_TRUE(not_applicable(three)) << three.arithmetic;
  EXPECT_NE(three.arithmetic.find("3 measured step(s) < 4"), std::string::npos) << three.arithmetic;
  // Four steps are judged (e = +1 -1 -1 +1 is orthogonal to the steps there too).
  EXPECT_EQ(loss_finding(trend_metrics(50.0, 1e-3, 4)).verdict, Verdict::warning);
}

TEST(ValidateLossTrend, NonFiniteLossWarns) {
  nlohmann::json m = trend_metrics(-5.0, 1e-3);
  m["loss_curve"][3]["loss"] = nullptr;
  const Finding f = loss_finding(m);
  EXPECT_EQ(f.verdict, Verdict::warning);
  EXPECT_NE(f.arithmetic.find("loss at step 4 is not finite"), std::string::npos) << f.arithmetic;
}

// A row whose figures follow from each other as the sweep computes them (all_reduce and
// all_gather have bus factor (n - 1) / n x 2 and (n - 1) / n; `busbw` is what is wanted).
CollectiveRow consistent_row(const std::string& op, uint64_t size, double busbw, int n) {
  const double factor = op == "all_reduce" ? 2.0 * (n - 1) / n : double(n - 1) / n;
  CollectiveRow r;
  r.op = op;
  r.size_bytes = size;
  r.out_of_place.algbw_gb_per_s = busbw / factor;
  r.out_of_place.time_us = double(size) / (r.out_of_place.algbw_gb_per_s * 1e3);
  r.out_of_place.busbw_gb_per_s = r.out_of_place.algbw_gb_per_s * factor;
  return r;
}

TEST(ValidateCollectives, WrongElementsFailAndNvlinkBoundsBusbw) {
  CollectiveReport rep;
  rep.world_size = 2;
  rep.node_count = 1;
  rep.params.backend = "nccl";
  rep.summary = {{"all_reduce", 300, 344.5, 8ull << 30, 0, true},
                 {"all_gather", 300, 512.0, 8ull << 30, 3, true}};
  rep.rows = {consistent_row("all_reduce", 8ull << 30, 344.5, 2),
              consistent_row("all_gather", 8ull << 30, 512.0, 2)};
  JobLimits limits;
  HardwareSpec gpu;
  gpu.id = "h200_sxm";
  gpu.figures["nvlink_bandwidth_per_direction_gb_per_s"] = {450, "GB/s", "datasheet"};
  limits.gpu = gpu;
  const auto f = validate_collectives(rep, limits);
  ASSERT_EQ(f.size(), 6u);
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_EQ(f[1].verdict, Verdict::failed);
  EXPECT_EQ(f[2].check, "nccl.figures_consistent");
  EXPECT_EQ(f[2].verdict, Verdict::ok) << f[2].arithmetic;
  EXPECT_EQ(f[3].verdict, Verdict::ok) << f[3].arithmetic;
  EXPECT_EQ(f[4].verdict, Verdict::ok);
  EXPECT_EQ(f[5].verdict, Verdict::impossible);
  EXPECT_NE(f[5].arithmetic.find("busbw 512.00 GB/s > NVLink 450 GB/s"), std::string::npos)
      << f[5].arithmetic;
}

TEST(ValidateCollectives, FiguresThatDoNotFollowFromSizeAndTimeAreImpossibleOnAnyHardware) {
  CollectiveReport rep;
  rep.world_size = 2;
  rep.node_count = 1;
  rep.params.backend = "mpi";  // no hardware bound applies
  rep.summary = {{"all_reduce", 1, 2.0, 1 << 20, 0, true}};
  rep.rows = {consistent_row("all_reduce", 1 << 20, 2.0, 2)};
  auto check = [&] {
    for (const auto& f : validate_collectives(rep, {})) {
      if (f.check == "nccl.figures_consistent") return f;
    }
    return Finding{};
  };
  EXPECT_EQ(check().verdict, Verdict::ok) << check().arithmetic;
  // A busbw edited by hand (and the summary with it).
  rep.rows[0].out_of_place.busbw_gb_per_s = 1e300;
  rep.summary[0].max_busbw_gb_per_s = 1e300;
  EXPECT_EQ(check().verdict, Verdict::impossible);
  EXPECT_NE(check().arithmetic.find("1 of 1 rows do not follow from their own size and time"),
            std::string::npos)
      << check().arithmetic;
  // Rows right, summary not.
  rep.rows = {consistent_row("all_reduce", 1 << 20, 2.0, 2)};
  EXPECT_EQ(check().verdict, Verdict::impossible);
  EXPECT_NE(check().arithmetic.find("is not the rows' peak"), std::string::npos);
  // A time of zero cannot give a bandwidth.
  rep.summary[0].max_busbw_gb_per_s = 2.0;
  rep.rows[0].out_of_place.time_us = 0;
  EXPECT_EQ(check().verdict, Verdict::impossible);
}

}  // namespace
}  // namespace sxb
