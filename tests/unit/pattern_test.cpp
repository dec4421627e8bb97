#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "bench/pattern.hpp"
#include "core/error.hpp"
#include "core/numeric.hpp"

namespace sxb {
namespace {

TEST(Pattern, SmallIntegersThatDifferAcrossRanks) {
  std::set<int> values;
  int same = 0;
  for (uint64_t i = 0; i < 10000; ++i) {
    const int v = pattern_value(0, i);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 2);
    values.insert(v);
    same += v == pattern_value(1, i);
  }
  EXPECT_EQ(values.size(), 5u);
  EXPECT_LT(same, 3000);  // independent ranks agree about 1 time in 5
}

TEST(Pattern, HostCheckFindsEveryWrongElement) {
  for (DataType t : {DataType::f32, DataType::f16, DataType::bf16}) {
    std::vector<char> buf(1000 * dtype_size(t));
    fill_pattern(MemorySpace::host, buf.data(), 1000, t, 3, 500);
    EXPECT_EQ(count_mismatches(MemorySpace::host, buf.data(), 1000, t, 3, 8, 500), 0u);
    // Another rank's data, or the right data at the wrong offset, does not pass.
    EXPECT_GT(count_mismatches(MemorySpace::host, buf.data(), 1000, t, 4, 8, 500), 500u);
    EXPECT_GT(count_mismatches(MemorySpace::host, buf.data(), 1000, t, 3, 8, 501), 500u);
    store_from_float(buf.data(), 17, t, 1000.0f);
    store_from_float(buf.data(), 18, t, std::numeric_limits<float>::quiet_NaN());
    EXPECT_EQ(count_mismatches(MemorySpace::host, buf.data(), 1000, t, 3, 8, 500), 2u);
  }
}

TEST(Pattern, SumsOverRanksAreExactInEveryType) {
  for (DataType t : {DataType::f32, DataType::f16, DataType::bf16}) {
    const int n = 64;
    std::vector<char> buf(256 * dtype_size(t));
    for (size_t i = 0; i < 256; ++i) {
      int sum = 0;
      for (int r = 0; r < n; ++r) sum += pattern_value(r, i);
      store_from_float(buf.data(), i, t, static_cast<float>(sum));
    }
    EXPECT_EQ(count_mismatches(MemorySpace::host, buf.data(), 256, t, kAllRanks, n, 0), 0u);
    EXPECT_EQ(pattern_tolerance(t, n, 100.0f), 0.0f);
  }
}

TEST(Pattern, PoisonIsNaNInEveryType) {
  for (DataType t : {DataType::f32, DataType::f16, DataType::bf16}) {
    std::vector<char> buf(8 * dtype_size(t));
    poison(MemorySpace::host, buf.data(), buf.size());
    EXPECT_TRUE(std::isnan(load_as_float(buf.data(), 3, t)));
  }
}

TEST(Numeric, SixteenBitConversions) {
  EXPECT_EQ(float_to_bf16_bits(1.0f), 0x3f80);
  EXPECT_EQ(bf16_bits_to_float(0xc000), -2.0f);
  EXPECT_EQ(float_to_bf16_bits(1.00390625f), 0x3f80);  // tie rounds to even
  EXPECT_EQ(float_to_bf16_bits(1.01171875f), 0x3f82);  // tie rounds to even (up)
  EXPECT_TRUE(std::isnan(bf16_bits_to_float(float_to_bf16_bits(std::nanf("")))));
  EXPECT_EQ(float_to_half_bits(1.0f), 0x3c00);
  EXPECT_EQ(half_bits_to_float(0xc000), -2.0f);
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(65504.0f)), 65504.0f);
  EXPECT_EQ(dtype_size(DataType::bf16), 2u);
  EXPECT_EQ(parse_dtype("bf16"), DataType::bf16);
  EXPECT_EQ(dtype_name(parse_dtype("fp16")), "half");
  EXPECT_THROW(parse_dtype("int8"), Error);
}

}  // namespace
}  // namespace sxb
