#include "kernels/cpu/matmul_f32.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <tuple>

namespace octet::cpu {
namespace {

using Shape3 = std::tuple<int, int, int>;  // M, K, N
class MatmulF32Test : public ::testing::TestWithParam<Shape3> {};

TEST_P(MatmulF32Test, MatchesFloat64Reference) {
  const auto [m, k, n] = GetParam();
  const auto x = test::random_floats(static_cast<std::size_t>(m * k), 1);
  const auto w = test::random_floats(static_cast<std::size_t>(n * k), 2);
  std::vector<float> y(static_cast<std::size_t>(m * n), -1.0f);
  MatmulF32 matmul;
  matmul.run(x.data(), w.data(), y.data(), m, k, n);
  std::vector<double> ref(y.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int p = 0; p < k; ++p) acc += static_cast<double>(x[i * k + p]) * w[j * k + p];
      ref[static_cast<std::size_t>(i * n + j)] = acc;
    }
  // float32 accumulation over K terms: error grows like sqrt(K) * 2^-24 relative
  // to the terms; 1e-5 of the output scale covers K up to a few thousand.
  EXPECT_LT(test::max_relative_error(y, ref), 1e-5);
}

TEST_P(MatmulF32Test, AddsTheBiasInThePrimitive) {
  const auto [m, k, n] = GetParam();
  const auto x = test::random_floats(static_cast<std::size_t>(m * k), 3);
  const auto w = test::random_floats(static_cast<std::size_t>(n * k), 4);
  const auto bias = test::random_floats(static_cast<std::size_t>(n), 5, 10.0f);
  std::vector<float> y(static_cast<std::size_t>(m * n), -1.0f);
  MatmulF32 matmul;
  matmul.run(x.data(), w.data(), y.data(), m, k, n, 0, bias.data());
  std::vector<double> ref(y.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = bias[static_cast<std::size_t>(j)];
      for (int p = 0; p < k; ++p) acc += static_cast<double>(x[i * k + p]) * w[j * k + p];
      ref[static_cast<std::size_t>(i * n + j)] = acc;
    }
  EXPECT_LT(test::max_relative_error(y, ref), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, MatmulF32Test,
                         ::testing::Values(Shape3{1, 1, 1}, Shape3{1, 64, 64}, Shape3{1, 67, 33}, Shape3{3, 17, 5},
                                           Shape3{2, 2048, 33}, Shape3{4, 200, 70}, Shape3{5, 130, 9},
                                           Shape3{7, 129, 255}, Shape3{16, 128, 352}, Shape3{33, 100, 1},
                                           Shape3{64, 513, 130}));

// Rows of y a stride apart (a tile of weight rows writing its columns of a
// wider y), at every M the own GEMV takes and one past: the columns between
// stay untouched.
TEST(MatmulF32, WritesRowsAStrideApart) {
  const int k = 75, n = 20, ldy = 31;
  MatmulF32 matmul;
  for (int m = 1; m <= 5; ++m) {
    const auto x = test::random_floats(static_cast<std::size_t>(m * k), 6);
    const auto w = test::random_floats(static_cast<std::size_t>(n * k), 7);
    const auto bias = test::random_floats(static_cast<std::size_t>(n), 8);
    std::vector<float> y(static_cast<std::size_t>(m * ldy), -9.0f);
    matmul.run(x.data(), w.data(), y.data(), m, k, n, ldy, bias.data());
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < ldy; ++j) {
        const float got = y[static_cast<std::size_t>(i * ldy + j)];
        if (j >= n) {
          EXPECT_EQ(got, -9.0f) << "M " << m << ": wrote past row " << i;
          continue;
        }
        double want = bias[static_cast<std::size_t>(j)];
        for (int p = 0; p < k; ++p) want += static_cast<double>(x[i * k + p]) * w[j * k + p];
        EXPECT_NEAR(got, want, 1e-5) << "M " << m << " (" << matmul.implementation(m, k, n) << ") at " << i << ", "
                                     << j;
      }
  }
}

// A hot matmul must never land on oneDNN's reference (plain loop) kernels.
TEST(MatmulF32, NeverFallsBackToReferenceImplementation) {
  MatmulF32 matmul;
  for (std::int64_t m : {1, 3, 8, 64, 128, 512}) {
    const std::string impl = matmul.implementation(m, 288, 768);
    EXPECT_FALSE(impl.empty());
    EXPECT_EQ(impl.find("ref"), std::string::npos) << "M=" << m << ": " << impl;
  }
}

}  // namespace
}  // namespace octet::cpu
