#include <gtest/gtest.h>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
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

}  // namespace
}  // namespace sxb
