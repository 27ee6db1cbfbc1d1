#include "kernels/cpu/gemm_int8.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

namespace octet::cpu {
namespace {

// sum_k x[i, k] * w[j, k] in float64, for int8 or float activations.
template <typename X>
double reference_dot(const std::vector<X>& x, const std::vector<std::int8_t>& w, int i, int j, int k) {
  double acc = 0;
  for (int p = 0; p < k; ++p) {
    acc += static_cast<double>(x[static_cast<std::size_t>(i * k + p)]) * w[static_cast<std::size_t>(j * k + p)];
  }
  return acc;
}

using Shape3 = std::tuple<int, int, int>;  // M, K, N
class GemmInt8Test : public ::testing::TestWithParam<Shape3> {};

TEST_P(GemmInt8Test, ExactInt32Products) {
  const auto [m, k, n] = GetParam();
  auto x = test::random_int8(static_cast<std::size_t>(m * k), 31);
  auto w = test::random_int8(static_cast<std::size_t>(n * k), 32);
  // Extremes everywhere in the first row: the case where int16 pair sums would saturate.
  for (int i = 0; i < k; ++i)
    x[static_cast<std::size_t>(i)] = (i % 2) ? 127 : -127, w[static_cast<std::size_t>(i)] = (i % 2) ? 127 : -127;
  std::vector<std::int32_t> acc(static_cast<std::size_t>(m * n));
  gemm_s8s8_s32(x.data(), w.data(), acc.data(), m, k, n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      // Exact: the float64 sum of integers below 2^53.
      const auto want = static_cast<std::int64_t>(reference_dot(x, w, i, j, k));
      ASSERT_EQ(acc[static_cast<std::size_t>(i * n + j)], want) << "m " << i << " n " << j;
    }
}

TEST_P(GemmInt8Test, FusedDequantizationMatchesScaledProducts) {
  const auto [m, k, n] = GetParam();
  const auto x = test::random_int8(static_cast<std::size_t>(m * k), 33),
             w = test::random_int8(static_cast<std::size_t>(n * k), 34);
  const auto xs = test::random_floats(static_cast<std::size_t>(m), 35),
             ws = test::random_floats(static_cast<std::size_t>(n), 36);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  gemm_s8s8_f32(x.data(), xs.data(), w.data(), ws.data(), y.data(), m, k, n);
  std::vector<double> ref(y.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const double acc = reference_dot(x, w, i, j, k);
      ref[static_cast<std::size_t>(i * n + j)] =
          acc * xs[static_cast<std::size_t>(i)] * ws[static_cast<std::size_t>(j)];
    }
  // The product is exact; two float roundings of the scales remain.
  EXPECT_LT(test::max_relative_error(y, ref), 1e-6);
}

TEST_P(GemmInt8Test, BiasIsAddedInTheSamePass) {
  const auto [m, k, n] = GetParam();
  const auto x = test::random_int8(static_cast<std::size_t>(m * k), 43),
             w = test::random_int8(static_cast<std::size_t>(n * k), 44);
  const auto xs = test::random_floats(static_cast<std::size_t>(m), 45),
             ws = test::random_floats(static_cast<std::size_t>(n), 46),
             bias = test::random_floats(static_cast<std::size_t>(n), 47, 100.0f);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  gemm_s8s8_f32(x.data(), xs.data(), w.data(), ws.data(), y.data(), m, k, n, bias.data());
  std::vector<double> ref(y.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      ref[static_cast<std::size_t>(i * n + j)] =
          reference_dot(x, w, i, j, k) * xs[static_cast<std::size_t>(i)] * ws[static_cast<std::size_t>(j)] +
          bias[static_cast<std::size_t>(j)];
    }
  EXPECT_LT(test::max_relative_error(y, ref), 1e-6);
}

TEST_P(GemmInt8Test, WeightOnlyMatchesFloatReferenceOfSameValues) {
  const auto [m, k, n] = GetParam();
  const auto x = test::random_floats(static_cast<std::size_t>(m * k), 37);
  const auto w = test::random_int8(static_cast<std::size_t>(n * k), 38);
  const auto ws = test::random_floats(static_cast<std::size_t>(n), 39);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  gemm_f32s8_f32(x.data(), w.data(), ws.data(), y.data(), m, k, n);
  std::vector<double> ref(y.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const double acc = reference_dot(x, w, i, j, k);
      ref[static_cast<std::size_t>(i * n + j)] = acc * ws[static_cast<std::size_t>(j)];
    }
  // Float accumulation of K products of size ~127: 1e-5 of the output scale.
  EXPECT_LT(test::max_relative_error(y, ref), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(IssueSizes, GemmInt8Test,
                         ::testing::Values(Shape3{1, 1, 1}, Shape3{1, 33, 7}, Shape3{3, 100, 9}, Shape3{8, 257, 31},
                                           Shape3{6, 70, 13}, Shape3{7, 64, 5}, Shape3{9, 96, 11}, Shape3{64, 95, 130},
                                           Shape3{128, 300, 65}, Shape3{5, 2048, 3}));

// Several cache tiles each way, the last ones partial and not a whole number
// of register blocks: 300 rows at k = 300 are tiles of 128, 128 and 44 rows;
// at k = 8200 a tile holds 28 rows, so 61 x 70 is 3 x 3 tiles.
INSTANTIATE_TEST_SUITE_P(CacheTiles, GemmInt8Test, ::testing::Values(Shape3{300, 300, 77}, Shape3{61, 8200, 70}));

// The VNNI form sums (x + 128) * w, up to 255 * 127 a product, and takes 128 *
// sum(w) off after: with K = 70000 and every value 127 the shifted sums pass
// 2^31 (70000 * 255 * 127 = 2.27e9) where the products' own (1.13e9) do not.
// int32 arithmetic wraps alike on both sides, so the result is still exact.
TEST(GemmInt8, ExactWhereShiftedSumsPassInt32) {
  const int m = 5, k = 70000, n = 4;  // 5 rows: the prompts' kernel
  const std::vector<std::int8_t> x(static_cast<std::size_t>(m * k), 127), w(static_cast<std::size_t>(n * k), 127);
  std::vector<std::int32_t> acc(static_cast<std::size_t>(m * n));
  gemm_s8s8_s32(x.data(), w.data(), acc.data(), m, k, n);
  for (const std::int32_t sum : acc) ASSERT_EQ(sum, 70000 * 127 * 127);
}

}  // namespace
}  // namespace octet::cpu
