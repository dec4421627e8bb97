#include "train/sft_text.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "train/token_data.hpp"
#include "train/tokenizer.hpp"

namespace sxb {

namespace {

std::string text_field(const nlohmann::json& j, const char* key, const std::string& where,
                       bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) throw usage_error(fmt::format("{}: missing \"{}\"", where, key));
    return "";
  }
  if (j[key].is_array()) {
    throw usage_error(fmt::format("{}: \"{}\" holds token ids; pack pre-tokenised records "
                                  "without --tokenizer",
                                  where, key));
  }
  if (!j[key].is_string()) throw usage_error(fmt::format("{}: \"{}\" must be a string", where, key));
  return j[key].get<std::string>();
}

class RecordReader {
 public:
  RecordReader(const PackOptions& opt, const Tokenizer& tok, std::optional<ChatFamily> family,
               TextPackStats& stats)
      : packer_(opt), tok_(tok), stats_(stats) {
    if (family) {
      stats_.chat_family = family;
      stats_.chat_family_source = "--chat-template";
    }
  }

  void read(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) throw usage_error(fmt::format("{}: record is not a JSON object", where));
    TokenRecord r;
    if (j.contains("messages")) {
      messages(j["messages"], where, r);
      ++stats_.messages;
    } else if (j.contains("instruction") || j.contains("output")) {
      const std::string instruction = text_field(j, "instruction", where, true);
      const std::string input = text_field(j, "input", where, false);
      const std::string output = text_field(j, "output", where, true);
      prompt_response(alpaca_prompt(instruction, input), output, "output", where, r);
      ++stats_.alpaca;
    } else if (j.contains("prompt") || j.contains("response")) {
      const std::string prompt = text_field(j, "prompt", where, true);
      const std::string response = text_field(j, "response", where, true);
      prompt_response(prompt, response, "response", where, r);
      ++stats_.prompt_response;
    } else {
      throw usage_error(fmt::format("{}: record has none of \"messages\", \"prompt\"/\"response\", "
                                    "\"instruction\"/\"output\"",
                                    where));
    }
    packer_.add(r, where);
  }

  PackedDataset finish(const std::string& source) { return packer_.finish(source); }

 private:
  void append(TokenRecord& r, const std::vector<uint32_t>& ids, bool target) {
    r.tokens.insert(r.tokens.end(), ids.begin(), ids.end());
    r.target.resize(r.tokens.size(), target ? 1 : 0);
  }

  uint32_t eos(const std::string& where) const {
    if (!tok_.eos) {
      throw usage_error(fmt::format("{}: the tokenizer {} names no eos token to end the response",
                                    where, tok_.source));
    }
    return tok_.eos->id;
  }

  void prompt_response(const std::string& prompt, const std::string& response, const char* key,
                       const std::string& where, TokenRecord& r) {
    if (response.empty()) throw usage_error(fmt::format("{}: \"{}\" is empty", where, key));
    if (tok_.add_bos) append(r, {tok_.bos->id}, false);
    append(r, tok_.encode(prompt), false);
    append(r, tok_.encode(response), true);
    append(r, {eos(where)}, true);
  }

  void messages(const nlohmann::json& a, const std::string& where, TokenRecord& r) {
    if (!a.is_array() || a.empty()) {
      throw usage_error(fmt::format("{}: \"messages\" must be a non-empty array", where));
    }
    std::vector<ChatMessage> m;
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string w = fmt::format("{}: messages[{}]", where, i);
      if (!a[i].is_object()) throw usage_error(fmt::format("{}: not an object", w));
      ChatMessage msg;
      msg.role = text_field(a[i], "role", w, true);
      msg.content = text_field(a[i], "content", w, true);
      m.push_back(std::move(msg));
    }
    if (!stats_.chat_family) {
      if (tok_.chat_template.empty()) {
        throw usage_error(fmt::format("{}: a messages record needs a chat template and the "
                                      "tokenizer has none (no chat_template in "
                                      "tokenizer_config.json); name one with --chat-template",
                                      where));
      }
      stats_.chat_family = chat_family_of_template(tok_.chat_template, tok_.chat_template_source);
      stats_.chat_family_source = tok_.chat_template_source;
    }
    for (const ChatSegment& s : render_chat(*stats_.chat_family, m, tok_, where)) {
      append(r,
             s.token          ? std::vector<uint32_t>{*s.token}
             : s.continuation ? tok_.encode_continuation(s.text)
                              : tok_.encode(s.text),
             s.target);
    }
  }

  Packer packer_;
  const Tokenizer& tok_;
  TextPackStats& stats_;
};

// The line on which each element of a top-level JSON array starts (1-based), for messages that
// name a record's place as FILE:LINE. Only called once the text parsed as an array.
std::vector<int64_t> element_lines(const std::string& text) {
  std::vector<int64_t> lines;
  int64_t line = 1;
  int depth = 0;
  bool in_string = false, escaped = false, expect_value = false;
  for (char c : text) {
    if (c == '\n') ++line;
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (depth == 1 && expect_value && c != ']') {
      lines.push_back(line);
      expect_value = false;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth == 1) expect_value = true;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expect_value = true;
    }
  }
  return lines;
}

}  // namespace

std::string alpaca_prompt(const std::string& instruction, const std::string& input) {
  if (input.empty()) {
    return fmt::format(
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n{}\n\n### Response:\n",
        instruction);
  }
  return fmt::format(
      "Below is an instruction that describes a task, paired with an input that provides further "
      "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
      "{}\n\n### Input:\n{}\n\n### Response:\n",
      instruction, input);
}

PackedDataset pack_text_records(const std::string& text, const std::string& source,
                                const PackOptions& opt, const Tokenizer& tok,
                                std::optional<ChatFamily> chat_template, TextPackStats* stats) {
  TextPackStats local;
  TextPackStats& st = stats ? *stats : local;
  RecordReader reader(opt, tok, chat_template, st);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {  // a JSON array of records
    const nlohmann::json a = parse_json_record(text, source);
    const std::vector<int64_t> lines = element_lines(text);
    for (size_t i = 0; i < a.size(); ++i) {
      reader.read(a[i], i < lines.size() ? fmt::format("{}:{}: record {}", source, lines[i], i)
                                         : fmt::format("{}: record {}", source, i));
    }
    return reader.finish(source);
  }
  for_each_jsonl_record(text, source, [&](const nlohmann::json& record, const std::string& where) {
    reader.read(record, where);
  });
  return reader.finish(source);
}

}  // namespace sxb
