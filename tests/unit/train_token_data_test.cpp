#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "train/token_data.hpp"

namespace sxb {
namespace {
namespace fs = std::filesystem;

PackOptions opts(int64_t T, std::string dtype = "auto") {
  PackOptions o;
  o.seq_len = T;
  o.pad_id = 0;
  o.dtype = std::move(dtype);
  return o;
}

TEST(TokenData, PacksRecordsWithPromptMask) {
  const std::string jsonl =
      "{\"prompt\": [5, 6], \"response\": [7, 8]}\n"
      "\n"
      "{\"prompt\": [9], \"response\": [10, 11, 12], \"id\": \"x\"}\n"
      "{\"prompt\": [], \"response\": [13, 14]}\n";
  const auto d = pack_jsonl_text(jsonl, "t.jsonl", opts(8));
  ASSERT_EQ(d.num_sequences, 2);  // 4 + 4 fill the first; the third starts a new sequence
  EXPECT_EQ(d.num_records, 3);
  EXPECT_EQ(d.tokens, (std::vector<uint32_t>{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(d.mask, (std::vector<uint8_t>{0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(d.num_target_tokens, 6);
  EXPECT_EQ(d.max_token_id, 14);
  EXPECT_EQ(d.bytes_per_token, 2u);

  FileSequenceSource src(d, "t.bin", 8, 100);
  std::vector<int32_t> tok(8), tgt(8);
  src.fill(0, tok.data(), tgt.data());
  EXPECT_EQ(tgt, (std::vector<int32_t>{-1, 7, 8, -1, 10, 11, 12, -1}));
  src.fill(3, tok.data(), tgt.data());  // wraps to sequence 1
  EXPECT_EQ(tok[0], 13);
  EXPECT_EQ(tgt, (std::vector<int32_t>{14, -1, -1, -1, -1, -1, -1, -1}));
}

TEST(TokenData, TruncatesLongRecordsAndWidensDtype) {
  const auto d = pack_jsonl_text(
      "{\"prompt\": [1, 2], \"response\": [3, 70000, 5, 6, 7]}\n"
      "{\"prompt\": [1, 2, 3, 4], \"response\": [5]}\n",
      "t.jsonl", opts(4));
  EXPECT_EQ(d.num_truncated_records, 2);
  EXPECT_EQ(d.num_records, 1);  // the second has no response token left after the cut
  EXPECT_EQ(d.bytes_per_token, 4u);
  EXPECT_EQ(d.tokens, (std::vector<uint32_t>{1, 2, 3, 70000}));
}

TEST(TokenData, BadRecordsNameTheLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"prompt\": [1], \"response\": [2]}\nnot json\n", "t.jsonl:2"},
      {"{\"prompt\": [1]}\n", "\"response\""},
      {"{\"prompt\": [1], \"response\": []}\n", "empty"},
      {"\n{\"prompt\": [-1], \"response\": [2]}\n", "t.jsonl:2"},
      {"{\"prompt\": [1.5], \"response\": [2]}\n", "\"prompt\"[0]"},
      {"[1, 2]\n", "not a JSON object"},
      {"", "no record"}};
  for (const auto& [text, expect] : cases) {
    try {
      pack_jsonl_text(text, "t.jsonl", opts(8));
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  EXPECT_THROW(pack_jsonl_text("{\"prompt\": [1], \"response\": [70000]}", "t", opts(8, "uint16")),
               Error);
}

TEST(TokenData, FileRoundTripAndCorruptionChecks) {
  const fs::path p = fs::temp_directory_path() / ("sxb_tok_" + std::to_string(::getpid()) + ".bin");
  for (const char* dtype : {"uint16", "uint32"}) {
    const auto d = pack_jsonl_text(
        "{\"prompt\": [1, 2], \"response\": [300, 4]}\n"
        "{\"prompt\": [9], \"response\": [8, 7]}\n",
        "t.jsonl", opts(6, dtype));
    write_token_file(p, d);
    EXPECT_EQ(fs::file_size(p), 64 + 12 * (d.bytes_per_token + 1));
    const auto r = read_token_file(p);
    EXPECT_EQ(r.tokens, d.tokens);
    EXPECT_EQ(r.mask, d.mask);
    EXPECT_EQ(r.seq_len, 6);
    EXPECT_EQ(r.num_records, 2);
    EXPECT_EQ(r.bytes_per_token, d.bytes_per_token);
    EXPECT_THROW(FileSequenceSource(r, p.string(), 8, 1000), Error);  // seq_len mismatch
    EXPECT_THROW(FileSequenceSource(r, p.string(), 6, 300), Error);   // id 300 >= vocab
  }
  {  // truncated file
    std::string bytes;
    {
      std::ifstream f(p, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(f), {});
    }
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 1);
    EXPECT_THROW(read_token_file(p), Error);
    std::ofstream(p, std::ios::binary | std::ios::trunc) << "NOTATOKENFILE" << std::string(80, 'x');
    EXPECT_THROW(read_token_file(p), Error);
  }
  fs::remove(p);
}

// A pad id that no sequence needed (every sequence full) is not in the file, so the header's
// max_token_id is the data's, and the file reads back (tests/fuzz/fuzz_jsonl checks every pack).
TEST(TokenData, UnusedPadIdIsNotTheMaxTokenId) {
  PackOptions o = opts(4);
  o.pad_id = 65535;
  const auto d = pack_jsonl_text("{\"prompt\": [1, 2], \"response\": [3, 4]}\n", "t.jsonl", o);
  EXPECT_EQ(d.tokens, (std::vector<uint32_t>{1, 2, 3, 4}));
  EXPECT_EQ(d.max_token_id, 4);
  const auto padded =
      pack_jsonl_text("{\"prompt\": [1], \"response\": [3]}\n", "t.jsonl", o);
  EXPECT_EQ(padded.max_token_id, 65535);
  const fs::path p =
      fs::temp_directory_path() / ("sxb_tok_pad_" + std::to_string(::getpid()) + ".bin");
  write_token_file(p, d);
  const auto back = read_token_file(p);
  fs::remove(p);
  EXPECT_EQ(back.tokens, d.tokens);
  EXPECT_EQ(back.max_token_id, 4);
}

TEST(TokenData, SyntheticIsSeededAndIndexAddressed) {
  SyntheticSequenceSource a(7, 16, 50), b(7, 16, 50), c(8, 16, 50);
  std::vector<int32_t> t1(16), g1(16), t2(16), g2(16), t3(16), g3(16);
  a.fill(5, t1.data(), g1.data());
  b.fill(5, t2.data(), g2.data());
  c.fill(5, t3.data(), g3.data());
  EXPECT_EQ(t1, t2);
  EXPECT_NE(t1, t3);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(g1[i], t1[i + 1]);
  EXPECT_EQ(g1[15], -1);
  for (int32_t t : t1) EXPECT_TRUE(t >= 0 && t < 50);
  a.fill(6, t2.data(), g2.data());
  EXPECT_NE(t1, t2);
}

}  // namespace
}  // namespace sxb
