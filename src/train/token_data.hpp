#pragma once
// Training data: packed SFT token files (written by `sxbench data pack`) and seeded synthetic
// tokens. Both yield sequences of seq_len tokens with a loss mask; a sample is one sequence.
//
// Token file layout (all integers little-endian):
//   offset  size  field
//        0     8  magic "SXBTOKEN"
//        8     4  version (1)
//       12     4  bytes per token: 2 (uint16) or 4 (uint32)
//       16     8  seq_len: tokens per packed sequence
//       24     8  num_sequences
//       32     8  num_records: JSONL records packed
//       40     8  num_target_tokens: mask entries equal to 1
//       48     8  max_token_id
//       56     8  num_truncated_records: records cut to seq_len
//       64        tokens: num_sequences x seq_len, row-major
//                 mask:   num_sequences x seq_len bytes, 1 = response token (a loss target)
// Target rule: position t of a sequence predicts token t+1 when mask[t+1] == 1, otherwise it is
// ignored; the last position never has a target. The first token of every record has mask 0.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace sxb {

inline constexpr char kTokenFileMagic[8] = {'S', 'X', 'B', 'T', 'O', 'K', 'E', 'N'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderBytes = 64;

struct PackedDataset {
  uint32_t bytes_per_token = 2;
  int64_t seq_len = 0;
  int64_t num_sequences = 0;
  int64_t num_records = 0;
  int64_t num_target_tokens = 0;
  int64_t max_token_id = 0;
  int64_t num_truncated_records = 0;
  std::vector<uint32_t> tokens;  // num_sequences x seq_len
  std::vector<uint8_t> mask;     // num_sequences x seq_len
  // Tokens of the packed records (not padding); known when packing, not stored in the file.
  int64_t num_record_tokens = 0;

  nlohmann::json summary_json() const;  // header fields, no token data
  // Record tokens over all tokens (num_sequences x seq_len): how little of the file is padding.
  double packing_efficiency() const;
};

struct PackOptions {
  int64_t seq_len = 0;
  uint32_t pad_id = 0;
  std::string dtype = "auto";  // auto (uint16 when every id fits), uint16, uint32
};

// One record's tokens and which of them are loss targets (1) or context (0).
struct TokenRecord {
  std::vector<uint32_t> tokens;
  std::vector<uint8_t> target;
};

// Packs records in order into sequences of seq_len: a record that does not fit in the current
// sequence starts the next one (the rest is padded with pad_id, mask 0); a record longer than
// seq_len is cut to seq_len and dropped when no target remains. The first token of every record
// is never a target (nothing before it in the record predicts it).
class Packer {
 public:
  explicit Packer(const PackOptions& opt);  // checks seq_len, dtype and pad id
  // Adds a record; `where` ("FILE:LINE") names it in errors.
  void add(const TokenRecord& r, const std::string& where);
  // The dataset; an error naming `source` when no record was packed.
  PackedDataset finish(const std::string& source);

 private:
  PackOptions opt_;
  PackedDataset d_;
  int64_t fill_;
};

// Packs JSONL records {"prompt": [ids], "response": [ids]} in order into sequences of seq_len:
// a record that does not fit in the current sequence starts the next one (the rest is padded
// with pad_id, mask 0); a record longer than seq_len is cut to seq_len (and dropped when no
// response token remains). Bad records: one-line sxb::Error "FILE:LINE: ...".
// One JSON record of a file, its place ("FILE:LINE") in the one-line error when it is not JSON.
nlohmann::json parse_json_record(const std::string& text, const std::string& where);
// Each non-blank line of JSONL text, parsed, with its place "SOURCE:LINE".
void for_each_jsonl_record(
    const std::string& text, const std::string& source,
    const std::function<void(const nlohmann::json& record, const std::string& where)>& fn);

PackedDataset pack_jsonl(const std::filesystem::path& in, const PackOptions& opt);
PackedDataset pack_jsonl_text(const std::string& text, const std::string& source,
                              const PackOptions& opt);

void write_token_file(const std::filesystem::path& path, const PackedDataset& d);  // atomic
// Validates magic, version, width and size; sxb::Error naming the file otherwise.
PackedDataset read_token_file(const std::filesystem::path& path);

// A source of training sequences addressed by global sequence index, so that the sequences of a
// step do not depend on how they are split over ranks and micro-batches.
class SequenceSource {
 public:
  virtual ~SequenceSource() = default;
  // Writes tokens[0..T) and targets[0..T) (-1 = not counted) of sequence `index`.
  virtual void fill(int64_t index, int32_t* tokens, int32_t* targets) const = 0;
  virtual std::string description() const = 0;
  virtual nlohmann::json to_json() const = 0;
};

// Sequences of a packed file, cycling through the file (index modulo num_sequences).
class FileSequenceSource final : public SequenceSource {
 public:
  // Throws when the file's seq_len differs from seq_len or a token id is >= vocab_size.
  FileSequenceSource(PackedDataset d, std::string path, int64_t seq_len, int64_t vocab_size);
  void fill(int64_t index, int32_t* tokens, int32_t* targets) const override;
  std::string description() const override;
  nlohmann::json to_json() const override;

 private:
  PackedDataset d_;
  std::string path_;
};

// Seeded synthetic sequences: an order-1 Markov chain in which each token has 4 possible
// successors (chosen from the seed), so the loss can fall from ln(V) towards ln(4). Every
// position but the last is a target.
class SyntheticSequenceSource final : public SequenceSource {
 public:
  static constexpr int kSuccessors = 4;
  SyntheticSequenceSource(uint64_t seed, int64_t seq_len, int64_t vocab_size);
  void fill(int64_t index, int32_t* tokens, int32_t* targets) const override;
  std::string description() const override;
  nlohmann::json to_json() const override;

 private:
  uint64_t seed_;
  int64_t seq_len_, vocab_;
  std::vector<int32_t> successors_;  // vocab x kSuccessors
};

}  // namespace sxb
