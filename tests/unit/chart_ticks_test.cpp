// Axis ranges, ticks and labels (report/chart_ticks.hpp): pure functions, tested in every build.
#include "report/charts/ticks.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.hpp"

namespace sxb::report {
namespace {

std::vector<std::string> labels(const std::vector<Tick>& ticks) {
  std::vector<std::string> out;
  for (const Tick& t : ticks) out.push_back(t.label);
  return out;
}

constexpr double kGiB = 1024.0 * 1024 * 1024;

TEST(ChartTicks, NiceStepIsOneTwoFiveTimesAPowerOfTen) {
  EXPECT_DOUBLE_EQ(nice_step(10, 5), 2);
  EXPECT_DOUBLE_EQ(nice_step(7, 9), 1);
  EXPECT_DOUBLE_EQ(nice_step(1.05, 6), 0.2);
  EXPECT_DOUBLE_EQ(nice_step(0.3, 3), 0.1);
  EXPECT_DOUBLE_EQ(nice_step(123, 9), 20);
  EXPECT_DOUBLE_EQ(nice_step(400, 8), 50);
  EXPECT_DOUBLE_EQ(nice_step(3e6, 6), 5e5);
  // An exact fit keeps the smaller step.
  EXPECT_DOUBLE_EQ(nice_step(100, 10), 10);
}

TEST(ChartTicks, ByteStepUsesTheUnitOfTheLargestValue) {
  EXPECT_DOUBLE_EQ(nice_byte_step(80 * kGiB, 80 * kGiB, 4), 20 * kGiB);
  EXPECT_DOUBLE_EQ(nice_byte_step(512.0 * 1024 * 1024, 512.0 * 1024 * 1024, 5),
                   200.0 * 1024 * 1024);
  const AxisRange r = linear_range(0, 80 * kGiB, true, 0, 5, true);
  EXPECT_EQ(labels(linear_ticks(r, true)),
            (std::vector<std::string>{"0 B", "20 GiB", "40 GiB", "60 GiB", "80 GiB"}));
}

TEST(ChartTicks, LinearRangeIsZeroBasedWithHeadroomAndNiceEnds) {
  // Scaling efficiency 0.1 .. 0.93: from 0, 5% headroom, rounded up to a step.
  AxisRange r = linear_range(0.1, 0.93, true, 0.05, 7, false);
  EXPECT_DOUBLE_EQ(r.min, 0);
  EXPECT_NEAR(r.max, 1.0, 1e-12);
  EXPECT_NEAR(r.step, 0.2, 1e-12);
  EXPECT_EQ(labels(linear_ticks(r, false)),
            (std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}));
  // Node counts on x: not zero-based, no headroom, ends on the data.
  r = linear_range(1, 8, false, 0, 10, false);
  EXPECT_DOUBLE_EQ(r.min, 1);
  EXPECT_DOUBLE_EQ(r.max, 8);
  EXPECT_DOUBLE_EQ(r.step, 1);
  // Negative data: zero stays inside, headroom goes below.
  r = linear_range(-30, -10, true, 0.05, 6, false);
  EXPECT_DOUBLE_EQ(r.max, 0);
  EXPECT_LT(r.min, -30);
}

TEST(ChartTicks, FixedEndsAreKeptAndBadOnesThrow) {
  const AxisRange r = linear_range(3, 97, true, 0.05, 6, false, 0.0, 100.0);
  EXPECT_DOUBLE_EQ(r.min, 0);
  EXPECT_DOUBLE_EQ(r.max, 100);
  EXPECT_EQ(labels(linear_ticks(r, false)),
            (std::vector<std::string>{"0", "20", "40", "60", "80", "100"}));
  EXPECT_THROW(linear_range(0, 1, true, 0, 5, false, 5.0, 5.0), Error);
  EXPECT_THROW(linear_range(0, 1, true, 0, 5, false, 6.0, 5.0), Error);
  EXPECT_THROW(log2_range(8, 64, 0.0, std::nullopt), Error);
}

TEST(ChartTicks, DegenerateAndEmptyDataGetAUsableRange) {
  AxisRange r = linear_range(0, 0, true, 0.05, 6, false);
  EXPECT_DOUBLE_EQ(r.min, 0);
  EXPECT_GT(r.max, 0);
  r = linear_range(5, 5, false, 0, 6, false);
  EXPECT_LT(r.min, 5);
  EXPECT_GT(r.max, 5);
  const double inf = std::numeric_limits<double>::infinity();
  r = linear_range(inf, -inf, true, 0.05, 6, false);  // no data at all
  EXPECT_DOUBLE_EQ(r.min, 0);
  EXPECT_GT(r.max, 0);
  EXPECT_GE(linear_ticks(r, false).size(), 2u);
}

// Over many data ranges: the range holds the data, ticks are steps apart, inside the range,
// distinct in label, and no more than asked for.
TEST(ChartTicks, LinearTicksHoldTheirInvariants) {
  for (double lo : {-1234.5, -3.0, 0.0, 0.001, 2.5, 999.0, 1e6}) {
    for (double span : {1e-3, 0.07, 1.0, 7.0, 42.0, 999.0, 12345.0, 3e7}) {
      for (int max_ticks : {2, 3, 5, 8, 12}) {
        for (bool zero : {false, true}) {
          const double hi = lo + span;
          const AxisRange r = linear_range(lo, hi, zero, 0.05, max_ticks, false);
          const auto ticks = linear_ticks(r, false);
          SCOPED_TRACE(testing::Message() << lo << ".." << hi << " max " << max_ticks);
          EXPECT_LE(r.min, lo);
          EXPECT_GE(r.max, hi);
          if (zero) {
            EXPECT_LE(r.min, 0);
            EXPECT_GE(r.max, 0);
          }
          EXPECT_GE(ticks.size(), 2u);
          const bool both_signs = r.min < 0 && r.max > 0;
          EXPECT_LE(static_cast<int>(ticks.size()),
                    both_signs ? std::max(3, max_ticks) : max_ticks);
          std::set<std::string> seen;
          for (size_t i = 0; i < ticks.size(); ++i) {
            EXPECT_GE(ticks[i].value, r.min - 1e-9 * r.step);
            EXPECT_LE(ticks[i].value, r.max + 1e-9 * r.step);
            if (i > 0) EXPECT_NEAR(ticks[i].value - ticks[i - 1].value, r.step, 1e-6 * r.step);
            EXPECT_TRUE(seen.insert(ticks[i].label).second) << ticks[i].label;
            EXPECT_EQ(ticks[i].label.front() == '-', ticks[i].value < 0) << ticks[i].label;
          }
        }
      }
    }
  }
}

TEST(ChartTicks, TickLabelsHaveTheDecimalsOfTheStepAndNoNegativeZero) {
  const AxisRange r{-1, 1, 0.5};
  EXPECT_EQ(labels(linear_ticks(r, false)),
            (std::vector<std::string>{"-1.0", "-0.5", "0", "0.5", "1.0"}));
  EXPECT_EQ(format_tick_number(-1e-17, 0.05, 1), "0.00");  // not a tick value, still no sign
  EXPECT_EQ(format_tick_number(1000000.5, 0.5, 1000001), "1000000.5");
  EXPECT_EQ(format_tick_number(0.15, 0.05, 1), "0.15");
  EXPECT_EQ(format_tick_number(250, 50, 400), "250");
}

TEST(ChartTicks, LargeNumbersUseDecimalSuffixes) {
  const AxisRange r = linear_range(0, 380000, true, 0.05, 9, false);
  const auto l = labels(linear_ticks(r, false));
  EXPECT_EQ(l.front(), "0");
  EXPECT_EQ(l.back(), "400k");
  EXPECT_EQ(format_tick_number(50000, 50000, 400000), "50k");
  EXPECT_EQ(format_tick_number(1.2e6, 2e5, 1.2e6), "1.2M");
  EXPECT_EQ(format_tick_number(5000, 1000, 8000), "5000");  // below 10000: plain
}

TEST(ChartTicks, Log2ByteTicksSpan8BytesTo8GiB) {
  const AxisRange r = log2_range(8, 8 * kGiB);
  EXPECT_DOUBLE_EQ(r.min, 8);
  EXPECT_DOUBLE_EQ(r.max, 8 * kGiB);
  EXPECT_EQ(labels(log2_ticks(r, 11, true)),
            (std::vector<std::string>{"8 B", "64 B", "512 B", "4 KiB", "32 KiB", "256 KiB", "2 MiB",
                                      "16 MiB", "128 MiB", "1 GiB", "8 GiB"}));
  EXPECT_EQ(labels(log2_ticks(r, 4, true)),
            (std::vector<std::string>{"8 B", "8 KiB", "8 MiB", "8 GiB"}));
  // Room for every power: 31 ticks, 8 B .. 8 GiB.
  const auto all = log2_ticks(r, 40, true);
  ASSERT_EQ(all.size(), 31u);
  EXPECT_EQ(all[7].label, "1 KiB");
  EXPECT_EQ(all[17].label, "1 MiB");
  // Any limit: both ends are ticks when a stride divides the 30 octaves, never more ticks than
  // allowed, values are powers of two.
  for (int max_ticks = 2; max_ticks <= 31; ++max_ticks) {
    const auto t = log2_ticks(r, max_ticks, true);
    EXPECT_LE(static_cast<int>(t.size()), max_ticks) << max_ticks;
    EXPECT_EQ(t.front().label, "8 B");
    for (const Tick& k : t) EXPECT_DOUBLE_EQ(std::exp2(std::round(std::log2(k.value))), k.value);
  }
  for (int max_ticks : {2, 3, 4, 6, 7, 11, 16, 31}) {
    EXPECT_EQ(log2_ticks(r, max_ticks, true).back().label, "8 GiB") << max_ticks;
  }
  EXPECT_EQ(log2_minor_values(r).size(), 31u);
}

TEST(ChartTicks, Log2RangeEnclosesDataInPowersOfTwo) {
  AxisRange r = log2_range(10, 1000);
  EXPECT_DOUBLE_EQ(r.min, 8);
  EXPECT_DOUBLE_EQ(r.max, 1024);
  r = log2_range(64, 64);
  EXPECT_DOUBLE_EQ(r.min, 64);
  EXPECT_DOUBLE_EQ(r.max, 128);
  EXPECT_THROW(log2_range(0, 64), Error);
  EXPECT_THROW(log2_range(-8, 64), Error);
}

TEST(ChartTicks, Log2NumberLabels) {
  EXPECT_EQ(labels(log2_ticks({1, 16, 0}, 10, false)),
            (std::vector<std::string>{"1", "2", "4", "8", "16"}));
  EXPECT_EQ(labels(log2_ticks({0.25, 1, 0}, 10, false)),
            (std::vector<std::string>{"0.25", "0.5", "1"}));
  EXPECT_EQ(log2_ticks({1, 1 << 20, 0}, 3, false).back().label, "2^20");
}

TEST(ChartTicks, BarValueLabels) {
  EXPECT_EQ(format_value(0.953), "0.953");
  EXPECT_EQ(format_value(95.34), "95.3");
  EXPECT_EQ(format_value(1234.6), "1235");
  EXPECT_EQ(format_value(5), "5");
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(351234), "351k");
  EXPECT_EQ(format_value(-12345.6), "-12.3k");
  EXPECT_EQ(format_value(2.5e9), "2.5G");
  EXPECT_EQ(format_value(std::nan("")), "n/a");
}

}  // namespace
}  // namespace sxb::report
