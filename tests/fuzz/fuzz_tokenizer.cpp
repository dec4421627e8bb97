// Tokenizer input. The first byte picks what the rest is:
//   0: text for the byte-level BPE fixture (tests/fixtures/tokenizer/llama3): valid UTF-8 must
//      encode, and decode must give it back; other bytes must be refused;
//   1: a tokenizer.json: read (every unsupported component refused in one line), then used to
//      encode a fixed text;
//   2: raw SFT records (JSONL or a JSON array) packed through the fixture tokenizer.
#include <nlohmann/json.hpp>
#include <string>

#include "core/atomic_file.hpp"
#include "core/parse.hpp"
#include "fuzz_contract.hpp"
#include "train/sft_text.hpp"
#include "train/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sxb;
  static const auto fixture = load_tokenizer_dir(SXB_FUZZ_TOKENIZER_DIR);
  if (size == 0) return 0;
  const std::string text(fuzz::as_text(data + 1, size - 1));
  switch (data[0] % 3) {
    case 0: {
      std::vector<uint32_t> ids;
      const bool encoded = fuzz::parses([&] { ids = fixture->encode(text); });
      if (encoded != valid_utf8(text)) {
        fuzz::contract_broken("encode accepts exactly valid UTF-8", encoded ? "accepted" : "refused");
      }
      if (!encoded) return 0;
      std::string back;
      if (!fuzz::parses([&] { back = fixture->decode(ids); }) || back != text) {
        fuzz::contract_broken("decode(encode(text)) is not the text", "");
      }
      break;
    }
    case 1:
      fuzz::parses([&] {
        const auto t = bpe_tokenizer_from_json(parse_json_text(text, "tokenizer.json"),
                                               "tokenizer.json");
        (void)t->decode(t->encode("Hello world, I'm 12345 🙂\n\n  ok"));
      });
      break;
    default: {
      PackOptions opt;
      opt.seq_len = 2 + int64_t(size % 200);
      fuzz::parses([&] { (void)pack_text_records(text, "data.jsonl", opt, *fixture, std::nullopt); });
      break;
    }
  }
  return 0;
}
