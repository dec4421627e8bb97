// The strict value helpers (core/parse.hpp): each bound accepted, the value just past it refused
// with a one-line usage error that names what was parsed.
#include "core/parse.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.hpp"
#include "core/units.hpp"

namespace sxb {
namespace {

// The message of the usage error `f` throws; fails the test when it throws nothing.
template <typename F>
std::string refusal(F f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage) << e.what();
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return m;
  }
  ADD_FAILURE() << "accepted";
  return "";
}

TEST(ValidUtf8, WellFormedOnly) {
  for (std::string_view ok : {"", "plain", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
                              "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(valid_utf8(ok)) << ok;
  }
  for (std::string_view bad : {"\xff", "caf\xe9", "\xc3", "\xe6\x97", "\xc0\xaf", "\xe0\x80\xaf",
                               "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "a\xc3("}) {
    EXPECT_FALSE(valid_utf8(bad)) << bad;
  }
}

TEST(ParseIntIn, BoundsAcceptedNeighboursRefused) {
  EXPECT_EQ(parse_int_in("1", "--micro-batch", 1, 1000000), 1);
  EXPECT_EQ(parse_int_in("2", "--micro-batch", 1, 1000000), 2);
  EXPECT_EQ(parse_int_in("999999", "--micro-batch", 1, 1000000), 999999);
  EXPECT_EQ(parse_int_in("1000000", "--micro-batch", 1, 1000000), 1000000);
  EXPECT_EQ(parse_int_in(" +7 ", "--micro-batch", 1, 1000000), 7);
  EXPECT_EQ(refusal([] { parse_int_in("0", "--micro-batch", 1, 1000000); }),
            "invalid --micro-batch '0': expected an integer from 1 to 1000000");
  EXPECT_NE(
      refusal([] { parse_int_in("1000001", "--micro-batch", 1, 1000000); }).find("--micro-batch"),
      std::string::npos);
  for (const char* bad : {"-1", "1.5", "1e3", "0x10", "", "nan", "inf", "7 8", "abc",
                          "99999999999999999999", "-99999999999999999999"}) {
    EXPECT_NE(refusal([&] { parse_int_in(bad, "-n", 1, 100); }).find("invalid -n"),
              std::string::npos)
        << bad;
  }
}

TEST(ParseIntIn, FullInt64Range) {
  EXPECT_EQ(parse_int_in("9223372036854775807", "x", 0, kInt64Max), kInt64Max);
  EXPECT_EQ(parse_int_in("-9223372036854775808", "x", kInt64Min, 0), kInt64Min);
  refusal([] { parse_int_in("9223372036854775808", "x", 0, kInt64Max); });
}

TEST(ParseNumberIn, BoundsAcceptedNeighboursAndNonFiniteRefused) {
  EXPECT_DOUBLE_EQ(parse_number_in("0.1", "--timeout", 0.1, 86400), 0.1);
  EXPECT_DOUBLE_EQ(parse_number_in("86400", "--timeout", 0.1, 86400), 86400);
  EXPECT_DOUBLE_EQ(parse_number_in("86399.5", "--timeout", 0.1, 86400), 86399.5);
  EXPECT_DOUBLE_EQ(parse_number_in("1e3", "--timeout", 0.1, 86400), 1000);
  EXPECT_EQ(refusal([] { parse_number_in("0.09", "--timeout", 0.1, 86400); }),
            "invalid --timeout '0.09': expected a number from 0.1 to 86400");
  for (const char* bad : {"86400.01", "-1", "0", "nan", "NaN", "inf", "-inf", "infinity", "1e999",
                          "", "1,5", "0x1p3", "fast"}) {
    EXPECT_NE(refusal([&] { parse_number_in(bad, "--timeout", 0.1, 86400); }).find("--timeout"),
              std::string::npos)
        << bad;
  }
}

TEST(ParseSizeIn, BoundsAcceptedNeighboursAndOverflowRefused) {
  EXPECT_EQ(parse_size_in("1", "-e", 1, kMaxBufferBytes), 1u);
  EXPECT_EQ(parse_size_in("64G", "-e", 1, kMaxBufferBytes), kMaxBufferBytes);
  EXPECT_EQ(parse_size_in("68719476735", "-e", 1, kMaxBufferBytes), kMaxBufferBytes - 1);
  EXPECT_EQ(refusal([] { parse_size_in("68719476737", "-e", 1, kMaxBufferBytes); }),
            "invalid -e '68719476737': expected bytes from 1 to 64 GiB (suffixes K, M, G, T)");
  for (const char* bad : {"0", "65G", "1T", "18446744073709551615", "18446744073709551616",
                          "99999999999T", "-1", "1.5G", "nan", ""}) {
    EXPECT_NE(refusal([&] { parse_size_in(bad, "-e", 1, kMaxBufferBytes); }).find("invalid -e"),
              std::string::npos)
        << bad;
  }
  EXPECT_EQ(parse_size_in("0", "-i", 0, kMaxBufferBytes), 0u);
}

TEST(CheckedProduct, OverflowAndCeiling) {
  EXPECT_EQ(checked_product({4096, 4096, 32}, "bytes"), 4096ull * 4096 * 32);
  EXPECT_EQ(checked_product({0, kUint64Max, kUint64Max}, "bytes"), 0u);
  EXPECT_EQ(checked_product({1ull << 32, (1ull << 32) - 1}, "bytes"),
            (1ull << 32) * ((1ull << 32) - 1));
  EXPECT_EQ(refusal([] {
              checked_product({1ull << 32, 1ull << 32}, "shard bytes");
            }),
            "shard bytes overflows 64 bits");
  EXPECT_EQ(checked_product({8, 8}, "tokens", 64), 64u);
  EXPECT_EQ(refusal([] {
              checked_product({8, 9}, "tokens", 64);
            }),
            "tokens = 72 exceeds the limit of 64");
  EXPECT_EQ(checked_sum(kUint64Max - 1, 1, "bytes"), kUint64Max);
  refusal([] { checked_sum(kUint64Max, 1, "bytes"); });
  refusal([] { checked_sum(60, 5, "bytes", 64); });
}

TEST(JsonInt, IntegralNumbersInRangeOnly) {
  using nlohmann::json;
  const std::string what = json_key_name("config.json", "hidden_size");
  EXPECT_EQ(json_int(json(1), what, 1, 262144), 1);
  EXPECT_EQ(json_int(json(262144), what, 1, 262144), 262144);
  EXPECT_EQ(json_int(json(4096.0), what, 1, 262144), 4096);  // the same number in JSON
  EXPECT_EQ(refusal([&] { json_int(json(64.5), what, 1, 262144); }),
            "config.json: key \"hidden_size\": expected an integer from 1 to 262144, got 64.5");
  for (const char* bad : {"0", "262145", "-1", "1e9", "1e300", "18446744073709551615",
                          "-9223372036854775808", "\"4096\"", "null", "true", "[1]", "{}"}) {
    EXPECT_NE(refusal([&] {
                json_int(json::parse(bad), what, 1, 262144);
              }).find("config.json: key \"hidden_size\""),
              std::string::npos)
        << bad;
  }
  EXPECT_EQ(json_int(json::parse("9223372036854775807"), "x", 0, kInt64Max), kInt64Max);
  refusal([] { json_int(json::parse("9223372036854775808"), "x", 0, kInt64Max); });
}

TEST(JsonNumber, FiniteInRangeOnly) {
  using nlohmann::json;
  EXPECT_DOUBLE_EQ(json_number(json(0), "f: key \"value\"", 0, 1e18), 0);
  EXPECT_DOUBLE_EQ(json_number(json(1e18), "f: key \"value\"", 0, 1e18), 1e18);
  EXPECT_EQ(refusal([] { json_number(json(-0.5), "f: key \"value\"", 0, 1e18); }),
            "f: key \"value\": expected a number from 0 to 1e+18, got -0.5");
  refusal([] { json_number(json(1.1e18), "v", 0, 1e18); });
  refusal([] { json_number(json("fast"), "v", 0, 1e18); });
  refusal([] { json_number(json(nullptr), "v", 0, 1e18); });
  refusal([] { json_number(json(std::numeric_limits<double>::quiet_NaN()), "v", -1, 1); });
  refusal([] { json_number(json(std::numeric_limits<double>::infinity()), "v", -1e308, 1e308); });
}

TEST(JsonMembers, AbsentOrNullIsNulloptWrongTypeNamesKey) {
  const auto j = nlohmann::json::parse(R"({"id": null, "n": 3, "s": "x", "b": true, "bad": "3"})");
  EXPECT_FALSE(json_string_member(j, "id", "claims.json").has_value());
  EXPECT_FALSE(json_int_member(j, "missing", "claims.json", 1, 5).has_value());
  EXPECT_EQ(json_int_member(j, "n", "claims.json", 1, 5), 3);
  EXPECT_EQ(json_string_member(j, "s", "claims.json"), "x");
  EXPECT_EQ(json_bool_member(j, "b", "claims.json"), true);
  EXPECT_EQ(refusal([&] { json_int_member(j, "bad", "claims.json", 1, 5); }),
            "claims.json: key \"bad\": expected an integer from 1 to 5, got \"3\"");
  EXPECT_EQ(refusal([&] { json_string_member(j, "n", "claims.json"); }),
            "claims.json: key \"n\": expected a string, got 3");
  refusal([&] { json_bool_member(j, "s", "claims.json"); });
}

TEST(QuotedExcerpt, CutsLongTextAndLineBreaks) {
  EXPECT_EQ(quoted_excerpt("a\nb"), "a b");
  EXPECT_EQ(quoted_excerpt(std::string(50, 'x')), std::string(40, 'x') + "...");
  const std::string m = refusal([] { parse_int_in(std::string(100, '9') + "\n", "-n", 1, 2); });
  EXPECT_LT(m.size(), 120u) << m;
}

TEST(SizeSweep, RefusesSweepsTooLongOrNotFinite) {
  EXPECT_EQ(size_sweep(1, kMaxSweepSizes, 1, 1).size(), kMaxSweepSizes);
  EXPECT_NE(refusal([] { size_sweep(1, kMaxSweepSizes + 1, 1, 1); }).find("more than 10000 sizes"),
            std::string::npos);
  refusal([] { size_sweep(1, 1ull << 30, 1, 1); });  // nccl -i 1 -e 1G
  refusal([] { size_sweep(8, 1024, std::numeric_limits<double>::quiet_NaN(), 0); });
  refusal([] { size_sweep(8, 1024, std::numeric_limits<double>::infinity(), 0); });
  // Near the top of the 64-bit range the sweep ends instead of wrapping around.
  EXPECT_EQ(size_sweep(kUint64Max - 1, kUint64Max, 2, 0), (std::vector<uint64_t>{kUint64Max - 1}));
  EXPECT_EQ(size_sweep(kUint64Max - 1, kUint64Max, 1, 5), (std::vector<uint64_t>{kUint64Max - 1}));
}

}  // namespace
}  // namespace sxb
