// Raw SFT records through the fixture tokenizers: chat templates, Alpaca, prompt/response, the
// loss mask and bad records.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <sstream>

#include "core/atomic_file.hpp"

#include "core/error.hpp"
#include "train/chat_template.hpp"
#include "train/sft_text.hpp"
#include "train/tokenizer.hpp"
#include "thrown.hpp"

namespace sxb {
namespace {
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(SXB_TEST_SOURCE_DIR) / "tests/fixtures/tokenizer";

PackOptions opts(int64_t T) {
  PackOptions o;
  o.seq_len = T;
  o.pad_id = 0;
  return o;
}

// Expected record: tokens and targets built piece by piece.
struct Expect {
  const Tokenizer& t;
  std::vector<uint32_t> tokens;
  std::vector<uint8_t> mask;
  Expect& text(const std::string& s, bool target) {
    for (uint32_t id : t.encode(s)) add(id, target);
    return *this;
  }
  Expect& cont(const std::string& s, bool target) {
    for (uint32_t id : t.encode_continuation(s)) add(id, target);
    return *this;
  }
  Expect& add(uint32_t id, bool target) {
    tokens.push_back(id);
    mask.push_back(target && !tokens.empty() && tokens.size() > 1 ? 1 : 0);
    return *this;
  }
};

// The first record of a one-sequence pack.
void expect_record(const PackedDataset& d, const Expect& e) {
  ASSERT_GE(int64_t(d.tokens.size()), int64_t(e.tokens.size()));
  EXPECT_EQ(std::vector<uint32_t>(d.tokens.begin(), d.tokens.begin() + e.tokens.size()), e.tokens);
  EXPECT_EQ(std::vector<uint8_t>(d.mask.begin(), d.mask.begin() + e.mask.size()), e.mask);
  EXPECT_EQ(d.num_record_tokens, int64_t(e.tokens.size()));
}

TEST(SftText, Llama3MessagesFromTheTokenizersTemplate) {
  const auto t = load_tokenizer_dir(kFixtures / "llama3");
  const std::string rec =
      R"({"messages": [{"role": "system", "content": "Be brief."},)"
      R"( {"role": "user", "content": "What is 2+2?"},)"
      R"( {"role": "assistant", "content": " 4 \n"}]})";
  TextPackStats st;
  const auto d = pack_text_records(rec + "\n", "c.jsonl", opts(128), *t, std::nullopt, &st);
  ASSERT_TRUE(st.chat_family);
  EXPECT_EQ(*st.chat_family, ChatFamily::llama3);
  EXPECT_EQ(st.messages, 1);
  const uint32_t start = 498, end = 499, eot = 500;
  Expect e{*t};
  e.add(496, false);
  e.add(start, false).text("system", false).add(end, false).text("\n\n", false);
  e.text("Be brief.", false).add(eot, false);
  e.add(start, false).text("user", false).add(end, false).text("\n\n", false);
  e.text("What is 2+2?", false).add(eot, false);
  e.add(start, false).text("assistant", false).add(end, false).text("\n\n", false);
  e.text("4", true).add(eot, true);  // content trimmed, as the template's | trim
  expect_record(d, e);
  EXPECT_EQ(d.num_target_tokens, int64_t(t->encode("4").size()) + 1);
}

// The conversations of chat.jsonl against the ids of the fixture's template rendered by jinja2
// as transformers' apply_chat_template renders it, then encoded whole (llama3) or cut at <s> and
// </s> with each piece encoded by the SentencePiece model (spm: Llama-2-chat, as transformers'
// legacy Llama tokenizer and Meta's reference code do): by the independent Python
// implementation and the sentencepiece module (chat_cross_check_ids.txt), and by the tokenizers
// package where make_reference.py has run (llama3/chat_reference_ids.txt).
void expect_chat_matches_rendered_template(const std::string& dir,
                                           std::optional<ChatFamily> family = std::nullopt,
                                           std::vector<std::string> files = {
                                               "chat_cross_check_ids.txt",
                                               "chat_reference_ids.txt"}) {
  const auto t = load_tokenizer_dir(kFixtures / dir);
  std::istringstream chats(read_file(kFixtures / "chat.jsonl"));
  std::vector<std::vector<uint32_t>> ours;
  for (std::string line; std::getline(chats, line);) {
    // Mistral's template has no system role: its ids cover the other conversations.
    if (family == ChatFamily::mistral && line.find("\"system\"") != std::string::npos) continue;
    const auto d = pack_text_records(line, "chat.jsonl", opts(1024), *t, family);
    ours.emplace_back(d.tokens.begin(), d.tokens.begin() + d.num_record_tokens);
  }
  ASSERT_GE(ours.size(), 2u);
  int compared = 0;
  for (const std::string& file : files) {
    const fs::path p = kFixtures / dir / file;
    if (!fs::exists(p)) continue;
    ++compared;
    std::istringstream ref(read_file(p));
    size_t i = 0;
    for (std::string line; std::getline(ref, line); ++i) {
      std::istringstream in(line);
      std::vector<uint32_t> ids;
      for (uint32_t id; in >> id;) ids.push_back(id);
      ASSERT_LT(i, ours.size()) << p;
      EXPECT_EQ(ours[i], ids) << p << " conversation " << i + 1;
    }
    EXPECT_EQ(i, ours.size()) << p;
  }
  EXPECT_GE(compared, 1) << dir << " has no chat_cross_check_ids.txt";
}

TEST(SftText, Llama3MessagesMatchTheJinjaRenderedTemplate) {
  expect_chat_matches_rendered_template("llama3");
}

TEST(SftText, Llama2MessagesMatchTheJinjaRenderedTemplate) {
  expect_chat_matches_rendered_template("spm");
}

// Mistral-7B-Instruct-v0.1's template: the assistant's text follows "[/INST]" with no space.
TEST(SftText, MistralMessagesMatchTheJinjaRenderedTemplate) {
  expect_chat_matches_rendered_template("spm", ChatFamily::mistral,
                                        {"chat_mistral_cross_check_ids.txt"});
}

TEST(SftText, Llama2MessagesWithSystemPrompt) {
  const auto t = load_tokenizer_dir(kFixtures / "spm");
  const std::string rec =
      R"({"messages": [{"role": "system", "content": "You help."},)"
      R"( {"role": "user", "content": "Hi there "}, {"role": "assistant", "content": "Hello."},)"
      R"( {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"}]})";
  TextPackStats st;
  const auto d = pack_text_records(rec, "c.jsonl", opts(256), *t, std::nullopt, &st);
  EXPECT_EQ(*st.chat_family, ChatFamily::llama2);
  Expect e{*t};
  e.add(1, false).text("[INST] <<SYS>>\nYou help.\n<</SYS>>\n\nHi there [/INST]", false);
  e.text("Hello. ", true).add(2, true);
  e.add(1, false).text("[INST] Bye [/INST]", false);
  e.text("Bye! ", true).add(2, true);
  expect_record(d, e);
}

TEST(SftText, MistralTemplateByFlag) {
  const auto t = load_tokenizer_dir(kFixtures / "spm");
  const std::string rec =
      R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]})";
  TextPackStats st;
  const auto d = pack_text_records(rec, "c.jsonl", opts(64), *t, ChatFamily::mistral, &st);
  EXPECT_EQ(st.chat_family_source, "--chat-template");
  Expect e{*t};
  e.add(1, false).text("[INST] Hi [/INST]", false).cont("Yo", true).add(2, true);
  expect_record(d, e);
  const std::string sys =
      R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"},)"
      R"( {"role": "assistant", "content": "Yo"}]})";
  EXPECT_NE(thrown([&] { pack_text_records(sys, "c.jsonl", opts(64), *t, ChatFamily::mistral); })
                .find("c.jsonl:1: the mistral chat template needs user and assistant messages "
                      "alternating from user; message 0 is \"system\""),
            std::string::npos);
}

TEST(SftText, PlainTemplateOnlyWhenNamed) {
  const auto t = load_tokenizer_dir(kFixtures / "gpt2");  // no chat_template
  const std::string rec =
      R"({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]})";
  EXPECT_NE(thrown([&] { pack_text_records(rec, "c.jsonl", opts(64), *t, std::nullopt); })
                .find("c.jsonl:1: a messages record needs a chat template"),
            std::string::npos);
  const auto d = pack_text_records(rec, "c.jsonl", opts(64), *t, ChatFamily::plain);
  Expect e{*t};
  e.text("Q\n", false).text("A", true).add(*t->token_id("<|endoftext|>"), true);
  expect_record(d, e);
}

TEST(SftText, UnknownChatTemplateIsRefusedNamingIt) {
  const std::string msg = thrown(
      [] { chat_family_of_template("{% for m in messages %}<|im_start|>{{ m.role }}", "tc.json"); });
  EXPECT_NE(msg.find("tc.json: chat_template \"{% for m in messages %}<|im_start|>"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("--chat-template"), std::string::npos);
  EXPECT_THROW(chat_family_from_name("chatml"), Error);
}

TEST(SftText, ChatTemplateFamiliesAndNearMisses) {
  const std::string llama3 =
      "{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + "
      "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}"
      "{% endfor %}";
  EXPECT_EQ(chat_family_of_template(llama3, "t"), ChatFamily::llama3);
  const std::string mistral =
      "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
      "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' "
      "%}{{ message['content'] + eos_token}}{% endif %}{% endfor %}";
  EXPECT_EQ(chat_family_of_template(mistral, "t"), ChatFamily::mistral);
  // Llama-3.1's dated system header and a Mistral template with system handling are refused.
  EXPECT_NE(thrown([&] {
              chat_family_of_template("{{- \"Cutting Knowledge Date: December 2023\\n\" }}" +
                                          llama3,
                                      "t");
            }).find("is Llama-3.1's or later"),
            std::string::npos);
  EXPECT_NE(thrown([&] {
              chat_family_of_template("{%- if messages[0]['role'] == 'system' %}" + mistral, "t");
            }).find("Mistral-style template other than"),
            std::string::npos);
  // The fixtures' templates (Llama-2-chat's and Llama-3-Instruct's).
  EXPECT_EQ(chat_family_of_template(load_tokenizer_dir(kFixtures / "spm")->chat_template, "t"),
            ChatFamily::llama2);
  EXPECT_EQ(chat_family_of_template(load_tokenizer_dir(kFixtures / "llama3")->chat_template, "t"),
            ChatFamily::llama3);
}

TEST(SftText, PromptResponseAndAlpacaRecords) {
  const auto t = load_tokenizer_dir(kFixtures / "llama3");
  const std::string jsonl =
      R"({"prompt": "Say hi.", "response": " hi"})"
      "\n\n"
      R"({"instruction": "Add.", "input": "2 and 3", "output": "5"})"
      "\n"
      R"({"instruction": "Greet.", "output": "Hello"})"
      "\n";
  TextPackStats st;
  const auto d = pack_text_records(jsonl, "r.jsonl", opts(512), *t, std::nullopt, &st);
  EXPECT_EQ(st.prompt_response, 1);
  EXPECT_EQ(st.alpaca, 2);
  EXPECT_EQ(d.num_records, 3);
  EXPECT_EQ(d.num_sequences, 1);
  Expect e{*t};
  e.add(496, false).text("Say hi.", false).text(" hi", true).add(497, true);
  e.add(496, false).text(alpaca_prompt("Add.", "2 and 3"), false).text("5", true).add(497, true);
  e.add(496, false).text(alpaca_prompt("Greet.", ""), false).text("Hello", true).add(497, true);
  // A record's first token is never a target; here each starts with bos anyway.
  expect_record(d, e);
  EXPECT_NE(alpaca_prompt("Add.", "2 and 3").find("### Input:\n2 and 3\n\n### Response:\n"),
            std::string::npos);
  EXPECT_EQ(alpaca_prompt("Greet.", "").find("### Input"), std::string::npos);
  EXPECT_DOUBLE_EQ(d.packing_efficiency(), double(e.tokens.size()) / 512.0);
}

TEST(SftText, AlpacaJsonArray) {
  const auto t = load_tokenizer_dir(kFixtures / "spm");
  const std::string json =
      R"([{"instruction": "Name a colour.", "input": "", "output": "Blue."},)"
      "\n"
      R"( {"instruction": "Count.", "input": "1 2", "output": "3"}])";
  TextPackStats st;
  const auto d = pack_text_records(json, "a.json", opts(512), *t, std::nullopt, &st);
  EXPECT_EQ(st.alpaca, 2);
  Expect e{*t};
  e.add(1, false).text(alpaca_prompt("Name a colour.", ""), false).text("Blue.", true).add(2, true);
  e.add(1, false).text(alpaca_prompt("Count.", "1 2"), false).text("3", true).add(2, true);
  expect_record(d, e);
  EXPECT_NE(thrown([&] {
              pack_text_records(R"([{"instruction": "x"}])", "a.json", opts(64), *t, std::nullopt);
            }).find("a.json:1: record 0: missing \"output\""),
            std::string::npos);
}

TEST(SftText, BadRecordsNameFileAndLine) {
  const auto t = load_tokenizer_dir(kFixtures / "llama3");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"prompt\": \"a\", \"response\": \"b\"}\nnot json\n", "f.jsonl:2: not valid JSON"},
      {"{\"prompt\": [1, 2], \"response\": [3]}\n",
       "f.jsonl:1: \"prompt\" holds token ids; pack pre-tokenised records without --tokenizer"},
      {"{\"prompt\": \"a\", \"response\": \"\"}\n", "f.jsonl:1: \"response\" is empty"},
      {"{\"prompt\": \"a\"}\n", "f.jsonl:1: missing \"response\""},
      {"{\"text\": \"a\"}\n", "f.jsonl:1: record has none of"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n",
       "f.jsonl:1: no assistant message"},
      {"{\"messages\": []}\n", "f.jsonl:1: \"messages\" must be a non-empty array"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": 3}]}\n",
       "f.jsonl:1: messages[0]: \"content\" must be a string"},
      {"\"text\"\n", "f.jsonl:1: record is not a JSON object"},
      {"[1, 2]\n", "f.jsonl:1: record 0: record is not a JSON object"},
      {"[{\"prompt\": \"a,[\\\"\", \"response\": \"b\"},\n\n  {\"x\": 1}]",
       "f.jsonl:3: record 1: record has none of"},
  };
  for (const auto& c : cases) {
    const std::string& text = c.first;  // a named copy: lambdas do not capture bindings in C++17
    const std::string msg =
        thrown([&] { pack_text_records(text, "f.jsonl", opts(64), *t, std::nullopt); });
    EXPECT_NE(msg.find(c.second), std::string::npos) << msg;
  }
}

TEST(SftText, LongRecordsAreCutAndDroppedWithoutTargets) {
  const auto t = load_tokenizer_dir(kFixtures / "llama3");
  const std::string long_prompt(200, 'x');
  const std::string jsonl = R"({"prompt": ")" + long_prompt + R"(", "response": "y"})" + "\n" +
                            R"({"prompt": "a", "response": "b"})" + "\n";
  const auto d = pack_text_records(jsonl, "f.jsonl", opts(8), *t, std::nullopt);
  EXPECT_EQ(d.num_truncated_records, 1);
  EXPECT_EQ(d.num_records, 1);
}

}  // namespace
}  // namespace sxb
