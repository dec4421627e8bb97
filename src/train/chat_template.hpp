#pragma once
// Chat templates for instruction data: a conversation [{role, content}, ...] rendered as the
// model family's chat template renders it, as a list of segments (text to encode, or a special
// token by id) each marked as a loss target or not. Targets: the assistant's content and the
// token that ends its turn; everything else (system, user, role headers, bos) is prompt.
//
// Families (what Hugging Face's chat_template of each renders):
//   llama2   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
//   llama3   <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>...
//   mistral  <s>[INST] {user} [/INST]{assistant}</s>[INST] {user} [/INST]... (no system role;
//            the assistant's text continues "[/INST]" without a space)
//   plain    bos (when the tokenizer adds one), then each message's content: non-assistant ones
//            followed by "\n", assistant ones followed by eos; no role markers. Named only
//            explicitly (--chat-template plain), never chosen for a template it does not know.
// Each segment is encoded on its own, so no token spans a prompt/response boundary; with
// SentencePiece each gets the model's leading space (dummy prefix), as transformers' legacy Llama
// tokenizer gives each text between special tokens, except a continuation.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sxb {

class Tokenizer;

enum class ChatFamily { llama2, llama3, mistral, plain };

struct ChatMessage {
  std::string role, content;
};

struct ChatSegment {
  std::string text;               // encoded with the tokenizer when `token` is empty
  std::optional<uint32_t> token;  // a special token
  bool target = false;
  bool continuation = false;  // text that continues the previous text (encode_continuation)
};

std::string chat_family_name(ChatFamily f);
std::vector<std::string> chat_family_names();
// "llama2", "llama3", "mistral", "plain"; anything else is a usage error naming it.
ChatFamily chat_family_from_name(const std::string& name);
// The family of a Jinja chat_template (tokenizer_config.json's) by the markers only its family's
// templates write: llama3 (header and eot tokens, without Llama-3.1's dated system header),
// llama2 ([INST] and <<SYS>>), mistral (Mistral-7B-Instruct v0.1/v0.2's '[INST] ' + content +
// ' [/INST]', no system handling). Any other template is refused, naming `source` and its
// opening, rather than rendered approximately.
ChatFamily chat_family_of_template(const std::string& jinja, const std::string& source);

// Segments of a conversation. Checks the roles the family allows (llama2 and mistral: user and
// assistant alternating from user, llama2 also a leading system message) and that at least one
// assistant message is there; errors start with `where`.
std::vector<ChatSegment> render_chat(ChatFamily f, const std::vector<ChatMessage>& messages,
                                     const Tokenizer& tok, const std::string& where);

}  // namespace sxb
