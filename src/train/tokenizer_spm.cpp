// SentencePiece tokenizer (tokenizer.model of Llama-2, Mistral) through libsentencepiece.
#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include "core/error.hpp"
#include "train/tokenizer.hpp"

namespace sxb {

namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& file) {
    const auto status = sp_.Load(file.string());
    if (!status.ok()) {
      throw usage_error(
          fmt::format("{}: not a SentencePiece model: {}", file.string(), status.ToString()));
    }
    source = file.string();
    for (const auto& [id, slot] : {std::pair{sp_.bos_id(), &bos}, std::pair{sp_.eos_id(), &eos}}) {
      if (id >= 0) *slot = SpecialToken{sp_.IdToPiece(id), uint32_t(id)};
    }
    add_bos = bos.has_value();
  }

  std::vector<uint32_t> encode(std::string_view text) const override {
    std::vector<int> ids;
    const auto status = sp_.Encode(absl::string_view(text.data(), text.size()), &ids);
    if (!status.ok()) {
      throw usage_error(fmt::format("{}: cannot encode text: {}", source, status.ToString()));
    }
    return {ids.begin(), ids.end()};
  }

  std::string decode(const std::vector<uint32_t>& ids) const override {
    std::vector<int> in;
    in.reserve(ids.size());
    for (uint32_t id : ids) {
      if (int64_t(id) >= vocab_size()) {
        throw usage_error(fmt::format("{}: token id {} is outside the vocabulary of {}", source, id,
                                      vocab_size()));
      }
      in.push_back(int(id));
    }
    std::string text;
    const auto status = sp_.Decode(in, &text);
    if (!status.ok()) {
      throw usage_error(fmt::format("{}: cannot decode ids: {}", source, status.ToString()));
    }
    return text;
  }

  std::optional<uint32_t> token_id(std::string_view token) const override {
    const int id = sp_.PieceToId(absl::string_view(token.data(), token.size()));
    // PieceToId answers unk for a piece it does not know.
    if (id < 0 || (sp_.IsUnknown(id) && sp_.IdToPiece(id) != token)) return std::nullopt;
    return uint32_t(id);
  }

  int64_t vocab_size() const override { return sp_.GetPieceSize(); }
  std::string kind() const override { return "sentencepiece"; }

 private:
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& model_file) {
  return std::make_unique<SentencePieceTokenizer>(model_file);
}

}  // namespace sxb
