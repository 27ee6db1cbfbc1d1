#include "kernels/cpu/gemm_int8_sparse24.h"
#include "kernels/cpu/gemm_int8.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <tuple>

namespace octet::cpu {
namespace {

// A random int8 [n, k] with 2:4 sparsity: in each group of 4, a random
// choice of 2 columns keeps random values (0 among them, so some groups keep
// fewer than 2), the other 2 are zero. Row 0 holds +-127 where kept, the
// case where int16 pair sums would saturate.
std::vector<std::int8_t> random_two_four(int n, int k, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-127, 127), column(0, 3);
  std::vector<std::int8_t> w(static_cast<std::size_t>(n * k), 0);
  for (int j = 0; j < n; ++j)
    for (int g = 0; g < k / 4; ++g)
      for (int kept = 0; kept < 2; ++kept) {
        const auto at = static_cast<std::size_t>(j * k + 4 * g + column(rng));
        w[at] = static_cast<std::int8_t>(j == 0 ? ((g % 2) ? 127 : -127) : value(rng));
      }
  return w;
}

std::vector<std::uint8_t> packed(const std::vector<std::int8_t>& w, int n, int k) {
  std::vector<std::uint8_t> p(static_cast<std::size_t>(sparse24_packed_bytes(n, k)));
  EXPECT_TRUE(pack_sparse24(w.data(), n, k, p.data()));
  return p;
}

// sum_k x[i, k] * w[j, k] over the dense weights, in int64.
std::int64_t dense_dot(const std::vector<std::int8_t>& x, const std::vector<std::int8_t>& w, int i, int j, int k) {
  std::int64_t acc = 0;
  for (int p = 0; p < k; ++p)
    acc += std::int64_t{x[static_cast<std::size_t>(i * k + p)]} * w[static_cast<std::size_t>(j * k + p)];
  return acc;
}

TEST(Sparse24, PackedRowIsFiveEighthsOfTheDenseBytes) {
  EXPECT_EQ(sparse24_row_bytes(2048), 2048 * 5 / 8);
  EXPECT_EQ(sparse24_row_bytes(36), 40) << "k padded to a multiple of 64";
  EXPECT_EQ(sparse24_packed_bytes(8, 2048), 8 * (2048 * 5 / 8 + 4)) << "the rows and an int32 offset each";
  EXPECT_EQ(sparse24_packed_bytes(5, 36), 8 * (40 + 4)) << "rows padded to a multiple of 4";
}

void expect_unpack_gives_back_the_dense_weights(Sparse24Kernel kernel) {
  for (const int k : {4, 36, 100, 2048}) {
    const int n = 5;
    const auto w = random_two_four(n, k, 7u + static_cast<std::uint32_t>(k));
    const auto p = packed(w, n, k);
    std::vector<std::int8_t> back(w.size(), 99);
    unpack_sparse24(p.data(), k, 0, n, back.data(), kernel);
    EXPECT_EQ(back, w) << "k " << k;
    std::vector<std::int8_t> tail(static_cast<std::size_t>(2 * k));
    unpack_sparse24(p.data(), k, 3, 2, tail.data(), kernel);
    EXPECT_TRUE(std::equal(tail.begin(), tail.end(), w.begin() + 3 * k)) << "rows 3..4 of k " << k;
  }
}

TEST(Sparse24, UnpackGivesBackTheDenseWeights) { expect_unpack_gives_back_the_dense_weights(Sparse24Kernel::Avx2); }

TEST(Sparse24, Avx512UnpackGivesBackTheDenseWeights) {
  if (!sparse24_has_avx512()) GTEST_SKIP() << "no AVX-512 VBMI2 + VNNI code here (this CPU or this build lacks them)";
  expect_unpack_gives_back_the_dense_weights(Sparse24Kernel::Best);
}

// The layout the header states, from its definition: rows in quads, a step
// per 64 columns holding the quad's 4 masks then their kept values in column
// order; a group with fewer than 2 nonzeros keeps its lowest zero columns to
// make 2, a padding group (and a padding row) columns 0 and 1; after the
// quads, 128 * each row's weight sum.
TEST(Sparse24, QuadStepsAreTheMasksThenTheKeptValuesThenTheOffsets) {
  const int n = 2, k = 68;  // 2 steps (the second with 1 group of 16), rows 2 and 3 padding
  std::vector<std::int8_t> w(static_cast<std::size_t>(n * k), 0);
  w[1] = 5;
  w[3] = -7;          // row 0, group 0 keeps columns 1 and 3
  w[6] = 9;           // row 0, group 1 keeps its lowest zero column 0 (column 4) and column 2 (column 6)
  w[k + 64 + 2] = 3;  // row 1, group 16 (the second step's group 0) keeps columns 0 and 2
  const auto p = packed(w, n, k);
  ASSERT_EQ(p.size(), 2u * 160 + 4 * 4);
  const auto mask_of = [&](int step, int row) {
    std::uint64_t mask = 0;
    for (int b = 0; b < 8; ++b) mask |= std::uint64_t{p[static_cast<std::size_t>(160 * step + 8 * row + b)]} << (8 * b);
    return mask;
  };
  const auto value_of = [&](int step, int row, int v) {
    return static_cast<std::int8_t>(p[static_cast<std::size_t>(160 * step + 32 + 32 * row + v)]);
  };
  std::uint64_t padding = 0;
  for (int g = 0; g < 16; ++g) padding |= std::uint64_t{0b0011} << (4 * g);
  EXPECT_EQ(mask_of(0, 0), (padding & ~std::uint64_t{0xff}) | 0b1010 | 0b0101 << 4);
  EXPECT_EQ(mask_of(0, 1), padding) << "row 1's first 64 columns are zero";
  EXPECT_EQ(mask_of(1, 1), (padding & ~std::uint64_t{0xf}) | 0b0101);
  EXPECT_EQ(mask_of(0, 2), padding) << "a padding row";
  EXPECT_EQ(mask_of(1, 3), padding) << "a padding row";
  EXPECT_EQ(value_of(0, 0, 0), 5);
  EXPECT_EQ(value_of(0, 0, 1), -7);
  EXPECT_EQ(value_of(0, 0, 2), 0);
  EXPECT_EQ(value_of(0, 0, 3), 9);
  EXPECT_EQ(value_of(1, 1, 1), 3);
  std::int32_t offsets[4];
  std::memcpy(offsets, p.data() + 320, sizeof offsets);
  EXPECT_EQ(offsets[0], 128 * (5 - 7 + 9));
  EXPECT_EQ(offsets[1], 128 * 3);
  EXPECT_EQ(offsets[2], 0);
  EXPECT_EQ(offsets[3], 0);
}

TEST(Sparse24, PackRefusesWhatIsNotTwoFour) {
  std::vector<std::int8_t> w(16, 0);
  std::vector<std::uint8_t> p(static_cast<std::size_t>(sparse24_packed_bytes(1, 16)));
  w[4] = w[5] = 1;
  EXPECT_TRUE(pack_sparse24(w.data(), 1, 16, p.data()));
  w[7] = 1;  // group 1 keeps 3
  EXPECT_FALSE(pack_sparse24(w.data(), 1, 16, p.data()));
  EXPECT_FALSE(pack_sparse24(w.data(), 1, 6, p.data())) << "a row length that is not a multiple of 4";
  EXPECT_FALSE(pack_sparse24(w.data(), 1, kSparse24MaxK + 4, p.data())) << "a row too long for exact int32 sums";
}

using Shape3 = std::tuple<int, int, int>;  // M, K, N
class Sparse24GemmTest : public ::testing::TestWithParam<Shape3> {};

// The packed product of `kernel` against int64 sums and the dense kernel, exactly.
void expect_exact_product(const Shape3& shape, Sparse24Kernel kernel) {
  const auto [m, k, n] = shape;
  auto x = test::random_int8(static_cast<std::size_t>(m * k), 51);
  for (int p = 0; p < k; ++p) x[static_cast<std::size_t>(p)] = (p % 2) ? 127 : -127;
  const auto w = random_two_four(n, k, 52);
  const auto p = packed(w, n, k);
  std::vector<std::int32_t> acc(static_cast<std::size_t>(m * n)), dense(acc.size());
  gemm_s8s8_s32_sparse24(x.data(), p.data(), acc.data(), m, k, n, kernel);
  gemm_s8s8_s32(x.data(), w.data(), dense.data(), m, k, n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const auto at = static_cast<std::size_t>(i * n + j);
      ASSERT_EQ(acc[at], dense_dot(x, w, i, j, k)) << "m " << i << " n " << j;
      ASSERT_EQ(acc[at], dense[at]) << "m " << i << " n " << j << ": the dense kernel";
    }
}

TEST_P(Sparse24GemmTest, EqualsTheDenseProductExactlyInInt32) {
  expect_exact_product(GetParam(), Sparse24Kernel::Avx2);
}

TEST_P(Sparse24GemmTest, Avx512EqualsTheDenseProductExactlyInInt32) {
  if (!sparse24_has_avx512())
    GTEST_SKIP() << "no AVX-512 VBMI2 + VNNI product here (this CPU or this build lacks them)";
  expect_exact_product(GetParam(), Sparse24Kernel::Best);
}

TEST_P(Sparse24GemmTest, FusedScalesAndBiasMatchFloat64) {
  const auto [m, k, n] = GetParam();
  const auto x = test::random_int8(static_cast<std::size_t>(m * k), 53);
  const auto w = random_two_four(n, k, 54);
  const auto xs = test::random_floats(static_cast<std::size_t>(m), 55),
             ws = test::random_floats(static_cast<std::size_t>(n), 56),
             bias = test::random_floats(static_cast<std::size_t>(n), 57, 100.0f);
  const auto p = packed(w, n, k);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  gemm_s8s8_f32_sparse24(x.data(), xs.data(), p.data(), ws.data(), y.data(), m, k, n, bias.data());
  std::vector<double> ref(y.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      ref[static_cast<std::size_t>(i * n + j)] = static_cast<double>(dense_dot(x, w, i, j, k)) *
                                                     xs[static_cast<std::size_t>(i)] * ws[static_cast<std::size_t>(j)] +
                                                 bias[static_cast<std::size_t>(j)];
  // The product is exact; the scales and the bias add three float roundings.
  EXPECT_LT(test::max_relative_error(y, ref), 1e-6);
}

// M = 1..8 (decode, and batched decode), K and N not multiples of 16; K a
// multiple of 4 (2:4 needs it) with and without a tail past the 32-column steps.
INSTANTIATE_TEST_SUITE_P(Decode, Sparse24GemmTest,
                         ::testing::Values(Shape3{1, 4, 1}, Shape3{1, 36, 7}, Shape3{2, 100, 13}, Shape3{3, 260, 33},
                                           Shape3{4, 68, 9}, Shape3{5, 1028, 17}, Shape3{6, 196, 3}, Shape3{7, 44, 21},
                                           Shape3{8, 2052, 37}, Shape3{8, 64, 5}));
INSTANTIATE_TEST_SUITE_P(Prefill, Sparse24GemmTest, ::testing::Values(Shape3{33, 300, 70}));

// Several packed weights of the same K against the same x in one loop (a
// layer's q, k and v): each output bit for bit what its product alone gives,
// at M = 1..20 (the rows that read packed rows), N not a multiple of 4, with
// and without a bias.
TEST(Sparse24, ProductsTogetherEqualEachAlone) {
  const int k = 300;
  const int ns[] = {130, 37, 70};
  std::vector<std::vector<std::uint8_t>> packs;
  std::vector<std::vector<float>> scales, biases;
  for (int i = 0; i < 3; ++i) {
    packs.push_back(packed(random_two_four(ns[i], k, 70u + static_cast<std::uint32_t>(i)), ns[i], k));
    scales.push_back(test::random_floats(static_cast<std::size_t>(ns[i]), 80u + static_cast<std::uint32_t>(i), 0.01f));
    biases.push_back(i == 1 ? std::vector<float>{} : test::random_floats(static_cast<std::size_t>(ns[i]), 90));
  }
  for (int m = 1; m <= 20; ++m) {
    const auto x = test::random_int8(static_cast<std::size_t>(m * k), 60);
    const auto x_scale = test::random_floats(static_cast<std::size_t>(m), 61, 0.02f);
    std::vector<std::vector<float>> alone, together;
    std::vector<Int8Product> products;
    for (int i = 0; i < 3; ++i) {
      const float* bias =
          biases[static_cast<std::size_t>(i)].empty() ? nullptr : biases[static_cast<std::size_t>(i)].data();
      alone.emplace_back(static_cast<std::size_t>(m * ns[i]));
      gemm_s8s8_f32_sparse24(x.data(), x_scale.data(), packs[static_cast<std::size_t>(i)].data(),
                             scales[static_cast<std::size_t>(i)].data(), alone.back().data(), m, k, ns[i], bias);
      together.emplace_back(static_cast<std::size_t>(m * ns[i]), -1.0f);
    }
    for (int i = 0; i < 3; ++i) {
      const auto at = static_cast<std::size_t>(i);
      products.push_back({reinterpret_cast<const std::int8_t*>(packs[at].data()), scales[at].data(),
                          together[at].data(), ns[i], biases[at].empty() ? nullptr : biases[at].data()});
    }
    gemm_s8s8_f32_sparse24(x.data(), x_scale.data(), products, m, k);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(together[i], alone[i]) << "M " << m << ", product " << i;
  }
}

TEST(GemmInt8, OutputStrideWritesColumnsOfAWiderResult) {
  const int m = 5, k = 40, n = 6, ldy = 11;
  const auto x = test::random_int8(static_cast<std::size_t>(m * k), 61),
             w = test::random_int8(static_cast<std::size_t>(n * k), 62);
  const std::vector<float> xs(m, 1.0f), ws(n, 1.0f);
  std::vector<float> y(static_cast<std::size_t>(m * ldy), -1.0f);
  gemm_s8s8_f32(x.data(), xs.data(), w.data(), ws.data(), y.data() + 2, m, k, n, nullptr, ldy);
  for (int i = 0; i < m; ++i)
    for (int c = 0; c < ldy; ++c) {
      const float got = y[static_cast<std::size_t>(i * ldy + c)];
      if (c < 2 || c >= 2 + n) {
        EXPECT_EQ(got, -1.0f) << "row " << i << " column " << c << " is outside the product";
      } else {
        EXPECT_EQ(got, static_cast<float>(dense_dot(x, w, i, c - 2, k))) << "row " << i << " column " << c;
      }
    }
}

}  // namespace
}  // namespace octet::cpu
