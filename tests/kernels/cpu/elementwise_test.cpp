#include "engine/core/error.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/eltwise_f32.h"
#include "kernels/cpu/ops.h"
#include "tests/kernels/cpu/reference_util.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

namespace octet::cpu {
namespace {

TEST(SiluMul, MatchesFloat64Reference) {
  EltwiseF32 eltwise;
  for (std::int64_t n : {1, 7, 17, 1000, 70001}) {  // odd lengths leave a vector tail
    const auto g = test::random_floats(static_cast<std::size_t>(n), 3, 4.0f);
    const auto u = test::random_floats(static_cast<std::size_t>(n), 4);
    std::vector<float> y(static_cast<std::size_t>(n));
    eltwise.silu_mul(g.data(), u.data(), n, y.data());
    std::vector<double> ref(y.size());
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    EXPECT_LT(test::max_relative_error(y, ref), 1e-6) << "n=" << n;  // a few float32 ulps
  }
}

TEST(Add, IsExact) {
  const auto a = test::random_floats(101, 5), b = test::random_floats(101, 6);
  std::vector<float> y(101);
  add(a.data(), b.data(), 101, y.data());
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], a[i] + b[i]);
}

TEST(Embedding, CopiesRowsAndRejectsBadIds) {
  const auto table = test::random_floats(5 * 3, 7);
  const std::int32_t ids[] = {4, 0, 4};
  std::vector<float> y(9);
  embedding(table.data(), 5, 3, ids, 3, y.data());
  for (int t = 0; t < 3; ++t)
    for (int d = 0; d < 3; ++d)
      EXPECT_EQ(y[static_cast<std::size_t>(t * 3 + d)], table[static_cast<std::size_t>(ids[t] * 3 + d)]);
  const std::int32_t bad[] = {5};
  EXPECT_THROW(embedding(table.data(), 5, 3, bad, 1, y.data()), Error);
  const std::int32_t negative[] = {-1};
  EXPECT_THROW(embedding(table.data(), 5, 3, negative, 1, y.data()), Error);
}

// An int8 table's rows come out as q * scale in float: what dequantize() gives.
TEST(Embedding, Int8RowsComeOutAsDequantizeGivesThem) {
  const auto values = test::random_floats(7 * 5, 8, 2.0f);
  Tensor table = Tensor::zeros(DType::F32, {7, 5});
  std::copy(values.begin(), values.end(), table.data_mut<float>());
  const Tensor q = quantize_weight(table, QuantScheme::W8);
  const Tensor want = dequantize(q);
  const std::int32_t ids[] = {6, 0, 3, 6};
  std::vector<float> y(4 * 5);
  embedding_int8(q.data<std::int8_t>(), q.quant()->scale.data<float>(), 7, 5, ids, 4, y.data());
  for (int t = 0; t < 4; ++t)
    for (int d = 0; d < 5; ++d) EXPECT_EQ(y[static_cast<std::size_t>(t * 5 + d)], want.data<float>()[ids[t] * 5 + d]);
  const std::int32_t bad[] = {7};
  EXPECT_CONTAINS(test::error_of([&] {
                    embedding_int8(q.data<std::int8_t>(), q.quant()->scale.data<float>(), 7, 5, bad, 1, y.data());
                  }),
                  "token id 7 at position 0 is outside the vocabulary of 7 tokens");
}

}  // namespace
}  // namespace octet::cpu
