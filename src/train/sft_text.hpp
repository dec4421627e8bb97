#pragma once
// Raw SFT data -> token records for `sxbench data pack --tokenizer`: JSONL with one record per
// line, or a JSON array of records (Alpaca's files). Record forms:
//   {"prompt": "text", "response": "text"}
//   {"messages": [{"role": "system|user|assistant|...", "content": "text"}, ...]}
//   {"instruction": "text", "input": "text" (optional), "output": "text"}   (Alpaca)
// prompt/response and Alpaca records become bos (when the family adds one) + prompt + response +
// eos, the response and eos the loss targets; an Alpaca record's prompt is Stanford Alpaca's
// template. messages records are rendered by the chat template (chat_template.hpp); the
// assistant turns are the targets. A bad record is one sxb::Error "FILE:LINE: reason" (a JSON
// array's records are "FILE:LINE: record N", LINE where the record starts).
#include <optional>
#include <string>

#include "train/chat_template.hpp"
#include "train/token_data.hpp"

namespace sxb {

class Tokenizer;

// Alpaca's prompt for an instruction and an optional input (empty: none).
std::string alpaca_prompt(const std::string& instruction, const std::string& input);

struct TextPackStats {
  int64_t prompt_response = 0, messages = 0, alpaca = 0;  // records of each form read
  std::optional<ChatFamily> chat_family;  // the template messages records were rendered with
  std::string chat_family_source;         // "--chat-template" or the tokenizer_config.json
};

// Packs the records of `text` (the contents of `source`). `chat_template`: the family named on
// the command line; none: the tokenizer's chat_template, when a messages record needs one.
PackedDataset pack_text_records(const std::string& text, const std::string& source,
                                const PackOptions& opt, const Tokenizer& tok,
                                std::optional<ChatFamily> chat_template,
                                TextPackStats* stats = nullptr);

}  // namespace sxb
