#include "kernels/cpu/softmax_f32.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace octet::cpu {
namespace {

TEST(ExpF32, WithinThreeUlpsOfDoubleExpOverTheWholeRange) {
  double worst = 0.0;
  float worst_at = 0.0f;
  // Every 2^-10 from -87 to 88, plus the ends of the reduction interval.
  for (float x = -87.0f; x <= 88.0f; x += 1.0f / 1024) {
    const double want = std::exp(static_cast<double>(x));
    const double error = std::fabs(exp_f32(x) - want) / want;
    if (error > worst) worst = error, worst_at = x;
  }
  // One float ulp is 2^-23 = 1.19e-7 relative at most.
  EXPECT_LT(worst, 3 * 1.1920929e-7) << "at x = " << worst_at;
  EXPECT_EQ(exp_f32(0.0f), 1.0f);
}

TEST(ExpF32, GivesNanForNan) {
  EXPECT_TRUE(std::isnan(exp_f32(NAN)));  // (and no float-to-int conversion of a NaN on the way: UBSan)
  EXPECT_TRUE(std::isnan(exp_f32(-NAN)));
}

TEST(ExpF32, UnderflowsToATinyNonNegativeValue) {
  for (const float x : {-87.5f, -100.0f, -1e30f, -INFINITY}) {
    const float got = exp_f32(x);
    EXPECT_GE(got, 0.0f) << x;
    EXPECT_LE(got, 1.2e-38f) << x;
  }
}

TEST(SoftmaxRow, MatchesFloat64OnRowsOfEveryLengthAndSpread) {
  std::mt19937 rng(3);
  for (const int n : {1, 7, 16, 33, 128, 1000}) {
    for (const float spread : {0.1f, 10.0f, 200.0f}) {
      std::normal_distribution<float> score(0.0f, spread);
      std::vector<float> row(static_cast<std::size_t>(n));
      for (auto& v : row) v = score(rng);
      const std::vector<double> scores(row.begin(), row.end());
      double max_value = scores[0], sum = 0.0;
      for (const double v : scores) max_value = std::max(max_value, v);
      std::vector<double> want(scores.size());
      for (std::size_t j = 0; j < want.size(); ++j) sum += (want[j] = std::exp(scores[j] - max_value));
      softmax_row(row.data(), n);
      double total = 0.0;
      for (std::size_t j = 0; j < want.size(); ++j) {
        const double p = want[j] / sum, d = std::fabs(scores[j] - max_value);
        total += row[j];
        // Relative: a few ulps for exp, the sum and the division, plus the
        // float rounding of score - max (half an ulp of d, which e^d turns
        // into a relative error of d * 2^-24); absolute 1e-30 for underflows.
        EXPECT_NEAR(row[j], p, p * (1e-6 + d * 6e-8) + 1e-30) << "n " << n << " spread " << spread << " d " << d;
      }
      EXPECT_NEAR(total, 1.0, 1e-5) << "n " << n << " spread " << spread;
    }
  }
}

}  // namespace
}  // namespace octet::cpu
