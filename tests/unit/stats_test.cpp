#include "core/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"

namespace sxb {

TEST(Stats, MedianOfOddAndEvenCounts) {
  EXPECT_EQ(median_of({3, 1, 2}), 2.0);
  EXPECT_EQ(median_of({4, 1, 2, 3}), 2.5);
  EXPECT_EQ(median_of({7}), 7.0);
}

TEST(Stats, QuantileInterpolatesBetweenOrderStatistics) {
  EXPECT_EQ(quantile({10, 20, 30, 40, 50}, 0.1), 14.0);
  EXPECT_EQ(quantile({50, 40, 30, 20, 10}, 0.9), 46.0);
  EXPECT_EQ(quantile({10, 20, 30, 40, 50}, 0.0), 10.0);
  EXPECT_EQ(quantile({10, 20, 30, 40, 50}, 1.0), 50.0);
  EXPECT_EQ(quantile({10, 20}, 0.5), 15.0);
  EXPECT_EQ(quantile({7}, 0.9), 7.0);
  // q outside 0..1 is clamped to the extreme order statistics.
  EXPECT_EQ(quantile({10, 20, 30}, -0.5), 10.0);
  EXPECT_EQ(quantile({10, 20, 30}, 1.5), 30.0);
}

TEST(Stats, EmptySampleIsNanOrAnError) {
  EXPECT_TRUE(std::isnan(median_of({})));
  EXPECT_TRUE(std::isnan(quantile({}, 0.5)));
  EXPECT_THROW(median_of({}, IfEmpty::error), Error);
  EXPECT_THROW(quantile({}, 0.9, IfEmpty::error), Error);
}

}  // namespace sxb
