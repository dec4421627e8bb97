#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "train/cpu_model.hpp"
#include "model/model_config.hpp"

namespace sxb {
namespace fs = std::filesystem;

TEST(ModelConfig, ExactParameterCounts) {
  // Published counts (sum of the safetensors shapes of each Hugging Face checkpoint).
  EXPECT_EQ(resolve_model("meta-llama/Llama-2-7b-hf").param_count(), 6738415616);
  EXPECT_EQ(resolve_model("meta-llama/Llama-2-13b-hf").param_count(), 13015864320);
  EXPECT_EQ(resolve_model("meta-llama/Llama-2-70b-hf").param_count(), 68976648192);
  EXPECT_EQ(resolve_model("meta-llama/Meta-Llama-3-8B").param_count(), 8030261248);
  EXPECT_EQ(resolve_model("meta-llama/Meta-Llama-3-70B").param_count(), 70553706496);
  EXPECT_EQ(resolve_model("meta-llama/Llama-3.1-8B").param_count(), 8030261248);
  EXPECT_EQ(resolve_model("mistralai/Mistral-7B-v0.1").param_count(), 7241732096);
}

TEST(ModelConfig, LayoutSumsToParameterCount) {
  for (const auto& m : builtin_models()) {
    int64_t total = 0;
    for (const auto& t : cpu::parameter_layout(m)) total += t.size;
    EXPECT_EQ(total, m.param_count()) << m.name;
    EXPECT_NO_THROW(m.validate()) << m.name;
  }
}

TEST(ModelConfig, LookupIsCaseInsensitiveWithOrWithoutOrg) {
  EXPECT_EQ(resolve_model("META-LLAMA/llama-2-7b-HF").name, "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(resolve_model("llama-2-13b-hf").name, "meta-llama/Llama-2-13b-hf");
  EXPECT_EQ(resolve_model("meta-llama/Meta-Llama-3.1-8B-Instruct").name, "meta-llama/Llama-3.1-8B");
  EXPECT_EQ(resolve_model("Mistral-7B-v0.1").sliding_window.value_or(0), 4096);
  const auto l70 = resolve_model("Llama-2-70b-hf");
  EXPECT_EQ(l70.num_kv_heads, 8);
  EXPECT_EQ(l70.head_dim(), 128);
  EXPECT_TRUE(resolve_model("Llama-3.1-70B").rope_scaling.has_value());
  EXPECT_FALSE(resolve_model("Meta-Llama-3-70B").rope_scaling.has_value());
}

TEST(ModelConfig, UnknownModelListsKnownOnes) {
  try {
    hub::HubSettings offline;
    offline.cache_dir = "/nonexistent-hf-home/hub";
    offline.offline = true;
    resolve_model("meta-llama/Llama-9-1b", offline);
    FAIL() << "accepted an unknown model";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Llama-9-1b"), std::string::npos) << m;
    EXPECT_NE(m.find("meta-llama/Llama-2-7b-hf"), std::string::npos) << m;
    EXPECT_NE(m.find("tiny"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

class HfCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("sxb_hf_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const fs::path& p, const nlohmann::json& j) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << j.dump(2);
  }
  static nlohmann::json llama_json() {
    return {{"model_type", "llama"},        {"hidden_size", 128},
            {"num_hidden_layers", 3},       {"num_attention_heads", 8},
            {"num_key_value_heads", 2},     {"intermediate_size", 256},
            {"vocab_size", 1000},           {"max_position_embeddings", 1024},
            {"rope_theta", 500000.0},       {"rms_norm_eps", 1e-6},
            {"tie_word_embeddings", false}, {"hidden_act", "silu"}};
  }
  fs::path root_;
};

TEST_F(HfCacheTest, ReadsLocalDirectory) {
  write(root_ / "m" / "config.json", llama_json());
  const auto c = resolve_model((root_ / "m").string());
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_EQ(c.param_count(), 2 * 1000 * 128 + 3 * c.params_per_layer() + 128);
}

TEST_F(HfCacheTest, FindsSnapshotInHfHome) {
  write(root_ / "hub" / "models--acme--Tiny-Llama" / "snapshots" / "abc123" / "config.json",
        llama_json());
  hub::HubSettings offline;
  offline.cache_dir = root_ / "hub";
  offline.offline = true;
  const auto c = resolve_model("acme/tiny-llama", offline);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_NE(c.source.find("abc123"), std::string::npos) << c.source;
}

TEST_F(HfCacheTest, RejectsTiedEmbeddingsAndBadShapes) {
  auto j = llama_json();
  j["tie_word_embeddings"] = true;
  write(root_ / "tied" / "config.json", j);
  EXPECT_THROW(resolve_model((root_ / "tied").string()), Error);
  j = llama_json();
  j["num_key_value_heads"] = 3;
  write(root_ / "gqa" / "config.json", j);
  EXPECT_THROW(resolve_model((root_ / "gqa").string()), Error);
  j = llama_json();
  j.erase("hidden_size");
  write(root_ / "missing" / "config.json", j);
  try {
    resolve_model((root_ / "missing").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos) << e.what();
  }
}

}  // namespace sxb
