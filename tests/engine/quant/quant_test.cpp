#include "engine/quant/quant.h"
#include "engine/core/error.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace octet {
namespace {

// The float64 definition: scale = absmax / 127, q = clamp(round_half_even(x / scale)).
std::vector<int> reference_quantize(const std::vector<float>& x, double* scale) {
  double absmax = 0;
  for (float v : x) absmax = std::max(absmax, std::fabs(static_cast<double>(v)));
  *scale = absmax / 127.0;
  std::vector<int> q;
  for (float v : x)
    q.push_back(absmax == 0 ? 0 : static_cast<int>(std::clamp(std::nearbyint(v / *scale), -127.0, 127.0)));
  return q;
}

TEST(Quant, WeightRowsMatchFloat64Definition) {
  const std::int64_t rows = 7, cols = 37;
  auto w = test::random_floats(rows * cols, 21, 0.3f);
  std::fill(w.begin() + 2 * cols, w.begin() + 3 * cols, 0.0f);  // an all-zero row
  Tensor t = Tensor::zeros(DType::F32, {rows, cols});
  std::copy(w.begin(), w.end(), t.data_mut<float>());
  const Tensor q = quantize_weight(t, QuantScheme::W8);
  ASSERT_EQ(q.dtype(), DType::I8);
  ASSERT_NE(q.quant(), nullptr);
  EXPECT_EQ(q.quant()->scheme, QuantScheme::W8);
  for (std::int64_t r = 0; r < rows; ++r) {
    double scale;
    const auto want = reference_quantize({w.begin() + r * cols, w.begin() + (r + 1) * cols}, &scale);
    EXPECT_EQ(q.quant()->scale.data<float>()[r], static_cast<float>(scale));
    for (std::int64_t c = 0; c < cols; ++c)
      EXPECT_EQ(q.data<std::int8_t>()[r * cols + c], want[static_cast<std::size_t>(c)]);
  }
}

TEST(Quant, RoundsHalfToEvenAndClamps) {
  // absmax 127 makes the scale exactly 1, so x / scale is x.
  const float x[] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -127.0f};
  std::int8_t q[7];
  EXPECT_EQ(quantize_row_int8(x, 7, q), 1.0f);
  const std::int8_t want[] = {127, 0, 2, 2, 0, -2, -127};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(q[i], want[i]) << x[i];
  std::int8_t z[3];
  const float zeros[] = {0.0f, 0.0f, 0.0f};
  EXPECT_EQ(quantize_row_int8(zeros, 3, z), 0.0f);
  EXPECT_EQ(z[0], 0);
}

TEST(Quant, EveryRowLengthQuantizesAsTheScalarDefinition) {
  // The vector passes (32 values a turn) and the scalar tail, against the
  // definition: absmax, then nearbyint(x * 127 / absmax) clamped. Rows hold
  // exact .5 ties (absmax 127: x * inv is x) and values near the clamp.
  for (const std::int64_t n : {1, 7, 31, 32, 33, 64, 95, 100, 768, 3072}) {
    auto x = test::random_floats(static_cast<std::size_t>(n), static_cast<std::uint32_t>(n), 40.0f);
    for (auto& v : x) v = std::clamp(v, -126.9f, 126.9f);
    for (std::int64_t i = 0; i < n; i += 3) x[static_cast<std::size_t>(i)] = static_cast<float>(i % 50) - 24.5f;
    x[static_cast<std::size_t>(n / 2)] = (n % 2) ? 127.0f : -127.0f;
    std::vector<std::int8_t> q(static_cast<std::size_t>(n));
    EXPECT_EQ(quantize_row_int8(x.data(), n, q.data()), 1.0f) << n;
    for (std::int64_t i = 0; i < n; ++i) {
      const float v = x[static_cast<std::size_t>(i)];
      ASSERT_EQ(q[static_cast<std::size_t>(i)],
                static_cast<std::int8_t>(std::clamp(std::nearbyint(v), -127.0f, 127.0f)))
          << "n " << n << " at " << i << ": " << v;
    }
    // Another scale: the same definition with inv = 127 / absmax.
    for (auto& v : x) v *= 0.37f;
    const float scale = quantize_row_int8(x.data(), n, q.data());
    float absmax = 0.0f;
    for (const float v : x) absmax = std::max(absmax, std::fabs(v));
    ASSERT_EQ(scale, absmax / 127.0f) << n;
    for (std::int64_t i = 0; i < n; ++i) {
      const float r = std::nearbyint(x[static_cast<std::size_t>(i)] * (127.0f / absmax));
      ASSERT_EQ(q[static_cast<std::size_t>(i)], static_cast<std::int8_t>(std::clamp(r, -127.0f, 127.0f)))
          << "n " << n << " at " << i;
    }
  }
}

TEST(Quant, ANanInARowIsSkippedByTheScaleAndQuantizedToTheLowestStep) {
  // Defined behaviour for a broken activation, the same in the vector passes
  // and the scalar tail: the scale comes from the other values, the NaN is -127.
  for (const std::int64_t n : {5, 40}) {
    std::vector<float> x(static_cast<std::size_t>(n), 1.0f);
    x[1] = 127.0f;
    x[3] = NAN;
    x[static_cast<std::size_t>(n - 1)] = NAN;
    std::vector<std::int8_t> q(x.size());
    EXPECT_EQ(quantize_row_int8(x.data(), n, q.data()), 1.0f) << n;
    EXPECT_EQ(q[3], -127) << n;
    EXPECT_EQ(q[static_cast<std::size_t>(n - 1)], -127) << n;
    EXPECT_EQ(q[0], 1) << n;
  }
  // Every other value a NaN, in the vector passes' main loop and their tail
  // (the largest magnitude in the tail, at n - 2).
  for (const std::int64_t n : {70, 100, 200}) {
    std::vector<float> x(static_cast<std::size_t>(n), 1.0f);
    for (std::int64_t i = 1; i < n; i += 2) x[static_cast<std::size_t>(i)] = NAN;
    x[static_cast<std::size_t>(n - 2)] = -127.0f;
    std::vector<std::int8_t> q(x.size());
    EXPECT_EQ(quantize_row_int8(x.data(), n, q.data()), 1.0f) << n;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int8_t want = i % 2 != 0 || i == n - 2 ? -127 : 1;
      ASSERT_EQ(q[static_cast<std::size_t>(i)], want) << "n " << n << " at " << i;
    }
  }
}

TEST(Quant, ActivationRowsAgreeWithFloat64WithinOneStepAtTies) {
  // The hot path multiplies by 127 / absmax in float; it may differ from the
  // float64 division only where x / scale lies within float rounding of a .5 tie.
  const auto x = test::random_floats(1001, 22, 2.0f);
  std::vector<std::int8_t> q(x.size());
  const float scale = quantize_row_int8(x.data(), static_cast<std::int64_t>(x.size()), q.data());
  double ref_scale;
  const auto want = reference_quantize(x, &ref_scale);
  EXPECT_FLOAT_EQ(scale, static_cast<float>(ref_scale));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double exact = x[i] / ref_scale;
    if (std::abs(std::abs(exact - std::trunc(exact)) - 0.5) < 1e-4) {
      EXPECT_LE(std::abs(q[i] - want[i]), 1);
    } else {
      EXPECT_EQ(q[i], want[i]) << i;
    }
  }
}

TEST(Quant, StaticActivationScalesRoundAndSaturate) {
  // Scale 0.5: x / scale is 2x; beyond 127 steps the value saturates.
  const float x[] = {0.25f, 0.75f, -0.25f, 10.0f, 63.5f, 64.0f, -1000.0f};
  std::int8_t q[7];
  quantize_row_int8_static(x, 7, 0.5f, q);
  const std::int8_t want[] = {0, 2, 0, 20, 127, 127, -127};  // 0.5 -> 0 and 1.5 -> 2: ties to even
  for (int i = 0; i < 7; ++i) EXPECT_EQ(q[i], want[i]) << x[i];
  Tensor f = Tensor::zeros(DType::F32, {1, 2});
  f.data_mut<float>()[0] = 1.0f;
  f.data_mut<float>()[1] = -2.0f;
  const Tensor w = quantize_weight(f, QuantScheme::Int8);
  EXPECT_EQ(w.quant()->input_scale, 0.0f) << "dynamic unless calibrated";
  EXPECT_EQ(with_input_scale(w, 0.25f).quant()->input_scale, 0.25f);
  EXPECT_THROW(with_input_scale(w, 0.0f), Error);
  EXPECT_THROW(with_input_scale(quantize_weight(f, QuantScheme::W8), 0.5f), Error);
}

TEST(Quant, RoundTripErrorIsAtMostHalfAStep) {
  const std::int64_t rows = 5, cols = 64;
  const auto w = test::random_floats(rows * cols, 23);
  Tensor t = Tensor::zeros(DType::F32, {rows, cols});
  std::copy(w.begin(), w.end(), t.data_mut<float>());
  const Tensor back = dequantize(quantize_weight(t, QuantScheme::Int8));
  for (std::int64_t r = 0; r < rows; ++r) {
    double absmax = 0;
    for (std::int64_t c = 0; c < cols; ++c)
      absmax = std::max(absmax, std::fabs(static_cast<double>(w[static_cast<std::size_t>(r * cols + c)])));
    for (std::int64_t c = 0; c < cols; ++c) {
      EXPECT_LE(std::abs(back.data<float>()[r * cols + c] - w[static_cast<std::size_t>(r * cols + c)]),
                absmax / 127.0 / 2 * (1 + 1e-6));
    }
  }
}

TEST(Quant, RecipeKeepsNamedLayersInFloat) {
  const QuantRecipe recipe{QuantScheme::Int8, {"lm_head", "layers.0."}};
  EXPECT_EQ(recipe.scheme_for("lm_head.weight"), QuantScheme::F32);
  EXPECT_EQ(recipe.scheme_for("model.layers.0.mlp.up_proj.weight"), QuantScheme::F32);
  EXPECT_EQ(recipe.scheme_for("model.layers.10.mlp.up_proj.weight"), QuantScheme::Int8);
  EXPECT_EQ(quant_scheme_from_name("w8"), QuantScheme::W8);
  EXPECT_FALSE(quant_scheme_from_name("int4").has_value());
}

TEST(Quant, BlockOfWeightReadsLlamaAndBertNames) {
  EXPECT_EQ(block_of_weight("model.layers.12.mlp.up_proj.weight"), 12);
  EXPECT_EQ(block_of_weight("layers.0.attention.wq.weight"), 0);
  EXPECT_EQ(block_of_weight("bert.encoder.layer.3.attention.self.query.weight"), 3);
  EXPECT_EQ(block_of_weight("distilbert.transformer.layer.5.ffn.lin1.weight"), 5);
  EXPECT_EQ(block_of_weight("lm_head.weight"), -1);
  EXPECT_EQ(block_of_weight("classifier.weight"), -1);
  EXPECT_EQ(block_of_weight("model.sublayers.2.x.weight"), -1);
  EXPECT_EQ(block_of_weight("model.layers.-1.x.weight"), -1);
  EXPECT_EQ(block_of_weight("model.layers.7x.weight"), -1);
  EXPECT_EQ(block_of_weight("model.layers.4"), -1);
}

// --gpu-layers 2 --quant fp8 --cpu-quant int8: blocks 0 and 1 in FP8, the
// later blocks and everything outside the blocks (the head) in int8, and
// --keep-float still wins.
// Under int8 and w8 a table becomes int8 rows as a weight does, tagged w8
// (looked up as floats); under f32 and fp8 it stays float; a table read
// quantized from a checkpoint keeps its bytes and scales.
TEST(Quant, AnEmbeddingTableIsInt8RowsUnderTheInt8Schemes) {
  Tensor table = Tensor::zeros(DType::F32, {6, 10});
  const auto values = test::random_floats(60, 11, 3.0f);
  std::copy(values.begin(), values.end(), table.data_mut<float>());
  const Tensor weight = quantize_weight(table, QuantScheme::Int8);
  for (const QuantScheme scheme : {QuantScheme::Int8, QuantScheme::W8}) {
    const Tensor t = quantize_embedding(table, scheme);
    ASSERT_EQ(t.dtype(), DType::I8);
    ASSERT_NE(t.quant(), nullptr);
    EXPECT_EQ(t.quant()->scheme, QuantScheme::W8);
    EXPECT_EQ(std::memcmp(t.raw(), weight.raw(), 60), 0);
    EXPECT_EQ(std::memcmp(t.quant()->scale.raw(), weight.quant()->scale.raw(), 6 * sizeof(float)), 0);
  }
  for (const QuantScheme scheme : {QuantScheme::F32, QuantScheme::Fp8}) {
    const Tensor t = quantize_embedding(table, scheme);
    EXPECT_EQ(t.dtype(), DType::F32);
    EXPECT_EQ(t.quant(), nullptr);
  }
  const Tensor read = quantize_embedding(weight, QuantScheme::F32);  // as with_checkpoint_scales gives it
  EXPECT_EQ(read.raw(), weight.raw());
  EXPECT_EQ(read.quant()->scheme, QuantScheme::W8);
  EXPECT_THROW(quantize_embedding(quantize_weight(table, QuantScheme::Fp8), QuantScheme::Fp8), Error);
}

TEST(Quant, SplitRecipeGivesTheCpusBlocksTheirOwnScheme) {
  QuantRecipe recipe{QuantScheme::Fp8, {"layers.3.mlp"}};
  recipe.rest_from = 2;
  recipe.rest_scheme = QuantScheme::Int8;
  EXPECT_EQ(recipe.scheme_for("model.layers.0.self_attn.q_proj.weight"), QuantScheme::Fp8);
  EXPECT_EQ(recipe.scheme_for("model.layers.1.mlp.down_proj.weight"), QuantScheme::Fp8);
  EXPECT_EQ(recipe.scheme_for("model.layers.2.self_attn.q_proj.weight"), QuantScheme::Int8);
  EXPECT_EQ(recipe.scheme_for("model.layers.12.mlp.up_proj.weight"), QuantScheme::Int8);
  EXPECT_EQ(recipe.scheme_for("lm_head.weight"), QuantScheme::Int8);
  EXPECT_EQ(recipe.scheme_for("model.layers.3.mlp.up_proj.weight"), QuantScheme::F32);
  EXPECT_EQ(recipe_name(recipe), "fp8, int8 from block 2");
  EXPECT_EQ(recipe.table_scheme_for("model.embed_tokens.weight"), QuantScheme::Fp8) << "the table runs with block 0";
  EXPECT_EQ(QuantRecipe({QuantScheme::Int8, {"embed"}}).table_scheme_for("model.embed_tokens.weight"),
            QuantScheme::F32);
  EXPECT_EQ(recipe_name(QuantRecipe{QuantScheme::W8, {}}), "w8");
}

}  // namespace
}  // namespace octet
