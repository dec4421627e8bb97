#include "train/token_data.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "train/random.hpp"

namespace sxb {

double PackedDataset::packing_efficiency() const {
  const int64_t total = num_sequences * seq_len;
  return total > 0 ? double(num_record_tokens) / double(total) : 0.0;
}

nlohmann::json PackedDataset::summary_json() const {
  return {{"format_version", kTokenFileVersion},
          {"dtype", bytes_per_token == 2 ? "uint16" : "uint32"},
          {"seq_len", seq_len},
          {"num_sequences", num_sequences},
          {"num_records", num_records},
          {"num_target_tokens", num_target_tokens},
          {"max_token_id", max_token_id},
          {"num_truncated_records", num_truncated_records}};
}

namespace {

struct Record {
  std::vector<uint32_t> prompt, response;
};

std::vector<uint32_t> id_list(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw usage_error(fmt::format("{}: missing \"{}\"", where, key));
  const auto& a = j[key];
  if (!a.is_array()) {
    throw usage_error(fmt::format("{}: \"{}\" must be an array of token ids", where, key));
  }
  std::vector<uint32_t> ids;
  ids.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ids.push_back(static_cast<uint32_t>(
        json_int(a[i], fmt::format("{}: token id \"{}\"[{}]", where, key, i), 0, UINT32_MAX)));
  }
  return ids;
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
uint64_t get_le(const std::string& s, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | uint8_t(s[off + i]);
  return v;
}

}  // namespace

Packer::Packer(const PackOptions& opt) : opt_(opt), fill_(opt.seq_len) {
  if (opt.seq_len < 2)
    throw usage_error(fmt::format("sequence length {} must be at least 2", opt.seq_len));
  if (opt.dtype != "auto" && opt.dtype != "uint16" && opt.dtype != "uint32") {
    throw usage_error(
        fmt::format("token dtype \"{}\" is not one of auto, uint16, uint32", opt.dtype));
  }
  if (opt.dtype == "uint16" && opt.pad_id > 0xffff) {
    throw usage_error(fmt::format("pad id {} does not fit uint16 (0..65535); use --dtype uint32 "
                                  "or auto",
                                  opt.pad_id));
  }
  d_.seq_len = opt.seq_len;
}

void Packer::add(const TokenRecord& r, const std::string& where) {
  const int64_t T = opt_.seq_len;
  if (r.target.size() != r.tokens.size()) {
    throw runtime_error(fmt::format("{}: record has {} tokens and {} mask entries", where,
                                    r.tokens.size(), r.target.size()));
  }
  if (opt_.dtype == "uint16") {
    for (uint32_t id : r.tokens) {
      if (id > 0xffff) throw usage_error(fmt::format("{}: token id {} does not fit uint16", where, id));
    }
  }
  int64_t len = int64_t(r.tokens.size());
  if (len > T) {
    ++d_.num_truncated_records;
    len = T;
  }
  int64_t targets = 0;
  for (int64_t i = 1; i < len; ++i) targets += r.target[i] ? 1 : 0;
  if (targets == 0) return;  // nothing to learn (left after the cut)
  if (fill_ + len > T) {
    d_.tokens.resize(d_.tokens.size() + T, opt_.pad_id);
    d_.mask.resize(d_.mask.size() + T, 0);
    ++d_.num_sequences;
    fill_ = 0;
  }
  const int64_t base = (d_.num_sequences - 1) * T + fill_;
  for (int64_t i = 0; i < len; ++i) {
    d_.tokens[base + i] = r.tokens[i];
    d_.mask[base + i] = (i > 0 && r.target[i]) ? 1 : 0;
  }
  d_.num_target_tokens += targets;
  d_.num_record_tokens += len;
  fill_ += len;
  ++d_.num_records;
}

PackedDataset Packer::finish(const std::string& source) {
  if (d_.num_records == 0) {
    throw usage_error(fmt::format(
        "{}: no record with a response token to pack{}", source,
        d_.num_truncated_records == 0
            ? ""
            : fmt::format(" ({} record(s) longer than seq_len {} kept no response token after "
                          "the cut)",
                          d_.num_truncated_records, opt_.seq_len)));
  }
  // The largest id the file holds, padding included only where a sequence is padded: the reader
  // checks the header against the data, and a pad id that no sequence needed is not in it.
  const uint32_t max_id = *std::max_element(d_.tokens.begin(), d_.tokens.end());
  d_.max_token_id = max_id;
  d_.bytes_per_token =
      (opt_.dtype == "uint32" || (opt_.dtype == "auto" && max_id > 0xffff)) ? 4 : 2;
  return std::move(d_);
}

nlohmann::json parse_json_record(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw usage_error(fmt::format("{}: not valid JSON (byte {})", where, e.byte));
  } catch (const nlohmann::json::exception&) {
    throw usage_error(fmt::format("{}: not valid JSON (a number out of range)", where));
  }
}

void for_each_jsonl_record(
    const std::string& text, const std::string& source,
    const std::function<void(const nlohmann::json& record, const std::string& where)>& fn) {
  std::istringstream in(text);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", source, line_no);
    fn(parse_json_record(line, where), where);
  }
}

PackedDataset pack_jsonl_text(const std::string& text, const std::string& source,
                              const PackOptions& opt) {
  Packer packer(opt);
  for_each_jsonl_record(text, source, [&](const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) throw usage_error(fmt::format("{}: record is not a JSON object", where));
    Record r{id_list(j, "prompt", where), id_list(j, "response", where)};
    if (r.response.empty()) throw usage_error(fmt::format("{}: \"response\" is empty", where));
    TokenRecord t;
    t.tokens = r.prompt;
    t.tokens.insert(t.tokens.end(), r.response.begin(), r.response.end());
    t.target.assign(r.prompt.size(), 0);
    t.target.resize(t.tokens.size(), 1);
    packer.add(t, where);
  });
  return packer.finish(source);
}

PackedDataset pack_jsonl(const std::filesystem::path& in, const PackOptions& opt) {
  return pack_jsonl_text(read_file(in), in.string(), opt);
}

void write_token_file(const std::filesystem::path& path, const PackedDataset& d) {
  const size_t n = d.tokens.size();
  if (n != size_t(d.num_sequences * d.seq_len) || d.mask.size() != n) {
    throw runtime_error("token file: inconsistent dataset sizes");
  }
  std::string out;
  out.reserve(kTokenFileHeaderBytes + n * (d.bytes_per_token + 1));
  out.append(kTokenFileMagic, 8);
  put_u32(out, kTokenFileVersion);
  put_u32(out, d.bytes_per_token);
  put_u64(out, d.seq_len);
  put_u64(out, d.num_sequences);
  put_u64(out, d.num_records);
  put_u64(out, d.num_target_tokens);
  put_u64(out, d.max_token_id);
  put_u64(out, d.num_truncated_records);
  for (uint32_t t : d.tokens) {
    for (uint32_t i = 0; i < d.bytes_per_token; ++i) out.push_back(char((t >> (8 * i)) & 0xff));
  }
  out.append(reinterpret_cast<const char*>(d.mask.data()), n);
  write_file_atomic(path, out);
}

PackedDataset read_token_file(const std::filesystem::path& path) {
  const std::string s = read_file(path);
  const std::string where = path.string();
  if (s.size() < kTokenFileHeaderBytes || std::memcmp(s.data(), kTokenFileMagic, 8) != 0) {
    throw usage_error(fmt::format("{}: not an sxbench token file (magic SXBTOKEN missing)", where));
  }
  const uint32_t version = uint32_t(get_le(s, 8, 4));
  if (version != kTokenFileVersion) {
    throw usage_error(fmt::format("{}: token file version {} is not supported (expected {})", where,
                                  version, kTokenFileVersion));
  }
  PackedDataset d;
  d.bytes_per_token = uint32_t(get_le(s, 12, 4));
  d.seq_len = int64_t(get_le(s, 16, 8));
  d.num_sequences = int64_t(get_le(s, 24, 8));
  d.num_records = int64_t(get_le(s, 32, 8));
  d.num_target_tokens = int64_t(get_le(s, 40, 8));
  d.max_token_id = int64_t(get_le(s, 48, 8));
  d.num_truncated_records = int64_t(get_le(s, 56, 8));
  if (d.bytes_per_token != 2 && d.bytes_per_token != 4) {
    throw usage_error(
        fmt::format("{}: bytes per token {} is not 2 or 4", where, d.bytes_per_token));
  }
  if (d.seq_len < 2 || d.num_sequences < 1 || d.seq_len > (int64_t(1) << 24) ||
      d.num_sequences > (int64_t(1) << 40)) {
    throw usage_error(fmt::format("{}: header has seq_len {} and {} sequences", where, d.seq_len,
                                  d.num_sequences));
  }
  const std::string header = where + ": header's tokens";
  const uint64_t n = checked_product({uint64_t(d.seq_len), uint64_t(d.num_sequences)}, header);
  const uint64_t expected = checked_sum(
      kTokenFileHeaderBytes, checked_product({n, uint64_t(d.bytes_per_token) + 1}, header), header);
  if (s.size() != expected) {
    throw usage_error(
        fmt::format("{}: size {} bytes, header implies {} bytes", where, s.size(), expected));
  }
  d.tokens.resize(n);
  const size_t tok_off = kTokenFileHeaderBytes;
  int64_t max_seen = 0, targets = 0;
  for (uint64_t i = 0; i < n; ++i) {
    d.tokens[i] = uint32_t(get_le(s, tok_off + i * d.bytes_per_token, int(d.bytes_per_token)));
    max_seen = std::max<int64_t>(max_seen, d.tokens[i]);
  }
  const size_t mask_off = tok_off + n * d.bytes_per_token;
  d.mask.assign(s.begin() + mask_off, s.end());
  for (uint8_t m : d.mask) {
    if (m > 1) throw usage_error(fmt::format("{}: loss mask holds {} (must be 0 or 1)", where, m));
    targets += m;
  }
  if (max_seen != d.max_token_id || targets != d.num_target_tokens) {
    throw usage_error(
        fmt::format("{}: header says max_token_id {} and {} targets, data has {} and "
                    "{}",
                    where, d.max_token_id, d.num_target_tokens, max_seen, targets));
  }
  return d;
}

FileSequenceSource::FileSequenceSource(PackedDataset d, std::string path, int64_t seq_len,
                                       int64_t vocab_size)
    : d_(std::move(d)), path_(std::move(path)) {
  if (d_.seq_len != seq_len) {
    throw usage_error(
        fmt::format("{}: packed for seq_len {}, training uses {} (repack with "
                    "sxbench data pack --seq-len {})",
                    path_, d_.seq_len, seq_len, seq_len));
  }
  if (d_.max_token_id >= vocab_size) {
    throw usage_error(fmt::format("{}: token id {} is outside the model's vocabulary of {}", path_,
                                  d_.max_token_id, vocab_size));
  }
}

void FileSequenceSource::fill(int64_t index, int32_t* tokens, int32_t* targets) const {
  const int64_t T = d_.seq_len;
  const int64_t base = (index % d_.num_sequences) * T;
  for (int64_t t = 0; t < T; ++t) tokens[t] = int32_t(d_.tokens[base + t]);
  for (int64_t t = 0; t + 1 < T; ++t) targets[t] = d_.mask[base + t + 1] ? tokens[t + 1] : -1;
  targets[T - 1] = -1;
}

std::string FileSequenceSource::description() const {
  return fmt::format("token file {} ({} sequences of {} tokens, {} records)", path_,
                     d_.num_sequences, d_.seq_len, d_.num_records);
}

nlohmann::json FileSequenceSource::to_json() const {
  nlohmann::json j = d_.summary_json();
  j["kind"] = "file";
  j["path"] = path_;
  return j;
}

SyntheticSequenceSource::SyntheticSequenceSource(uint64_t seed, int64_t seq_len, int64_t vocab_size)
    : seed_(seed), seq_len_(seq_len), vocab_(vocab_size), successors_(vocab_size * kSuccessors) {
  SplitMix64 rng(stream_seed(seed, 0x5eed));
  for (auto& s : successors_) s = int32_t(rng.below(uint64_t(vocab_size)));
}

void SyntheticSequenceSource::fill(int64_t index, int32_t* tokens, int32_t* targets) const {
  SplitMix64 rng(stream_seed(seed_, uint64_t(index) + 1));
  tokens[0] = int32_t(rng.below(uint64_t(vocab_)));
  for (int64_t t = 1; t < seq_len_; ++t) {
    tokens[t] = successors_[int64_t(tokens[t - 1]) * kSuccessors + int64_t(rng.below(kSuccessors))];
  }
  for (int64_t t = 0; t + 1 < seq_len_; ++t) targets[t] = tokens[t + 1];
  targets[seq_len_ - 1] = -1;
}

std::string SyntheticSequenceSource::description() const {
  return fmt::format("synthetic tokens (seed {}, Markov chain with {} successors per token)", seed_,
                     kSuccessors);
}

nlohmann::json SyntheticSequenceSource::to_json() const {
  return {{"kind", "synthetic"},
          {"seed", seed_},
          {"generator", fmt::format("order-1 Markov chain, {} successors per token chosen from the "
                                    "seed, uniform first token",
                                    kSuccessors)},
          {"next_token_entropy_max_nats", std::log(double(kSuccessors))}};
}

}  // namespace sxb
