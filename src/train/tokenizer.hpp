#pragma once
// Tokenizers of a model directory, behind one interface: text -> token ids -> text, the special
// tokens bos/eos and the vocabulary size.
//  - SentencePiece (tokenizer.model; Llama-2, Mistral) through libsentencepiece;
//  - byte-level BPE (tokenizer.json; Llama-3 with its Split regex, GPT-2 with the ByteLevel
//    pre-tokenizer), written here, its pre-tokenizer regex run by PCRE2 (UTF, Unicode properties).
// A component of tokenizer.json that is not implemented (normalizer, pre-tokenizer, model,
// decoder, an added token's options) is refused in one line naming the file and the component:
// a file is never tokenized differently from its definition.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sxb {
namespace hub {
struct HubSettings;
}

struct SpecialToken {
  std::string text;
  uint32_t id = 0;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text` (UTF-8), without bos/eos. Byte-level BPE recognises the added tokens
  // written in the text (as Hugging Face's encode(text, add_special_tokens=False) does);
  // SentencePiece encodes text as text (as spm_encode does).
  virtual std::vector<uint32_t> encode(std::string_view text) const = 0;
  // Ids of text that continues other text without a break: SentencePiece without the space
  // (dummy prefix) it puts before a text of its own; the same as encode() for byte-level BPE.
  virtual std::vector<uint32_t> encode_continuation(std::string_view text) const {
    return encode(text);
  }
  // Text of `ids`: byte-level BPE writes special tokens as their text, SentencePiece drops
  // control tokens (as spm_decode does).
  virtual std::string decode(const std::vector<uint32_t>& ids) const = 0;
  // The id of a token given by its text (a special token such as "<|eot_id|>"); none if absent.
  virtual std::optional<uint32_t> token_id(std::string_view token) const = 0;
  virtual int64_t vocab_size() const = 0;  // largest id + 1
  virtual std::string kind() const = 0;    // "sentencepiece" or "byte-level BPE"

  std::optional<SpecialToken> bos, eos;
  bool add_bos = false;  // the family puts bos before every sequence it encodes
  std::string source;    // the file it was read from
  std::string chat_template;         // tokenizer_config.json's chat_template (Jinja); "" if none
  std::string chat_template_source;  // the file it came from
};

// The files of a tokenizer: the directory, the tokenizer file chosen (tokenizer.model first,
// else tokenizer.json) and tokenizer_config.json when there is one (parsed; null otherwise).
struct TokenizerFiles {
  std::filesystem::path dir;
  std::filesystem::path tokenizer_file;
  std::filesystem::path config_file;  // empty: none
  std::string name;                   // what the user gave (directory or hub id)
};

// A directory holding tokenizer.model or tokenizer.json; else, for a hub id org/name, those
// files from the hub cache or downloaded into it (hub/hub_download.hpp): tokenizer_config.json,
// then tokenizer.model, or tokenizer.json when the repository has no tokenizer.model.
TokenizerFiles find_tokenizer_files(const std::string& name, const hub::HubSettings& hub);

// The tokenizer of the files; bos/eos and add_bos from the tokenizer file and
// tokenizer_config.json (bos_token, eos_token, add_bos_token).
std::unique_ptr<Tokenizer> load_tokenizer(const TokenizerFiles& files);
// A directory's tokenizer without the hub.
std::unique_ptr<Tokenizer> load_tokenizer_dir(const std::filesystem::path& dir);

// Implementations (tokenizer_spm.cpp, tokenizer_bpe.cpp).
std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& model_file);
std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::filesystem::path& json_file);
std::unique_ptr<Tokenizer> bpe_tokenizer_from_json(const nlohmann::json& j,
                                                   const std::string& source);

}  // namespace sxb
