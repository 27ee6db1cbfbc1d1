// The own small-M int8 product over the panels layout (gemv_int8_panels.h):
// weights laid out here by the layout's definition (independently of oneDNN,
// whose packed copies the backend hands it; matmul_int8_dnnl_test checks
// those), products exact in int32 against int64 sums, and the scaled floats
// against the own AVX2 kernel's expression in float64.
#include "kernels/cpu/gemv_int8_panels.h"
#include "tests/kernels/cpu/panels_layout.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace octet::cpu {
namespace {

class GemvPanelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!panels_built()) GTEST_SKIP() << "this build's CPU has no AVX2: the panels GEMV is not compiled";
  }
};

TEST_F(GemvPanelsTest, OffsetsAre128TimesEachColumnsSum) {
  const std::int64_t n = 70, k = 101;
  const auto w = test::random_int8(static_cast<std::size_t>(n * k), 5);
  const auto p = test::to_panels(w, n, k);
  std::vector<std::int32_t> offsets(static_cast<std::size_t>(test::padded(n)), -1);
  panel_offsets(p.data(), k, n, offsets.data());
  for (std::int64_t j = 0; j < test::padded(n); ++j) {
    std::int64_t sum = 0;
    for (std::int64_t kk = 0; j < n && kk < k; ++kk) sum += w[static_cast<std::size_t>(j * k + kk)];
    EXPECT_EQ(offsets[static_cast<std::size_t>(j)], 128 * sum) << "column " << j;
  }
}

// With unit scales and no bias every output is its int32 sum, exactly (|sum|
// < 2^24 here, so the float holds it): M = 1..8 (past one register block of
// 4 rows; in 256 bits, pairs of rows then one), K and N not multiples of 4,
// 16 or 64, weights and activations at +-127 included (the u8 offset's
// extremes).
TEST_F(GemvPanelsTest, ExactInInt32) {
  for (const auto& [k, n] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {1, 1}, {3, 17}, {100, 37}, {257, 70}, {520, 300}, {64, 64}}) {
    for (std::int64_t m = 1; m <= 8; ++m) {
      auto w = test::random_int8(static_cast<std::size_t>(n * k), 11);
      auto x = test::random_int8(static_cast<std::size_t>(m * k), 12);
      w[0] = 127, x[0] = -127;
      if (k > 1) w[1] = -127, x[1] = 127;
      const auto p = test::to_panels(w, n, k);
      std::vector<std::int32_t> offsets(static_cast<std::size_t>(test::padded(n)));
      panel_offsets(p.data(), k, n, offsets.data());
      const std::vector<float> ones(static_cast<std::size_t>(std::max(m, n)), 1.0f);
      std::vector<float> y(static_cast<std::size_t>(m * n + 1), -1.0f);
      gemv_s8s8_f32_panels(x.data(), ones.data(), p.data(), offsets.data(), ones.data(), y.data(), m, k, n);
      EXPECT_EQ(y.back(), -1.0f) << "wrote past y";
      y.pop_back();
      ASSERT_TRUE(test::exact_sums(y, x, w, m, k, n)) << "M " << m << " K " << k << " N " << n;
    }
  }
}

// Scales and bias: within a few float roundings of float64.
TEST_F(GemvPanelsTest, ScalesAndBiasAgainstFloat64) {
  const std::int64_t m = 3, k = 300, n = 130;
  const auto w = test::random_int8(static_cast<std::size_t>(n * k), 21);
  const auto x = test::random_int8(static_cast<std::size_t>(m * k), 22);
  auto x_scale = test::random_floats(static_cast<std::size_t>(m), 23, 0.01f);
  auto w_scale = test::random_floats(static_cast<std::size_t>(n), 24, 0.01f);
  for (auto& s : x_scale) s = std::abs(s) + 1e-3f;
  for (auto& s : w_scale) s = std::abs(s) + 1e-3f;
  const auto bias = test::random_floats(static_cast<std::size_t>(n), 25);
  const auto p = test::to_panels(w, n, k);
  std::vector<std::int32_t> offsets(static_cast<std::size_t>(test::padded(n)));
  panel_offsets(p.data(), k, n, offsets.data());
  std::vector<float> y(static_cast<std::size_t>(m * n));
  gemv_s8s8_f32_panels(x.data(), x_scale.data(), p.data(), offsets.data(), w_scale.data(), y.data(), m, k, n,
                       bias.data());
  EXPECT_LT(test::max_relative_error(y, test::scaled_int8_product(x, x_scale, w, w_scale, bias, m, k, n)), 1e-6);
}

// Several weights of the same K in one loop (a layer's q, k, v): each y is
// bit for bit what its product alone writes, bias or none, M = 1..8, panel
// counts of 1, 2 and 3 (N = 37, 70, 130) so that the threads' shares straddle
// the products.
TEST_F(GemvPanelsTest, ProductsTogetherEqualEachAlone) {
  const std::int64_t k = 300;
  const std::int64_t ns[] = {130, 37, 70};
  struct Weight {
    std::vector<std::int8_t> panels;
    std::vector<std::int32_t> offsets;
    std::vector<float> scale, bias;
  };
  std::vector<Weight> weights;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::int64_t n = ns[i];
    Weight w{
        test::to_panels(test::random_int8(static_cast<std::size_t>(n * k), 30 + static_cast<std::uint32_t>(i)), n, k),
        std::vector<std::int32_t>(static_cast<std::size_t>(test::padded(n))),
        test::random_floats(static_cast<std::size_t>(n), 40 + static_cast<std::uint32_t>(i), 0.01f),
        i == 1 ? std::vector<float>{} : test::random_floats(static_cast<std::size_t>(n), 50)};
    panel_offsets(w.panels.data(), k, n, w.offsets.data());
    weights.push_back(std::move(w));
  }
  for (std::int64_t m = 1; m <= 8; ++m) {
    const auto x = test::random_int8(static_cast<std::size_t>(m * k), 60);
    auto x_scale = test::random_floats(static_cast<std::size_t>(m), 61, 0.02f);
    std::vector<std::vector<float>> alone, together;
    std::vector<PanelsProduct> products;
    for (std::size_t i = 0; i < 3; ++i) {
      const Weight& w = weights[i];
      const float* bias = w.bias.empty() ? nullptr : w.bias.data();
      alone.emplace_back(static_cast<std::size_t>(m * ns[i]));
      gemv_s8s8_f32_panels(x.data(), x_scale.data(), w.panels.data(), w.offsets.data(), w.scale.data(),
                           alone.back().data(), m, k, ns[i], bias);
      together.emplace_back(static_cast<std::size_t>(m * ns[i]), -1.0f);
    }
    for (std::size_t i = 0; i < 3; ++i) {
      const Weight& w = weights[i];
      products.push_back(
          {{w.panels.data(), w.scale.data(), together[i].data(), ns[i], w.bias.empty() ? nullptr : w.bias.data()},
           w.offsets.data()});
    }
    gemv_s8s8_f32_panels(x.data(), x_scale.data(), products, m, k);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(together[i], alone[i]) << "M " << m << ", product " << i;
  }
}

}  // namespace
}  // namespace octet::cpu
