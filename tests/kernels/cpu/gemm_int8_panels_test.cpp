// The own large-M int8 product over the panels layout (gemm_int8_panels.h):
// weights laid out by the layout's definition, products exact in int32
// against int64 sums, the scaled floats bit for bit those of the panels GEMV
// (and within float roundings of float64), and the row epilogue. M covers
// every register tile remainder (tiles of 6 rows) and both ways the threads
// share the work (the rows, or for few rows the panels).
#include "kernels/cpu/gemm_int8_panels.h"
#include "kernels/cpu/gemv_int8_panels.h"
#include "tests/kernels/cpu/panels_layout.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace octet::cpu {
namespace {

class GemmPanelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!panels_built()) GTEST_SKIP() << "this build's CPU has no AVX2: the panels GEMM is not compiled";
  }
};

struct Packed {
  std::vector<std::int8_t> panels;
  std::vector<std::int32_t> offsets;
};

Packed pack(const std::vector<std::int8_t>& w, std::int64_t n, std::int64_t k) {
  Packed p{test::to_panels(w, n, k), std::vector<std::int32_t>(static_cast<std::size_t>(test::padded(n)))};
  panel_offsets(p.panels.data(), k, n, p.offsets.data());
  return p;
}

std::vector<float> positive_scales(std::size_t n, std::uint32_t seed) {
  auto s = test::random_floats(n, seed, 0.01f);
  for (auto& v : s) v = std::abs(v) + 1e-3f;
  return s;
}

// y = gemm_s8s8_f32_panels(...), with a sentinel past its end.
std::vector<float> gemm(const std::vector<std::int8_t>& x, const std::vector<float>& x_scale, const Packed& w,
                        const std::vector<float>& w_scale, const float* bias, std::int64_t m, std::int64_t k,
                        std::int64_t n, const std::function<void(std::int64_t, float*)>& then = {}) {
  std::vector<std::uint8_t> scratch(static_cast<std::size_t>(gemm_panels_scratch_bytes(m, k)));
  std::vector<float> y(static_cast<std::size_t>(m * n + 1), -1.0f);
  gemm_s8s8_f32_panels(x.data(), x_scale.data(), w.panels.data(), w.offsets.data(), w_scale.data(), y.data(), m, k, n,
                       bias, scratch.data(), then);
  EXPECT_EQ(y.back(), -1.0f) << "wrote past y";
  y.pop_back();
  return y;
}

// With unit scales and no bias every output is its int32 sum, exactly (|sum|
// < 2^24 here, so the float holds it): K and N not multiples of 4, 16 or 64,
// weights and activations at +-127 included (the u8 offset's extremes).
// Chunks of panels: at K = 520 a thread with all 5 panels of N = 300 (rows
// split, 300 rows) runs them in chunks of 1, 2 and 2, one with a share of
// them (fewer rows) in chunks of 1 and up to 2; K = 3072 makes each panel a
// chunk of its own. Passes of rows fetch the next chunk while they multiply.
TEST_F(GemmPanelsTest, ExactInInt32) {
  for (const auto& [k, n] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {1, 1}, {3, 17}, {100, 37}, {257, 70}, {520, 300}, {768, 64}, {3072, 200}}) {
    auto w = test::random_int8(static_cast<std::size_t>(n * k), 11);
    w[0] = 127;
    if (k > 1) w[1] = -127;
    const Packed packed = pack(w, n, k);
    for (const std::int64_t m : {1, 5, 6, 7, 13, 47, 300}) {
      auto x = test::random_int8(static_cast<std::size_t>(m * k), 12 + static_cast<std::uint32_t>(m));
      x[0] = -127;
      if (k > 1) x[1] = 127;
      const std::vector<float> ones(static_cast<std::size_t>(std::max(m, n)), 1.0f);
      ASSERT_TRUE(test::exact_sums(gemm(x, ones, packed, ones, nullptr, m, k, n), x, w, m, k, n))
          << "M " << m << " K " << k << " N " << n;
    }
  }
}

// Scales and bias (or none): the same floats as the panels GEMV, which the
// model runs at small M, so that a row does not change with the batch it is
// in; and within a few float roundings of float64.
TEST_F(GemmPanelsTest, ScaledLikeTheGemvAndFloat64) {
  const std::int64_t k = 520, n = 300;
  const auto w = test::random_int8(static_cast<std::size_t>(n * k), 21);
  const Packed packed = pack(w, n, k);
  const auto w_scale = positive_scales(static_cast<std::size_t>(n), 22);
  const auto bias = test::random_floats(static_cast<std::size_t>(n), 23);
  for (const std::int64_t m : {9, 47, 300}) {
    const auto x = test::random_int8(static_cast<std::size_t>(m * k), 24);
    const auto x_scale = positive_scales(static_cast<std::size_t>(m), 25);
    for (const bool with_bias : {false, true}) {
      const float* b = with_bias ? bias.data() : nullptr;
      const auto y = gemm(x, x_scale, packed, w_scale, b, m, k, n);
      std::vector<float> want(y.size());
      gemv_s8s8_f32_panels(x.data(), x_scale.data(), packed.panels.data(), packed.offsets.data(), w_scale.data(),
                           want.data(), m, k, n, b);
      EXPECT_EQ(y, want) << "M " << m << (with_bias ? " with bias" : "");
      const auto exact =
          test::scaled_int8_product(x, x_scale, w, w_scale, with_bias ? bias : std::vector<float>{}, m, k, n);
      EXPECT_LT(test::max_relative_error(y, exact), 1e-6) << "M " << m;
    }
  }
}

// `then` sees each row once, with its final floats, and what it writes stays.
TEST_F(GemmPanelsTest, TheRowEpilogueSeesEachFinishedRowOnce) {
  const std::int64_t k = 520, n = 300;
  const Packed packed = pack(test::random_int8(static_cast<std::size_t>(n * k), 31), n, k);
  const auto w_scale = positive_scales(static_cast<std::size_t>(n), 32);
  const auto bias = test::random_floats(static_cast<std::size_t>(n), 33);
  for (const std::int64_t m : {13, 300}) {
    const auto x = test::random_int8(static_cast<std::size_t>(m * k), 34);
    const auto x_scale = positive_scales(static_cast<std::size_t>(m), 35);
    auto want = gemm(x, x_scale, packed, w_scale, bias.data(), m, k, n);
    std::vector<int> calls(static_cast<std::size_t>(m), 0);  // one slot per row: no two threads share one
    std::vector<float> seen(want.size());
    const auto then = [&](std::int64_t row, float* y) {
      ASSERT_TRUE(row >= 0 && row < m) << row;
      ++calls[static_cast<std::size_t>(row)];
      std::copy(y, y + n, seen.begin() + row * n);
      for (std::int64_t j = 0; j < n; ++j) y[j] = -y[j];
    };
    const auto got = gemm(x, x_scale, packed, w_scale, bias.data(), m, k, n, then);
    EXPECT_EQ(calls, std::vector<int>(static_cast<std::size_t>(m), 1)) << "M " << m;
    EXPECT_EQ(seen, want) << "M " << m;
    for (float& v : want) v = -v;
    EXPECT_EQ(got, want) << "M " << m;
  }
}

}  // namespace
}  // namespace octet::cpu
