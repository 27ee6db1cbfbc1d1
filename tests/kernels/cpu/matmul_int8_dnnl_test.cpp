// oneDNN's int8 matmul (MatmulInt8Dnnl): the packed product against float64,
// and the rule that the backend gets oneDNN's brgemm kernels exactly where
// the CPU has AVX-512 VNNI (checked by cpuid, independently of oneDNN), the
// own panels kernels where it has VNNI in 256 bits alone, and never a slower
// fallback.
#include "kernels/cpu/matmul_int8_dnnl.h"

#include "kernels/cpu/gemv_int8_panels.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>

namespace octet::cpu {
namespace {

std::vector<float> positive_scales(std::size_t n, std::uint32_t seed) {
  auto s = test::random_floats(n, seed, 0.01f);
  for (auto& v : s) v = std::abs(v) + 1e-3f;
  return s;
}

// Runs one product on `matmul` (packing w first); false where it declines.
bool product(MatmulInt8Dnnl& matmul, int m, int k, int n, int weight_limit, bool with_bias, double* error) {
  const auto x = test::random_int8(static_cast<std::size_t>(m * k), 41);
  const auto w = test::random_int8(static_cast<std::size_t>(n * k), 42, weight_limit);
  const auto x_scale = positive_scales(static_cast<std::size_t>(m), 43);
  const auto w_scale = positive_scales(static_cast<std::size_t>(n), 44);
  const auto bias = with_bias ? test::random_floats(static_cast<std::size_t>(n), 45) : std::vector<float>{};
  std::vector<float> y(static_cast<std::size_t>(m * n), -1.0f);
  if (!matmul.pack(w.data(), k, n)) return false;
  if (!matmul.prepare(m, k, n)) return false;
  if (!matmul.run(x.data(), x_scale.data(), w.data(), w_scale.data(), y.data(), m, k, n,
                  with_bias ? bias.data() : nullptr)) {
    return false;
  }
  // The int32 sum is exact; two float scalings and a bias add are a few roundings.
  *error = test::max_relative_error(y, test::scaled_int8_product(x, x_scale, w, w_scale, bias, m, k, n));
  return true;
}

using Shape3 = std::tuple<int, int, int>;  // M, K, N
class MatmulInt8DnnlTest : public ::testing::TestWithParam<Shape3> {};

// Whatever kernel oneDNN picks on this CPU: the packing, the scale and bias
// post-ops and the primitive cache. Weights within [-63, 63] so that even
// oneDNN's AVX2 gemm:jit, which sums u8 x s8 pairs in saturating int16, is exact.
TEST_P(MatmulInt8DnnlTest, PackedProductWithScalesAndBias) {
  const auto [m, k, n] = GetParam();
  MatmulInt8Dnnl matmul(MatmulInt8Dnnl::Kernels::Any);
  for (const bool with_bias : {false, true}) {
    double error = 1.0;
    ASSERT_TRUE(product(matmul, m, k, n, 63, with_bias, &error)) << "oneDNN has some int8 kernel for every shape";
    EXPECT_LT(error, 1e-6) << m << "x" << k << "x" << n << (with_bias ? " with bias" : "");
  }
}

INSTANTIATE_TEST_SUITE_P(IssueSizes, MatmulInt8DnnlTest,
                         ::testing::Values(Shape3{1, 100, 37}, Shape3{3, 257, 31}, Shape3{8, 33, 70},
                                           Shape3{64, 95, 130}, Shape3{128, 300, 65}));

TEST(MatmulInt8Dnnl, DeclinesWeightsItHasNotPacked) {
  MatmulInt8Dnnl matmul(MatmulInt8Dnnl::Kernels::Any);
  const auto x = test::random_int8(64, 1), w = test::random_int8(64, 2);
  const std::vector<float> scales(8, 1.0f);
  std::vector<float> y(8, 7.0f);
  EXPECT_FALSE(matmul.run(x.data(), scales.data(), w.data(), scales.data(), y.data(), 1, 8, 8));
  ASSERT_TRUE(matmul.pack(w.data(), 8, 8));
  EXPECT_FALSE(matmul.run(x.data(), scales.data(), w.data(), scales.data(), y.data(), 1, 16, 4))
      << "a packed weight used with another shape";
  EXPECT_EQ(y, std::vector<float>(8, 7.0f)) << "a declined product writes nothing";
}

// What the CPU backend gets: oneDNN's brgemm kernels at every M a model runs
// (with the full int8 weight range, exactly) where the CPU has AVX-512 VNNI,
// or the own kernels over oneDNN's panels layout (the GEMV up to kPanelRows
// rows; past it, where the activations are shifted (VNNI without AMX), the
// GEMM); where oneDNN has no int8 brgemm (AVX-VNNI or AVX2 alone, or oneDNN
// capped below AVX-512 VNNI), the own panels kernels at every M, in the form
// this build has.
TEST(MatmulInt8Dnnl, BrgemmOrOwnPanelsAtEveryM) {
  __builtin_cpu_init();
  const bool vnni = __builtin_cpu_supports("avx512vnni");
  if (std::getenv("ONEDNN_MAX_CPU_ISA") == nullptr) {
    ASSERT_EQ(MatmulInt8Dnnl::cpu_has_int8_brgemm(), vnni) << "oneDNN and cpuid disagree about AVX-512 VNNI";
  }  // (else oneDNN runs on less than cpuid says, as told)
  const bool brgemm = MatmulInt8Dnnl::cpu_has_int8_brgemm();
  const bool own_only = MatmulInt8Dnnl::own_panels_only();
  // What the compiler was told this build's CPU has, as the panels kernels are compiled.
#if defined(__AVX2__)
  constexpr bool build_has_panels = true;
#else
  constexpr bool build_has_panels = false;
#endif
  EXPECT_EQ(own_only, !brgemm && build_has_panels) << "own panels kernels exactly where oneDNN has no int8 brgemm";
  const std::string form = panels_form();
  MatmulInt8Dnnl matmul;
  for (const int m : {1, 3, 8, 9, 64, 128}) {
    double error = 1.0;
    const bool ran = product(matmul, m, 520, 300, 127, true, &error);
    EXPECT_EQ(ran, brgemm || own_only) << "M = " << m;
    if (!ran) continue;
    EXPECT_LT(error, 1e-6) << "M = " << m;
    const std::string implementation = matmul.implementation(m, 520, 300);
    const bool gemv = m <= MatmulInt8Dnnl::kPanelRows && implementation == "octet:gemv_panels_" + form;
    const bool gemm = m > MatmulInt8Dnnl::kPanelRows && implementation == "octet:gemm_panels_" + form;
    if (own_only) {
      EXPECT_TRUE(gemv || gemm) << "M = " << m << " ran on " << implementation;
      continue;
    }
    const bool shifted = MatmulInt8Dnnl::fastest_activations() == MatmulInt8Dnnl::Activations::Shifted;
    EXPECT_TRUE(implementation.starts_with("brg") || (gemm && shifted) || gemv)
        << "M = " << m << " fell back to " << implementation;
  }
}

// On a CPU with AMX and AVX-512 VNNI, oneDNN packs int8 weights in the panels
// layout (without oneDNN's int8 brgemm, MatmulInt8Dnnl does) and products of up to
// kPanelRows rows run on the own GEMV over that same copy: exact in int32
// (unit scales, sums below 2^24) at every M around the switch, K and N not
// multiples of 64, so a misread layout shows.
TEST(MatmulInt8Dnnl, SmallProductsReadTheSamePanelsCopy) {
  __builtin_cpu_init();
  if (!MatmulInt8Dnnl::own_panels_only() &&
      (!__builtin_cpu_supports("avx512vnni") || !MatmulInt8Dnnl::cpu_has_int8_brgemm())) {
    GTEST_SKIP() << "no panels layout here: oneDNN's int8 brgemm runs on other layouts, or this build has no AVX2";
  }
  const int k = 520, n = 300;
  MatmulInt8Dnnl matmul;
  const auto w = test::random_int8(static_cast<std::size_t>(n * k), 52);
  ASSERT_TRUE(matmul.pack(w.data(), k, n));
  if (matmul.implementation(1, k, n) != std::string("octet:gemv_panels_") + panels_form()) {
    GTEST_SKIP() << "oneDNN's packed layout here is not the panels one (a CPU without AMX): M = 1 runs on "
                 << matmul.implementation(1, k, n);
  }
  for (int m = 1; m <= MatmulInt8Dnnl::kPanelRows + 2; ++m) {
    const auto x = test::random_int8(static_cast<std::size_t>(m * k), 53u + static_cast<std::uint32_t>(m));
    const std::vector<float> ones(static_cast<std::size_t>(n), 1.0f);
    std::vector<float> y(static_cast<std::size_t>(m * n));
    ASSERT_TRUE(matmul.run(x.data(), ones.data(), w.data(), ones.data(), y.data(), m, k, n)) << "M = " << m;
    ASSERT_TRUE(test::exact_sums(y, x, w, m, k, n)) << "M = " << m << " (" << matmul.implementation(m, k, n) << ")";
  }
}

// Activations handed to oneDNN as they are (s8) and shifted into u8 with each
// column's shift taken off after (the faster form on VNNI without AMX) give
// the exact int32 sums, so the same floats, on whichever form this CPU's
// backend does not use too. Full weight range, K and N not multiples of 64;
// K = 66000 is past what the panels layout takes, so its shifts are the
// ones pack computes from the weight's rows.
TEST(MatmulInt8Dnnl, ShiftedActivationsGiveTheSignedProductsExactly) {
  if (!MatmulInt8Dnnl::cpu_has_int8_brgemm()) {
    GTEST_SKIP() << "no AVX-512 VNNI here: the backend runs its own kernel over plain rows";
  }
  for (const auto& [k, n] : {std::pair{520, 300}, std::pair{66000, 20}}) {
    const auto w = test::random_int8(static_cast<std::size_t>(n * k), 58);
    const auto w_scale = positive_scales(static_cast<std::size_t>(n), 59);
    const auto bias = test::random_floats(static_cast<std::size_t>(n), 60);
    const std::vector<float> ones(static_cast<std::size_t>(std::max(n, 300)), 1.0f);  // x's scales and w's
    MatmulInt8Dnnl is_signed(MatmulInt8Dnnl::Kernels::Brgemm, MatmulInt8Dnnl::Activations::Signed);
    MatmulInt8Dnnl shifted(MatmulInt8Dnnl::Kernels::Brgemm, MatmulInt8Dnnl::Activations::Shifted);
    ASSERT_TRUE(is_signed.pack(w.data(), k, n));
    ASSERT_TRUE(shifted.pack(w.data(), k, n));
    for (const int m : {9, 64, 300}) {
      auto x = test::random_int8(static_cast<std::size_t>(m * k), 61u + static_cast<std::uint32_t>(m));
      x[0] = -127;  // the contract's ends, which the shift maps to 1 and 255
      x[1] = 127;
      std::vector<float> sums(static_cast<std::size_t>(m * n));
      ASSERT_TRUE(shifted.run(x.data(), ones.data(), w.data(), ones.data(), sums.data(), m, k, n)) << "M = " << m;
      ASSERT_TRUE(test::exact_sums(sums, x, w, m, k, n))
          << m << "x" << k << "x" << n << " (" << shifted.implementation(m, k, n) << ")";
      const auto x_scale = positive_scales(static_cast<std::size_t>(m), 62);
      std::vector<float> want(static_cast<std::size_t>(m * n)), got(want.size());
      ASSERT_TRUE(is_signed.run(x.data(), x_scale.data(), w.data(), w_scale.data(), want.data(), m, k, n, bias.data()));
      ASSERT_TRUE(shifted.run(x.data(), x_scale.data(), w.data(), w_scale.data(), got.data(), m, k, n, bias.data()));
      EXPECT_EQ(got, want) << m << "x" << k << "x" << n;
    }
  }
}

// `then` sees each row once, after its floats are final (the product's
// floats exactly, bias included), and what it writes into the row stays:
// for M of the own panels GEMV (where this CPU has that layout) and of
// oneDNN's kernels, the signed activations and (with VNNI) the shifted ones.
TEST(MatmulInt8Dnnl, TheRowEpilogueSeesEachFinishedRowOnce) {
  const int k = 520, n = 300;
  const auto w = test::random_int8(static_cast<std::size_t>(n * k), 63);
  const auto w_scale = positive_scales(static_cast<std::size_t>(n), 64);
  const auto bias = test::random_floats(static_cast<std::size_t>(n), 65);
  // (Shifted activations only where the CPU has VNNI: elsewhere the backend never asks for them.)
  std::vector activations_tried{MatmulInt8Dnnl::Activations::Signed};
  if (MatmulInt8Dnnl::cpu_has_int8_brgemm()) activations_tried.push_back(MatmulInt8Dnnl::Activations::Shifted);
  for (const auto activations : activations_tried) {
    MatmulInt8Dnnl matmul(MatmulInt8Dnnl::Kernels::Any, activations);
    ASSERT_TRUE(matmul.pack(w.data(), k, n));
    for (const int m : {1, 5, 9, 300}) {
      const auto x = test::random_int8(static_cast<std::size_t>(m * k), 66u + static_cast<std::uint32_t>(m));
      const auto x_scale = positive_scales(static_cast<std::size_t>(m), 67);
      std::vector<float> want(static_cast<std::size_t>(m * n)), seen(want.size()), got(want.size());
      ASSERT_TRUE(matmul.run(x.data(), x_scale.data(), w.data(), w_scale.data(), want.data(), m, k, n, bias.data()));
      std::vector<int> calls(static_cast<std::size_t>(m), 0);  // one slot per row: no two threads share one
      const auto then = [&](std::int64_t row, float* y) {
        ASSERT_TRUE(row >= 0 && row < m) << row;
        ++calls[static_cast<std::size_t>(row)];
        std::copy(y, y + n, seen.begin() + row * n);
        for (int j = 0; j < n; ++j) y[j] = -y[j];
      };
      ASSERT_TRUE(
          matmul.run(x.data(), x_scale.data(), w.data(), w_scale.data(), got.data(), m, k, n, bias.data(), then));
      EXPECT_EQ(calls, std::vector<int>(static_cast<std::size_t>(m), 1)) << "M = " << m;
      EXPECT_EQ(seen, want) << "M = " << m << " (" << matmul.implementation(m, k, n) << ")";
      for (float& v : want) v = -v;
      EXPECT_EQ(got, want) << "M = " << m;
    }
  }
}

// A panels copy made for a model to hold (panels_copy), adopted by another
// instance under its own address, gives the products of the instance that
// packed the weight itself, exactly, for decode-sized and prefill-sized M.
TEST(MatmulInt8Dnnl, AnAdoptedPanelsCopyGivesTheSameProducts) {
  const int k = 520, n = 300;
  const auto w = test::random_int8(static_cast<std::size_t>(n * k), 54);
  const Tensor copy = MatmulInt8Dnnl::panels_copy(w.data(), k, n);
  if (copy.raw() == nullptr) {
    GTEST_SKIP() << "no panels layout here (a CPU without VNNI): the model keeps its int8 rows";
  }
  ASSERT_EQ(copy.shape(), (Shape{n, k}));
  MatmulInt8Dnnl packing, adopting;
  ASSERT_TRUE(packing.pack(w.data(), k, n));
  ASSERT_TRUE(adopting.adopt_panels(copy));
  const auto w_scale = test::random_floats(static_cast<std::size_t>(n), 55);
  for (const int m : {1, 2, 5, 8, 9, 64, 200}) {
    const auto x = test::random_int8(static_cast<std::size_t>(m * k), 56u + static_cast<std::uint32_t>(m));
    const auto x_scale = test::random_floats(static_cast<std::size_t>(m), 57);
    std::vector<float> want(static_cast<std::size_t>(m * n)), got(want.size());
    ASSERT_TRUE(packing.run(x.data(), x_scale.data(), w.data(), w_scale.data(), want.data(), m, k, n));
    ASSERT_TRUE(adopting.run(x.data(), x_scale.data(), copy.data<std::int8_t>(), w_scale.data(), got.data(), m, k, n))
        << "M = " << m;
    EXPECT_EQ(got, want) << "M = " << m;
  }
}

}  // namespace
}  // namespace octet::cpu
