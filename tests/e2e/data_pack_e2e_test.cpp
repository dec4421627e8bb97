// `sxbench data pack --tokenizer` on raw SFT text with the fixture tokenizers, and the token file
// read back by `sxbench train`.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "model/model_config.hpp"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using sxb::e2e::run_command;
using sxb::e2e::sxbench;

const fs::path kFixtures = fs::path(SXB_TEST_SOURCE_DIR) / "tests/fixtures/tokenizer";

class DataPackE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = sxb::e2e::scratch_dir(
        std::string("data_pack_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  // A model directory: the tiny shape with the fixture tokenizer's vocabulary, and its files.
  std::string model_dir(const std::string& tokenizer, int64_t vocab) {
    const fs::path d = dir_ / ("model_" + tokenizer);
    fs::create_directories(d);
    for (const auto& e : fs::directory_iterator(kFixtures / tokenizer)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("tokenizer", 0) == 0) fs::copy_file(e.path(), d / n);
    }
    sxb::ModelConfig c = sxb::resolve_model("tiny");
    c.vocab_size = vocab;
    std::ofstream(d / "config.json") << sxb::hf_config_json(c).dump(1);
    return d.string();
  }
  fs::path dir_;
};

std::string raw_records() {
  std::string s;
  for (int i = 0; i < 12; ++i) {
    s += "{\"messages\": [{\"role\": \"system\", \"content\": \"You answer in one word.\"}, "
         "{\"role\": \"user\", \"content\": \"What is " + std::to_string(i) + " plus one?\"}, "
         "{\"role\": \"assistant\", \"content\": \"" + std::to_string(i + 1) + "\"}]}\n";
    s += "{\"prompt\": \"Translate to French: the sea\", \"response\": \"la mer\"}\n";
    s += "{\"instruction\": \"Name a colour.\", \"input\": \"\", \"output\": \"Blue 🙂\"}\n";
  }
  return s;
}

TEST_F(DataPackE2E, RawTextPacksAndTrains) {
  const std::string model = model_dir("llama3", 512);
  const std::string in = write("raw.jsonl", raw_records());
  const std::string bin = (dir_ / "sft.bin").string();
  const auto p = run_command(sxbench("data pack --in " + in + " --out " + bin +
                                     " --seq-len 128 --tokenizer " + model));
  ASSERT_EQ(p.exit_code, 0) << p.output;
  EXPECT_NE(p.output.find("(byte-level BPE, vocabulary 501, bos <|begin_of_text|> = 496, eos "
                          "<|end_of_text|> = 497)"),
            std::string::npos)
      << p.output;
  EXPECT_NE(p.output.find("records: 12 prompt/response, 12 messages, 12 Alpaca; chat template "
                          "llama3 (from "),
            std::string::npos)
      << p.output;
  EXPECT_NE(p.output.find("packed 36 records into "), std::string::npos) << p.output;
  EXPECT_NE(p.output.find("packing efficiency "), std::string::npos) << p.output;

  const auto info = run_command(sxbench("data info " + bin));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  const json h = json::parse(info.output);
  EXPECT_EQ(h["num_records"], 36);
  EXPECT_LT(h["max_token_id"].get<int64_t>(), 501);
  EXPECT_GT(h["num_target_tokens"].get<int64_t>(), 36);

  const auto t = run_command(sxbench("train --device cpu --model " + model +
                                     " --steps 3 --micro-batch 2 --data " + bin + " --out " +
                                     (dir_ / "out").string()));
  ASSERT_EQ(t.exit_code, 0) << t.output;
  std::ifstream f(dir_ / "out" / "sft_metrics.json");
  ASSERT_TRUE(f.good()) << t.output;
  const json m = json::parse(f);
  EXPECT_EQ(m["data"]["kind"], "file");
  ASSERT_EQ(m["loss_curve"].size(), 3u);
  for (const auto& s : m["loss_curve"]) EXPECT_TRUE(std::isfinite(s["loss"].get<double>()));
}

TEST_F(DataPackE2E, SentencePieceAlpacaArrayWithTemplateFlag) {
  const std::string model = model_dir("spm", 400);
  const std::string in =
      write("alpaca.json",
            "[{\"instruction\": \"Say hello.\", \"input\": \"\", \"output\": \"Hello!\"},\n"
            " {\"instruction\": \"Add.\", \"input\": \"2 3\", \"output\": \"5\"}]\n");
  const auto p = run_command(sxbench("data pack --in " + in + " --out " +
                                     (dir_ / "a.bin").string() + " --seq-len 256 --model " + model));
  ASSERT_EQ(p.exit_code, 0) << p.output;
  EXPECT_NE(p.output.find("(sentencepiece, vocabulary 400, bos <s> = 1, eos </s> = 2)"),
            std::string::npos)
      << p.output;
  EXPECT_NE(p.output.find("records: 0 prompt/response, 0 messages, 2 Alpaca\n"), std::string::npos)
      << p.output;

  const std::string chat = write(
      "chat.jsonl",
      "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", "
      "\"content\": \"Hello\"}]}\n");
  const auto q = run_command(sxbench("data pack --in " + chat + " --out " +
                                     (dir_ / "c.bin").string() +
                                     " --seq-len 64 --chat-template mistral --tokenizer " + model));
  ASSERT_EQ(q.exit_code, 0) << q.output;
  EXPECT_NE(q.output.find("chat template mistral (from --chat-template)"), std::string::npos)
      << q.output;
}

TEST_F(DataPackE2E, BadInputIsOneLineAndNoFile) {
  const std::string model = model_dir("llama3", 512);
  const std::string out = (dir_ / "x.bin").string();
  const std::string in = write("bad.jsonl",
                               "{\"prompt\": \"a\", \"response\": \"b\"}\n"
                               "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n");
  auto r = run_command(sxbench("data pack --in " + in + " --out " + out +
                               " --seq-len 64 --tokenizer " + model));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("sxbench: error: " + in + ":2: no assistant message"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(out));

  // A template of no known family is refused, naming the file.
  json cfg = json::parse(std::ifstream(fs::path(model) / "tokenizer_config.json"));
  cfg["chat_template"] = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}";
  std::ofstream(fs::path(model) / "tokenizer_config.json") << cfg.dump();
  const std::string chat = write(
      "chat.jsonl",
      "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", "
      "\"content\": \"Hello\"}]}\n");
  r = run_command(sxbench("data pack --in " + chat + " --out " + out +
                          " --seq-len 64 --tokenizer " + model));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("tokenizer_config.json: chat_template \"{% for m in messages "
                          "%}<|im_start|>"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(out));

  // An unsupported tokenizer.json component is named.
  json tj = json::parse(std::ifstream(fs::path(model) / "tokenizer.json"));
  tj["normalizer"] = {{"type", "NFKC"}};
  std::ofstream(fs::path(model) / "tokenizer.json") << tj.dump();
  r = run_command(sxbench("data pack --in " + chat + " --out " + out +
                          " --seq-len 64 --chat-template llama3 --tokenizer " + model));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("tokenizer.json: normalizer \"NFKC\" is not supported"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(out));

  r = run_command(sxbench("data pack --in " + chat + " --out " + out +
                          " --seq-len 64 --tokenizer " + (dir_ / "nowhere").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("not a directory and not a hub id org/name"), std::string::npos)
      << r.output;
}

}  // namespace
