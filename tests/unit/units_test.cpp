#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/units.hpp"

namespace sxb {

TEST(ParseSize, AcceptsNcclTestsSuffixes) {
  EXPECT_EQ(parse_size_bytes("8"), 8u);
  EXPECT_EQ(parse_size_bytes("64K"), 64u * 1024);
  EXPECT_EQ(parse_size_bytes("1M"), 1024u * 1024);
  EXPECT_EQ(parse_size_bytes("8G"), 8ull << 30);
  EXPECT_EQ(parse_size_bytes("8GB"), 8ull << 30);
  EXPECT_EQ(parse_size_bytes("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size_bytes("1T"), 1ull << 40);
}

TEST(ParseSize, RejectsGarbageWithOneLineMessage) {
  for (const char* bad : {"", "abc", "8X", "-1", "1.5G", "G", "99999999999999999999"}) {
    try {
      parse_size_bytes(bad, "maximum size (-e)");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("maximum size (-e)"), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      EXPECT_EQ(e.code(), ExitCode::usage);
    }
  }
}

TEST(SizeSweep, FactorMatchesNcclTests) {
  EXPECT_EQ(size_sweep(8, 128, 2, 0), (std::vector<uint64_t>{8, 16, 32, 64, 128}));
  EXPECT_EQ(size_sweep(1024, 8192, 4, 0), (std::vector<uint64_t>{1024, 4096}));
  EXPECT_EQ(size_sweep(8, 8, 2, 0), (std::vector<uint64_t>{8}));
  EXPECT_EQ(size_sweep(8ull << 20, 8ull << 30, 2, 0).size(), 11u);
}

TEST(SizeSweep, StepBytes) {
  EXPECT_EQ(size_sweep(100, 400, 1, 100), (std::vector<uint64_t>{100, 200, 300, 400}));
}

TEST(SizeSweep, RejectsBadRanges) {
  EXPECT_THROW(size_sweep(0, 8, 2, 0), Error);
  EXPECT_THROW(size_sweep(16, 8, 2, 0), Error);
  EXPECT_THROW(size_sweep(8, 16, 1, 0), Error);
}

TEST(ParseNumbers, StrictWholeString) {
  EXPECT_EQ(parse_int("42", "x"), 42);
  EXPECT_THROW(parse_int("42abc", "x"), Error);
  EXPECT_DOUBLE_EQ(parse_double("0.25", "x"), 0.25);
  EXPECT_THROW(parse_double("nan", "x"), Error);
  EXPECT_TRUE(parse_bool("yes", "x"));
  EXPECT_FALSE(parse_bool("0", "x"));
  EXPECT_THROW(parse_bool("maybe", "x"), Error);
}

TEST(SplitCommaList, TrimsBlanksAndKeepsEmptyItems) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(split_comma_list("a"), V{"a"});
  EXPECT_EQ(split_comma_list("hbm, gemm,\thbm "), (V{"hbm", "gemm", "hbm"}));
  EXPECT_EQ(split_comma_list(""), V{""});
  EXPECT_EQ(split_comma_list("  "), V{""});
  EXPECT_EQ(split_comma_list("a,,b"), (V{"a", "", "b"}));
  EXPECT_EQ(split_comma_list(","), (V{"", ""}));
  EXPECT_EQ(split_comma_list("a, ,b,"), (V{"a", "", "b", ""}));
  EXPECT_EQ(split_comma_list("two words, x"), (V{"two words", "x"}));
}

TEST(FormatBytes, HumanUnits) {
  EXPECT_EQ(format_bytes(8), "8 B");
  EXPECT_EQ(format_bytes(1ull << 30), "1 GiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
}

}  // namespace sxb
