// Tokenizers against the committed fixtures of tests/fixtures/tokenizer (see its README for
// which tool produced which ids).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "train/tokenizer.hpp"
#include "thrown.hpp"

namespace sxb {
namespace {
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(SXB_TEST_SOURCE_DIR) / "tests/fixtures/tokenizer";

std::vector<std::string> lines_of(const fs::path& p) {
  std::istringstream in(read_file(p));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<uint32_t> ids_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<uint32_t> ids;
  for (uint32_t id; in >> id;) ids.push_back(id);
  return ids;
}

// Every corpus line encodes to the reference ids of the same line and decodes back to itself.
void expect_reference(const Tokenizer& t, const fs::path& reference) {
  const auto corpus = lines_of(kFixtures / "corpus.txt");
  const auto ref = lines_of(reference);
  ASSERT_EQ(corpus.size(), ref.size()) << reference;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const auto ids = t.encode(corpus[i]);
    EXPECT_EQ(ids, ids_of(ref[i])) << reference << " line " << i + 1 << ": " << corpus[i];
    EXPECT_EQ(t.decode(ids), corpus[i]) << "line " << i + 1;
  }
}

TEST(Tokenizer, SentencePieceMatchesSpmEncode) {
  const auto t = load_tokenizer_dir(kFixtures / "spm");
  EXPECT_EQ(t->kind(), "sentencepiece");
  EXPECT_EQ(t->vocab_size(), 400);
  ASSERT_TRUE(t->bos && t->eos);
  EXPECT_EQ(t->bos->text, "<s>");
  EXPECT_EQ(t->bos->id, 1u);
  EXPECT_EQ(t->eos->text, "</s>");
  EXPECT_EQ(t->eos->id, 2u);
  EXPECT_TRUE(t->add_bos);
  EXPECT_NE(t->chat_template.find("<<SYS>>"), std::string::npos);
  expect_reference(*t, kFixtures / "spm/reference_ids.txt");
  EXPECT_EQ(t->token_id("</s>"), 2u);
  EXPECT_FALSE(t->token_id("no such piece"));
  // Text continuing other text gets no leading space (the model's dummy prefix).
  EXPECT_EQ(t->decode(t->encode_continuation("Yes it is")), "Yes it is");
  EXPECT_EQ(t->encode("Yes").front(), *t->token_id("\xe2\x96\x81"));  // U+2581, the space
  EXPECT_NE(t->encode_continuation("Yes").front(), *t->token_id("\xe2\x96\x81"));
  const auto llama3 = load_tokenizer_dir(kFixtures / "llama3");
  EXPECT_EQ(llama3->encode_continuation(" Yes"), llama3->encode(" Yes"));
}

TEST(Tokenizer, Llama3ByteLevelBpeMatchesIndependentIds) {
  const auto t = load_tokenizer_dir(kFixtures / "llama3");
  EXPECT_EQ(t->kind(), "byte-level BPE");
  EXPECT_EQ(t->vocab_size(), 501);
  ASSERT_TRUE(t->bos && t->eos);
  EXPECT_EQ(t->bos->text, "<|begin_of_text|>");
  EXPECT_EQ(t->bos->id, 496u);
  EXPECT_EQ(t->eos->text, "<|end_of_text|>");
  EXPECT_EQ(t->eos->id, 497u);
  EXPECT_TRUE(t->add_bos);  // the post-processor's template starts with <|begin_of_text|>
  expect_reference(*t, kFixtures / "llama3/cross_check_ids.txt");
}

TEST(Tokenizer, Gpt2ByteLevelBpeMatchesIndependentIds) {
  const auto t = load_tokenizer_dir(kFixtures / "gpt2");
  ASSERT_TRUE(t->bos && t->eos);
  EXPECT_EQ(t->eos->text, "<|endoftext|>");
  EXPECT_FALSE(t->add_bos);  // add_bos_token false in tokenizer_config.json
  expect_reference(*t, kFixtures / "gpt2/cross_check_ids.txt");
}

// The ids of the `tokenizers` package itself, where make_reference.py has written them.
TEST(Tokenizer, ByteLevelBpeMatchesTokenizersPackage) {
  int compared = 0;
  for (const char* name : {"llama3", "gpt2"}) {
    const fs::path ref = kFixtures / name / "reference_ids.txt";
    if (!fs::exists(ref)) continue;
    expect_reference(*load_tokenizer_dir(kFixtures / name), ref);
    ++compared;
  }
  if (compared == 0) {
    GTEST_SKIP() << "no reference_ids.txt from the tokenizers package yet "
                    "(tests/fixtures/tokenizer/make_reference.py writes them)";
  }
}

// Pieces that follow from Llama-3's regex by hand: each piece is merged on its own, so a text's
// ids are the ids of its pieces encoded one by one. Contractions split off ("'m", "'t", any
// case), digits go in groups of at most three, of a space run before a word the last space goes
// with the word, a line break run is its own piece; added tokens in the text become their ids.
TEST(Tokenizer, Llama3PreTokenizerPieces) {
  const auto t = load_tokenizer_dir(kFixtures / "llama3");
  const auto cat = [&](std::initializer_list<const char*> pieces) {
    std::vector<uint32_t> ids;
    for (const char* p : pieces) {
      const auto one = t->encode(p);
      ids.insert(ids.end(), one.begin(), one.end());
    }
    return ids;
  };
  EXPECT_EQ(t->encode("I'm"), cat({"I", "'m"}));
  EXPECT_EQ(t->encode("DON'T"), cat({"DON", "'T"}));
  EXPECT_EQ(t->encode("they'll go"), cat({"they", "'ll", " go"}));
  EXPECT_EQ(t->encode("1234567"), cat({"123", "456", "7"}));
  EXPECT_EQ(t->encode("a  b"), cat({"a", " ", " b"}));
  EXPECT_EQ(t->encode("x\n\n y"), cat({"x", "\n\n", " y"}));
  EXPECT_EQ(t->encode("ok!! 🙂"), cat({"ok", "!!", " 🙂"}));
  EXPECT_EQ(t->encode("<|eot_id|>"), std::vector<uint32_t>{500});
  EXPECT_EQ(t->encode("a<|eot_id|>b"),
            (std::vector<uint32_t>{*t->token_id("a"), 500, *t->token_id("b")}));
  // '!' is byte 0x21, the first symbol of the byte alphabet; '~' the 94th.
  EXPECT_EQ(t->encode("!"), std::vector<uint32_t>{0});
  EXPECT_EQ(t->encode("~"), std::vector<uint32_t>{93});
  EXPECT_EQ(t->decode({500}), "<|eot_id|>");
  EXPECT_THROW(t->encode(std::string("\xff", 1)), Error);  // not UTF-8
  EXPECT_THROW(t->decode({9999}), Error);
}

nlohmann::json small_tokenizer_json() {
  return parse_json_text(read_file(kFixtures / "gpt2/tokenizer.json"), "gpt2/tokenizer.json");
}

TEST(Tokenizer, RefusesComponentsItDoesNotImplement) {
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {[](auto& j) { j["normalizer"] = {{"type", "NFC"}}; }, "normalizer \"NFC\" is not supported"},
      {[](auto& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; },
       "pre_tokenizer \"Metaspace\" is not supported"},
      {[](auto& j) { j["model"]["type"] = "WordPiece"; }, "model \"WordPiece\" is not supported"},
      {[](auto& j) { j["model"]["byte_fallback"] = true; }, "byte_fallback"},
      {[](auto& j) { j["decoder"] = {{"type", "Metaspace"}}; }, "decoder \"Metaspace\""},
      {[](auto& j) { j["added_tokens"][0]["lstrip"] = true; }, "lstrip of <|endoftext|>"},
      {[](auto& j) {
         j["pre_tokenizer"] = {{"type", "Sequence"},
                               {"pretokenizers",
                                {{{"type", "Split"}, {"pattern", {{"Regex", "x"}}},
                                  {"behavior", "Removed"}},
                                 {{"type", "ByteLevel"}}}}};
       },
       "Split behavior \"Removed\""},
      {[](auto& j) { j["post_processor"] = {{"type", "RobertaProcessing"}}; },
       "post_processor \"RobertaProcessing\""},
      {[](auto& j) { j["model"]["merges"][0] = "x"; }, "merge 0 \"x\" is not two tokens"},
      // Wrong JSON types and sizes are one-line errors too, never a library exception.
      {[](auto& j) {
         j["pre_tokenizer"] = {{"type", "Sequence"},
                               {"pretokenizers",
                                {{{"type", "Split"}, {"pattern", {{"Regex", "x"}}}, {"behavior", 3}},
                                 {{"type", "ByteLevel"}}}}};
       },
       "behavior"},
      {[](auto& j) {
         j["post_processor"] = {{"type", "TemplateProcessing"},
                                {"single", {{{"SpecialToken", 5}}}}};
       },
       "post_processor's SpecialToken has no string \"id\""},
      {[](auto& j) { j["model"]["vocab"]["zz"] = 4000000000LL; }, "vocab[\"zz\"]"},
      {[](auto& j) { j["added_tokens"][0]["content"] = "a\nb"; j["added_tokens"][0]["rstrip"] = true; },
       "rstrip of a b"},
  };
  for (const auto& c : cases) {
    nlohmann::json j = small_tokenizer_json();
    c.edit(j);
    const std::string msg = thrown([&] { bpe_tokenizer_from_json(j, "tok.json"); });
    EXPECT_NE(msg.find("tok.json: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
  }
}

TEST(Tokenizer, DirectoryWithoutTokenizerIsRefused) {
  const fs::path dir = fs::temp_directory_path() / "sxb_tok_empty";
  fs::create_directories(dir);
  EXPECT_NE(thrown([&] { load_tokenizer_dir(dir); }).find("has neither tokenizer.model nor "
                                                         "tokenizer.json"),
            std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sxb
