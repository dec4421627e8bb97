#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "model/ds_config.hpp"
#include "model/model_config.hpp"

namespace sxb {
namespace {

using json = nlohmann::json;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(DsConfig, ShippedConfigsParseWithoutWarnings) {
  for (const char* name : {"ds_config_7b.json", "ds_config_13b.json", "ds_config_70b.json"}) {
    const auto c = load_ds_config(std::string(SXB_TEST_SOURCE_DIR) + "/configs/" + name);
    EXPECT_TRUE(c.warnings.empty()) << name << ": " << c.warnings.front();
    EXPECT_TRUE(c.bf16) << name;
    EXPECT_EQ(c.optimizer_type, "AdamW");
    EXPECT_EQ(c.gradient_clipping, 1.0);
    EXPECT_TRUE(c.activation_checkpointing);
    const auto plan = resolve_batch(c, 8);
    EXPECT_EQ(plan.train_batch_size,
              plan.micro_batch_per_gpu * plan.gradient_accumulation_steps * 8);
  }
  EXPECT_EQ(
      load_ds_config(std::string(SXB_TEST_SOURCE_DIR) + "/configs/ds_config_70b.json").zero_stage,
      3);
}

TEST(DsConfig, AnyTwoBatchKeysDetermineTheThird) {
  auto plan = [](json j, int64_t world) {
    return resolve_batch(parse_ds_config(j, "t.json"), world);
  };
  auto p = plan({{"train_batch_size", 64}, {"train_micro_batch_size_per_gpu", 4}}, 4);
  EXPECT_EQ(p.gradient_accumulation_steps, 4);
  p = plan({{"train_batch_size", 64}, {"gradient_accumulation_steps", 2}}, 4);
  EXPECT_EQ(p.micro_batch_per_gpu, 8);
  p = plan({{"train_micro_batch_size_per_gpu", 3}, {"gradient_accumulation_steps", 5}}, 2);
  EXPECT_EQ(p.train_batch_size, 30);
  p = plan({{"train_batch_size", 16}}, 4);
  EXPECT_EQ(p.micro_batch_per_gpu, 4);
  EXPECT_EQ(p.gradient_accumulation_steps, 1);
  p = plan({{"train_micro_batch_size_per_gpu", 2}}, 8);
  EXPECT_EQ(p.train_batch_size, 16);
  p = plan({{"train_batch_size", 32},
            {"train_micro_batch_size_per_gpu", 2},
            {"gradient_accumulation_steps", 4}},
           4);
  EXPECT_EQ(p.train_batch_size, 32);
  p = plan({{"train_batch_size", "auto"},
            {"train_micro_batch_size_per_gpu", 2},
            {"gradient_accumulation_steps", "auto"}},
           2);
  EXPECT_EQ(p.train_batch_size, 4);
}

TEST(DsConfig, ContradictionsNameTheKey) {
  auto plan = [](json j, int64_t world) {
    return resolve_batch(parse_ds_config(j, "t.json"), world);
  };
  std::string m = error_of([&] {
    plan({{"train_batch_size", 33},
          {"train_micro_batch_size_per_gpu", 4},
          {"gradient_accumulation_steps", 2}},
         4);
  });
  EXPECT_NE(m.find("\"train_batch_size\""), std::string::npos) << m;
  EXPECT_NE(m.find("(= 32)"), std::string::npos) << m;
  m = error_of([&] { plan({{"train_batch_size", 10}, {"train_micro_batch_size_per_gpu", 4}}, 1); });
  EXPECT_NE(m.find("train_batch_size"), std::string::npos) << m;
  m = error_of([&] { plan({{"gradient_accumulation_steps", 2}}, 1); });
  EXPECT_NE(m.find("train_micro_batch_size_per_gpu"), std::string::npos) << m;
  m = error_of([&] {
    parse_ds_config({{"bf16", {{"enabled", true}}}, {"fp16", {{"enabled", true}}}}, "t.json");
  });
  EXPECT_NE(m.find("fp16.enabled"), std::string::npos) << m;
  m = error_of([&] { parse_ds_config({{"zero_optimization", {{"stage", 4}}}}, "t.json"); });
  EXPECT_NE(m.find("zero_optimization.stage"), std::string::npos) << m;
  m = error_of([&] { parse_ds_config({{"optimizer", {{"type", "Lamb"}}}}, "t.json"); });
  EXPECT_NE(m.find("optimizer.type"), std::string::npos) << m;
  m = error_of([&] { parse_ds_config({{"train_micro_batch_size_per_gpu", -1}}, "t.json"); });
  EXPECT_NE(m.find("train_micro_batch_size_per_gpu"), std::string::npos) << m;
  m = error_of([&] {
    parse_ds_config({{"optimizer", {{"type", "AdamW"}, {"params", {{"betas", {0.9}}}}}}}, "t.json");
  });
  EXPECT_NE(m.find("optimizer.params.betas"), std::string::npos) << m;
}

TEST(DsConfig, ZeroBucketSizes) {
  const ModelConfig tiny = resolve_model("tiny");
  const DsConfig d = parse_ds_config({{"zero_optimization", {{"stage", 2}}}}, "t.json");
  EXPECT_EQ(d.reduce_bucket_size, 500000000);  // DeepSpeed's defaults
  EXPECT_EQ(d.allgather_bucket_size, 500000000);
  EXPECT_EQ(d.reduce_bucket_elements(tiny), 500000000);
  const DsConfig c = parse_ds_config(
      {{"zero_optimization", {{"reduce_bucket_size", 5e4}, {"allgather_bucket_size", 7000}}}},
      "t.json");
  EXPECT_EQ(c.reduce_bucket_size, 50000);
  EXPECT_EQ(c.allgather_bucket_size, 7000);
  EXPECT_EQ(c.to_json()["reduce_bucket_size"], 50000);
  const DsConfig a =
      parse_ds_config({{"zero_optimization", {{"reduce_bucket_size", "auto"}}}}, "t.json");
  EXPECT_EQ(a.reduce_bucket_elements(tiny), 64 * 64);  // Hugging Face: hidden_size^2
  EXPECT_EQ(a.to_json()["reduce_bucket_size"], "auto");
  EXPECT_TRUE(a.warnings.empty());
  for (const json& bad : {json(0), json(-5), json(2.5), json("big"), json(true)}) {
    std::string m = error_of([&] {
      parse_ds_config({{"zero_optimization", {{"reduce_bucket_size", bad}}}}, "t.json");
    });
    EXPECT_NE(m.find("\"zero_optimization.reduce_bucket_size\""), std::string::npos) << m;
    m = error_of([&] {
      parse_ds_config({{"zero_optimization", {{"allgather_bucket_size", bad}}}}, "t.json");
    });
    EXPECT_NE(m.find("\"zero_optimization.allgather_bucket_size\""), std::string::npos) << m;
  }
  for (const json& bad : {json(-1), json(4), json(1.5), json("2")}) {
    const std::string m = error_of([&] {
      parse_ds_config({{"zero_optimization", {{"stage", bad}}}}, "t.json");
    });
    EXPECT_NE(m.find("\"zero_optimization.stage\""), std::string::npos) << m;
  }
}

TEST(DsConfig, UnknownKeysWarn) {
  const auto c = parse_ds_config({{"train_micro_batch_size_per_gpu", 1},
                                  {"my_custom_key", 1},
                                  {"zero_optimization", {{"stage", 1}, {"stagee", 2}}}},
                                 "t.json");
  ASSERT_EQ(c.warnings.size(), 2u);
  EXPECT_NE(c.warnings[0].find("my_custom_key"), std::string::npos);
  EXPECT_NE(c.warnings[1].find("zero_optimization.stagee"), std::string::npos);
  EXPECT_EQ(c.zero_stage, 1);
}

TEST(DsConfig, OptimizerParamsAndAuto) {
  const auto c = parse_ds_config(
      {{"train_micro_batch_size_per_gpu", 1},
       {"optimizer",
        {{"type", "adamw"},
         {"params",
          {{"lr", 3e-4}, {"betas", {0.8, 0.95}}, {"eps", 1e-6}, {"weight_decay", "auto"}}}}},
       {"gradient_clipping", "auto"},
       {"bf16", {{"enabled", "auto"}}}},
      "t.json");
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 3e-4);
  EXPECT_DOUBLE_EQ(c.optimizer.beta1, 0.8);
  EXPECT_DOUBLE_EQ(c.optimizer.beta2, 0.95);
  EXPECT_DOUBLE_EQ(c.optimizer.eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 0.0);
  EXPECT_DOUBLE_EQ(c.gradient_clipping, 1.0);
  EXPECT_TRUE(c.bf16);
  EXPECT_EQ(c.resolved_auto.size(), 3u);
  const auto adam = parse_ds_config(
      {{"optimizer", {{"type", "Adam"}, {"params", {{"adam_w_mode", false}}}}}}, "t.json");
  EXPECT_FALSE(adam.optimizer.decoupled_weight_decay);
}

TEST(DsConfig, MicroBatchOverride) {
  const auto c = parse_ds_config({{"train_batch_size", 64},
                                  {"train_micro_batch_size_per_gpu", 4},
                                  {"gradient_accumulation_steps", 2}},
                                 "t.json");
  auto p = resolve_batch(c, 8, 2, "BATCH_SIZE_PER_GPU");
  EXPECT_EQ(p.micro_batch_per_gpu, 2);
  EXPECT_EQ(p.gradient_accumulation_steps, 2);
  EXPECT_EQ(p.train_batch_size, 32);
  EXPECT_EQ(p.micro_batch_source, "BATCH_SIZE_PER_GPU");
  const auto tb_only = parse_ds_config({{"train_batch_size", 64}}, "t.json");
  p = resolve_batch(tb_only, 8, 2, "--micro-batch");
  EXPECT_EQ(p.gradient_accumulation_steps, 4);
  EXPECT_THROW(resolve_batch(tb_only, 8, 3, "--micro-batch"), Error);
  EXPECT_EQ(resolve_batch(default_ds_config(), 2).train_batch_size, 2);
}

}  // namespace
}  // namespace sxb
