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

// Each exp_row kernel this build has, against float64 e^(scale * (x - max)):
// every length up to 40 (AVX-512's tails under a mask), longer rows, masked
// (-inf) scores, a NaN, and a scale other than 1.
void expect_exp_row_matches_float64(float (*exp_row_kernel)(float*, int, float)) {
  std::mt19937 rng(5);
  std::normal_distribution<float> score(0.0f, 8.0f);
  std::vector<int> lengths;
  for (int n = 1; n <= 40; ++n) lengths.push_back(n);
  for (const int n : {127, 128, 129, 1000}) lengths.push_back(n);
  for (const int n : lengths) {
    for (const float scale : {1.0f, 0.125f}) {
      std::vector<float> row(static_cast<std::size_t>(n) + 1);
      for (auto& v : row) v = score(rng);
      if (n > 3) row[2] = -INFINITY;  // a masked key
      row.back() = 1e30f;             // past the row: neither read nor written
      const std::vector<float> in = row;
      double max_value = in[0];
      for (int j = 0; j < n; ++j) max_value = std::max(max_value, static_cast<double>(in[static_cast<std::size_t>(j)]));
      const float sum = exp_row_kernel(row.data(), n, scale);
      double want_sum = 0.0;
      for (int j = 0; j < n; ++j) {
        const auto at = static_cast<std::size_t>(j);
        const double d = (in[at] - max_value) * scale;
        const double want = std::exp(std::max(d, -87.33654));
        want_sum += want;
        // A few ulps, plus the float rounding of x - max (see SoftmaxRow below).
        EXPECT_NEAR(row[at], want, want * (3e-7 + std::fabs(d) * 6e-8)) << "n " << n << " j " << j;
      }
      // Each term's error, plus a float sum of n positive terms: at most n
      // roundings of 2^-24 (an unvectorized build adds them one by one; a
      // Debug build was 1.02e-6 off over 1000).
      EXPECT_NEAR(sum, want_sum, want_sum * (3e-7 + n * 6e-8)) << "n " << n;
      EXPECT_EQ(row.back(), 1e30f) << "n " << n;
    }
  }
  std::vector<float> with_nan = {1.0f, NAN, 2.0f};
  EXPECT_TRUE(std::isnan(exp_row_kernel(with_nan.data(), 3, 1.0f)));
  EXPECT_TRUE(std::isnan(with_nan[1]));
  EXPECT_FLOAT_EQ(with_nan[2], 1.0f);
}

TEST(ExpRow, PortableMatchesFloat64) { expect_exp_row_matches_float64(exp_row_portable); }

TEST(ExpRow, Avx512MatchesFloat64) {
#ifdef __AVX512F__
  expect_exp_row_matches_float64(exp_row_avx512);
#else
  GTEST_SKIP() << "this build targets no AVX-512 (exp_row runs exp_row_portable)";
#endif
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
