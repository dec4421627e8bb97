// `data pack` input: JSONL of {"prompt": [ids], "response": [ids]} -> pack_jsonl_text. A packed
// dataset must survive write_token_file / read_token_file unchanged. The packing options vary
// with the input's length so that every sequence length and token width is reached.
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "fuzz_contract.hpp"
#include "train/token_data.hpp"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sxb;
  static const fs::path token_file =
      fs::temp_directory_path() / ("sxb_fuzz_jsonl_" + std::to_string(::getpid()) + ".tok");
  const char* const dtypes[] = {"auto", "uint16", "uint32"};
  PackOptions opt;
  opt.seq_len = 2 + static_cast<int64_t>(size % 61);
  opt.pad_id = static_cast<uint32_t>(size % 5 == 0 ? 65535 : 0);
  opt.dtype = dtypes[size % 3];
  PackedDataset d;
  if (!fuzz::parses([&] {
        d = pack_jsonl_text(std::string(fuzz::as_text(data, size)), "data.jsonl", opt);
      })) {
    return 0;
  }
  fuzz::parses([&] { (void)d.summary_json().dump(); });
  if (d.tokens.size() > (1u << 16)) return 0;
  // What pack wrote, data info and train --data must read back (the only error allowed is the
  // write itself failing).
  if (!fuzz::parses([&] { write_token_file(token_file, d); })) return 0;
  PackedDataset back;
  std::string read_error;
  try {
    back = read_token_file(token_file);
  } catch (const std::exception& e) {
    read_error = e.what();
  }
  std::error_code ec;
  fs::remove(token_file, ec);
  if (!read_error.empty()) fuzz::contract_broken("packed file rejected on reading", read_error);
  if ((back.tokens != d.tokens || back.mask != d.mask || back.seq_len != d.seq_len ||
                  back.num_sequences != d.num_sequences)) {
    fuzz::contract_broken("token file round trip changed the data", "");
  }
  return 0;
}
