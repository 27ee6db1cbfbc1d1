#include "engine/session/stats.h"
#include "engine/core/error.h"

#include <gtest/gtest.h>

namespace octet {
namespace {

TEST(Stats, MeanAndSampleStddev) {
  const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(mean(x), 5.0);
  EXPECT_DOUBLE_EQ(stddev(x), std::sqrt(32.0 / 7.0));  // sum of squares 32, n - 1 = 7
  const double one[] = {3};
  EXPECT_EQ(stddev(one), 0.0);
  EXPECT_THROW(mean(std::span<const double>{}), Error);
}

TEST(Stats, PercentilesInterpolateLikeNumpy) {
  const double x[] = {15, 20, 35, 40, 50};
  // numpy.percentile([15, 20, 35, 40, 50], [0, 30, 50, 99, 100]) -> 15, 23, 35, 49.6, 50
  EXPECT_DOUBLE_EQ(percentile(x, 0), 15);
  EXPECT_NEAR(percentile(x, 30), 23, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(x, 50), 35);
  EXPECT_NEAR(percentile(x, 99), 49.6, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(x, 100), 50);
  const double unsorted[] = {50, 15, 40, 20, 35};
  EXPECT_DOUBLE_EQ(percentile(unsorted, 50), 35);
  EXPECT_THROW(percentile(x, 101), Error);
}

}  // namespace
}  // namespace octet
