// SentencePiece tokenizer (tokenizer.model of Llama-2, Mistral) through libsentencepiece.
#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "train/tokenizer.hpp"

namespace sxb {

namespace {

// Protocol buffer wire format, as much as it takes to copy a ModelProto field by field.
bool read_varint(const std::string& s, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < s.size(); shift += 7) {
    const uint8_t b = uint8_t(s[pos++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
void write_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(0x80 | (v & 0x7f)));
    v >>= 7;
  }
  out.push_back(char(v));
}

// The serialized model with normalizer_spec.add_dummy_prefix false (ModelProto field 3,
// NormalizerSpec field 3, appended: the last value of a field wins), so that text continuing
// other text is encoded without the space the model puts before a text of its own. Empty when
// the bytes are not a ModelProto.
std::string without_dummy_prefix(const std::string& model) {
  std::string out;
  size_t pos = 0;
  while (pos < model.size()) {
    const size_t start = pos;
    uint64_t tag = 0, len = 0;
    if (!read_varint(model, pos, tag)) return "";
    switch (tag & 7) {
      case 0:
        if (!read_varint(model, pos, len)) return "";
        break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2:
        if (!read_varint(model, pos, len) || len > model.size() - pos) return "";
        if ((tag >> 3) == 3) {  // normalizer_spec
          std::string spec = model.substr(pos, len);
          spec.push_back(char(3 << 3));  // field 3, varint: add_dummy_prefix
          spec.push_back(0);
          write_varint(out, tag);
          write_varint(out, spec.size());
          out += spec;
          pos += len;
          continue;
        }
        pos += len;
        break;
      default: return "";
    }
    if (pos > model.size()) return "";
    out.append(model, start, pos - start);
  }
  return out;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& file) {
    const auto status = sp_.Load(file.string());
    if (!status.ok()) {
      throw usage_error(
          fmt::format("{}: not a SentencePiece model: {}", file.string(), status.ToString()));
    }
    source = file.string();
    const std::string continuation = without_dummy_prefix(read_file(file));
    if (continuation.empty() || !sp_continuation_.LoadFromSerializedProto(continuation).ok()) {
      throw usage_error(fmt::format("{}: not a SentencePiece model (its normalizer cannot be read)",
                                    file.string()));
    }
    for (const auto& [id, slot] : {std::pair{sp_.bos_id(), &bos}, std::pair{sp_.eos_id(), &eos}}) {
      if (id >= 0) *slot = SpecialToken{sp_.IdToPiece(id), uint32_t(id)};
    }
    add_bos = bos.has_value();
  }

  std::vector<uint32_t> encode(std::string_view text) const override { return run(sp_, text); }
  std::vector<uint32_t> encode_continuation(std::string_view text) const override {
    return run(sp_continuation_, text);
  }

  std::vector<uint32_t> run(const sentencepiece::SentencePieceProcessor& sp,
                            std::string_view text) const {
    std::vector<int> ids;
    const auto status = sp.Encode(absl::string_view(text.data(), text.size()), &ids);
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
  sentencepiece::SentencePieceProcessor sp_continuation_;  // without the dummy prefix
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& model_file) {
  return std::make_unique<SentencePieceTokenizer>(model_file);
}

}  // namespace sxb
