// The CPU backend's 2:4 int8 path: a pruned int8 weight is packed at
// preparation (5/8 of its bytes) and its products equal the dense int8
// products exactly, in decode (read packed) and prefill (expanded in tiles).
#include "engine/quant/pruning.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemm_int8_sparse24.h"
#include "tests/kernels/backend_harness.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <tuple>

namespace octet {
namespace {

Tensor pruned_int8_weight(std::int64_t n, std::int64_t k, std::uint32_t seed) {
  Tensor w = test::tensor_of(test::random_floats(static_cast<std::size_t>(n * k), seed), {n, k});
  prune_matrix(w, PruneRecipe{.pattern = SparsityPattern::TwoFour});
  return quantize_weight(w, QuantScheme::Int8);
}

TEST(CpuTwoFour, PreparationPacksPrunedInt8WeightsAndOnlyThose) {
  auto backend = make_cpu_backend(0);
  const Tensor pruned = pruned_int8_weight(12, 100, 3);
  const Tensor packed = backend->prepare_weight(pruned, OpKind::MatMul);
  ASSERT_NE(packed.quant(), nullptr);
  EXPECT_TRUE(packed.quant()->packed_two_four);
  EXPECT_EQ(packed.nbytes(), 12u * (128 * 5 / 8 + 4))
      << "rows of 100 padded to 128, 5/8 of their bytes, an int32 offset each";
  EXPECT_EQ(backend->prepare_weight(pruned, OpKind::MatMul).raw(), packed.raw()) << "packed once";
  const Tensor dense = quantize_weight(test::tensor_of(test::random_floats(1200, 4), {12, 100}), QuantScheme::Int8);
  EXPECT_FALSE(backend->prepare_weight(dense, OpKind::MatMul).quant()->packed_two_four);
}

// Rows longer than the packed product's exact int32 sums allow stay dense,
// and their product is still the int8 one.
TEST(CpuTwoFour, RowsTooLongForExactSumsRunDense) {
  auto backend = make_cpu_backend(0);
  const std::int64_t m = 1, k = cpu::kSparse24MaxK + 4, n = 2;
  const Tensor w = pruned_int8_weight(n, k, 8);
  EXPECT_FALSE(backend->prepare_weight(w, OpKind::MatMul).quant()->packed_two_four);
  const auto x = test::random_floats(static_cast<std::size_t>(m * k), 9);
  const auto got =
      test::run_node(*backend, OpKind::MatMul, {{test::tensor_of(x, {m, k})}, {w, ValueKind::Weight}}, {m, n});
  // Exact int32 sums; the scales add float roundings.
  EXPECT_LT(test::max_relative_error(got.output, test::int8_product_reference(x, m, k, w, {})), 1e-6);
}

using Shape3 = std::tuple<int, int, int>;  // M, K, N
class CpuTwoFourMatmulTest : public ::testing::TestWithParam<Shape3> {};

TEST_P(CpuTwoFourMatmulTest, EqualsTheDenseInt8Product) {
  const auto [m, k, n] = GetParam();
  const auto x = test::random_floats(static_cast<std::size_t>(m * k), 5);
  const auto bias = test::random_floats(static_cast<std::size_t>(n), 6);
  const Tensor w = pruned_int8_weight(n, k, 7);
  auto backend = make_cpu_backend(0);
  const auto got =
      test::run_node(*backend, OpKind::MatMul,
                     {{test::tensor_of(x, {m, k})}, {w, ValueKind::Weight}, {test::tensor_of(bias, {n})}}, {m, n});
  // Exact int32 products; the scales and the bias add three float roundings.
  EXPECT_LT(test::max_relative_error(got.output, test::int8_product_reference(x, m, k, w, bias)), 1e-6);
}

// Decode and short prompts (M <= 20 reads the packed rows) and prefill: on
// oneDNN's dense kernels where the CPU has VNNI, else expanded tiles of 256 weight rows
// (N = 300 is a full tile and a partial one; their pieces, unpack_sparse24 and
// gemm_s8s8_f32 with an output stride, are tested on every CPU in
// gemm_int8_sparse24_test.cpp).
INSTANTIATE_TEST_SUITE_P(DecodeAndPrefill, CpuTwoFourMatmulTest,
                         ::testing::Values(Shape3{1, 100, 130}, Shape3{3, 260, 7}, Shape3{8, 64, 300},
                                           Shape3{9, 36, 21}, Shape3{20, 68, 37}, Shape3{21, 100, 13},
                                           Shape3{64, 300, 300}));

}  // namespace
}  // namespace octet
