// The CPU's FP8 path: the numerics a GPU's FP8 tensor cores use (E4M3
// activations per token, E4M3 weights per channel, float accumulation),
// emulated so that any machine can check CUDA results and measure FP8's cost.
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/backend_harness.h"
#include "tests/kernels/cpu/reference_util.h"
#include "tests/kernels/fp8_reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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

// The E4M3 value nearest to v, by trying every finite code (ties: either).
double nearest_e4m3(double v) {
  double best = 0;
  for (int b = 0; b < 256; ++b) {
    const double candidate = f8e4m3_to_f32(static_cast<std::uint8_t>(b));
    if (!std::isnan(candidate) && std::abs(candidate - v) < std::abs(best - v)) best = candidate;
  }
  return best;
}

// A weight row's scale is absmax / 448 * (1 + k / 32) for the k, of 0..31,
// whose nearest-E4M3 codes give the least squared error, computed here in
// float64 by exhaustive search; the codes are then the nearest to w / scale.
TEST(Fp8Quant, WeightScaleHasTheLeastErrorOfItsCandidatesAndCodesAreNearest) {
  const std::int64_t rows = 8, cols = 45;
  auto w = test::random_floats(rows * cols, 43, 0.2f);
  std::fill(w.begin() + cols, w.begin() + 2 * cols, 0.0f);  // an all-zero row gets scale 0 and zero codes
  const Tensor q = quantize_weight(test::tensor_of(w, {rows, cols}), QuantScheme::Fp8);
  int rows_not_at_absmax = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = w.data() + r * cols;
    double absmax = 0;
    for (std::int64_t c = 0; c < cols; ++c) absmax = std::max(absmax, std::abs(double{row[c]}));
    const float got_scale = q.quant()->scale.data<float>()[r];
    if (absmax == 0) {
      EXPECT_EQ(got_scale, 0.0f);
      continue;
    }
    const auto error_at = [&](double scale) {
      double sum = 0;
      for (std::int64_t c = 0; c < cols; ++c) {
        const double d = nearest_e4m3(row[c] / scale) * scale - row[c];
        sum += d * d;
      }
      return sum;
    };
    double least = std::numeric_limits<double>::infinity(), chosen_error = -1, chosen_scale = 0;
    for (int k = 0; k < 32; ++k) {
      const double scale = absmax / 448.0 * (1.0 + k / 32.0);
      least = std::min(least, error_at(scale));
      if (static_cast<float>(scale) == got_scale) chosen_error = error_at(scale), chosen_scale = scale;
    }
    ASSERT_GE(chosen_error, 0) << "row " << r << ": scale " << got_scale << " is not a candidate";
    // The search sums float32 errors: a candidate within 1e-6 of the least may win.
    EXPECT_LE(chosen_error, least * (1 + 1e-6)) << "row " << r;
    rows_not_at_absmax += chosen_scale != absmax / 448.0;
    for (std::int64_t c = 0; c < cols; ++c) {
      const double v = row[c] / chosen_scale;
      const double got = f8e4m3_to_f32(q.data<std::uint8_t>()[r * cols + c]);
      EXPECT_LE(std::abs(got - v), std::abs(nearest_e4m3(v) - v) * (1 + 1e-12)) << r << "," << c;
    }
  }
  EXPECT_GT(rows_not_at_absmax, 0) << "the search never moved a scale: it would be absmax / 448 alone";
}

}  // namespace
}  // namespace octet
