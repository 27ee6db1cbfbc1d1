// The CPU's FP8 path: the numerics a GPU's FP8 tensor cores use (E4M3
// activations per token, E4M3 weights per channel, float accumulation),
// emulated so that any machine can check CUDA results and measure FP8's cost.
#include "engine/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/backend_harness.h"
#include "tests/kernels/cpu/reference_util.h"
#include "tests/kernels/fp8_reference.h"

#include <gtest/gtest.h>

#include <tuple>

namespace octet {
namespace {

using Shape3 = std::tuple<int, int, int>;  // M, K, N
class CpuFp8MatmulTest : public ::testing::TestWithParam<Shape3> {};

TEST_P(CpuFp8MatmulTest, MatchesFloat64ProductOfTheSameQuantizedValues) {
  const auto [m, k, n] = GetParam();
  const auto x = test::random_floats(static_cast<std::size_t>(m * k), 41, 2.0f);
  const Tensor w = quantize_weight(test::tensor_of(test::random_floats(static_cast<std::size_t>(n * k), 42), {n, k}),
                                   QuantScheme::Fp8);
  ASSERT_EQ(w.dtype(), DType::F8E4M3);
  auto backend = make_cpu_backend(0);
  const auto got =
      test::run_node(*backend, OpKind::MatMul, {{test::tensor_of(x, {m, k})}, {w, ValueKind::Weight}}, {m, n});
  // Products of two E4M3 values are exact in float; what remains is float
  // accumulation over K terms and two roundings of the scales.
  EXPECT_LT(test::max_relative_error(got.output, test::fp8_reference_product(x, m, k, w)), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(IssueSizes, CpuFp8MatmulTest,
                         ::testing::Values(Shape3{1, 100, 130}, Shape3{3, 257, 7}, Shape3{8, 64, 300},
                                           Shape3{64, 95, 130}, Shape3{128, 300, 65}));

TEST(Fp8Quant, WeightCodesAreTheNearestE4M3ToTheScaledFloat64Value) {
  const std::int64_t rows = 6, cols = 45;
  auto w = test::random_floats(rows * cols, 43, 0.2f);
  std::fill(w.begin() + cols, w.begin() + 2 * cols, 0.0f);  // an all-zero row gets scale 0 and zero codes
  const Tensor q = quantize_weight(test::tensor_of(w, {rows, cols}), QuantScheme::Fp8);
  for (std::int64_t r = 0; r < rows; ++r) {
    double absmax = 0;
    for (std::int64_t c = 0; c < cols; ++c)
      absmax = std::max(absmax, std::abs(double{w[static_cast<std::size_t>(r * cols + c)]}));
    EXPECT_EQ(q.quant()->scale.data<float>()[r], static_cast<float>(absmax / 448.0));
    for (std::int64_t c = 0; c < cols; ++c) {
      const double v = absmax > 0 ? w[static_cast<std::size_t>(r * cols + c)] * (448.0 / absmax) : 0.0;
      const double got = f8e4m3_to_f32(q.data<std::uint8_t>()[r * cols + c]);
      // Nearest: no E4M3 value is closer to v than the chosen one (ties either way).
      for (int b = 0; b < 256; ++b) {
        const double other = f8e4m3_to_f32(static_cast<std::uint8_t>(b));
        if (!std::isnan(other)) {
          ASSERT_LE(std::abs(got - v), std::abs(other - v) * (1 + 1e-12)) << r << "," << c;
        }
      }
    }
  }
  EXPECT_EQ(q.quant()->scale.data<float>()[1], 0.0f);
}

}  // namespace
}  // namespace octet
