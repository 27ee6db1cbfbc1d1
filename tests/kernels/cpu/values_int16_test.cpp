#include "kernels/cpu/values_int16.h"

#include "engine/core/error.h"
#include "kernels/cpu/attend.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace octet::cpu {
namespace {

constexpr const char* kNoKernel = "this build has no VNNI (weights . v run as float)";

// What quantize_values should make of key j's value d: round half to even
// of v * (1 / scale), scale = absmax / 511, clamped to +-511.
int expected_value(float v, float scale) {
  const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
  const float x = std::nearbyint(v * inv);
  return std::isnan(x) ? -511 : static_cast<int>(std::fmax(-511.0f, std::fmin(511.0f, x)));
}

float key_scale(const float* v, int head_dim) {
  float absmax = 0.0f;
  for (int d = 0; d < head_dim; ++d) absmax = std::fmax(absmax, std::fabs(v[d]));  // fmax drops a NaN
  return absmax / 511.0f;
}

// Each key's values as round(v / scale) to +-511 in pairs of keys, a zero key
// after an odd count; log2 of each scale from above, within 0.011 (-inf for
// a zero key). Keys `stride` floats apart, one of them with a NaN, one all
// zero, one 1000 times the others.
TEST(ValuesInt16, QuantizeValuesPacksPairsOfKeysWithTheirScales) {
  if (!int16_values_fit(64)) GTEST_SKIP() << kNoKernel;
  for (const int head_dim : {64, 128}) {
    const int stride = head_dim + 5;
    for (const int n_keys : {1, 2, 3, 64, 129}) {
      auto v = test::random_floats(static_cast<std::size_t>(n_keys * stride), 61, 2.0f);
      if (n_keys > 3) {
        v[static_cast<std::size_t>(stride + 7)] = NAN;
        std::fill_n(v.begin() + 2 * stride, head_dim, 0.0f);
        for (int d = 0; d < head_dim; ++d) v[static_cast<std::size_t>(3 * stride + d)] *= 1000.0f;
      }
      std::vector<std::byte> scratch(int16_values_bytes(n_keys, head_dim));
      const Int16Values values = quantize_values(v.data(), stride, n_keys, head_dim, scratch.data());
      ASSERT_EQ(values.n_keys, n_keys);
      ASSERT_EQ(values.head_dim, head_dim);
      for (int j = 0; j < n_keys + n_keys % 2; ++j) {
        const bool padding = j == n_keys;
        const float scale = padding ? 0.0f : key_scale(v.data() + j * stride, head_dim);
        ASSERT_EQ(values.scale[j], scale) << "key " << j;
        if (scale > 0.0f) {
          const double above = values.log2_scale[j] - std::log2(static_cast<double>(scale));
          ASSERT_GE(above, 0.0) << "key " << j;
          ASSERT_LE(above, 0.011) << "key " << j;
        } else {
          ASSERT_EQ(values.log2_scale[j], -INFINITY) << "key " << j;
        }
        for (int d = 0; d < head_dim; ++d) {
          const int want = padding ? 0 : expected_value(v[static_cast<std::size_t>(j * stride + d)], scale);
          ASSERT_EQ(values.packed[(static_cast<std::size_t>(j / 2) * head_dim + d) * 2 + j % 2], want)
              << "key " << j << " of " << n_keys << ", dim " << d << " of " << head_dim;
        }
      }
    }
  }
}

// log2 of scales over many binades and mantissas: from above, within 0.011
// (the quadratic's error on [1, 2) and its raise).
TEST(ValuesInt16, Log2ScalesBoundFromAboveWithin0011) {
  if (!int16_values_fit(64)) GTEST_SKIP() << kNoKernel;
  const int n_keys = 2000;
  std::vector<float> v(static_cast<std::size_t>(n_keys) * 64, 0.0f);
  for (int j = 0; j < n_keys; ++j) v[static_cast<std::size_t>(j) * 64] = std::ldexp(1.0f + j / 2000.0f, j % 60 - 30);
  std::vector<std::byte> scratch(int16_values_bytes(n_keys, 64));
  const Int16Values values = quantize_values(v.data(), 64, n_keys, 64, scratch.data());
  for (int j = 0; j < n_keys; ++j) {
    const double above = values.log2_scale[j] - std::log2(static_cast<double>(values.scale[j]));
    ASSERT_GE(above, 0.0) << "key " << j << ", scale " << values.scale[j];
    ASSERT_LE(above, 0.011) << "key " << j << ", scale " << values.scale[j];
  }
}

// The weights against float64: e_j = exp(s_j - max) for the row's first n
// keys, rounded to an integer after scaling by scale_j / unit (the float exp
// is within 2 ulps: 32767 * 2.4e-7 = 0.008 of a unit on top of the half unit
// of rounding), zero from n to the end of the last pair. The largest weight
// within 1% of 32767 (the bound on it is within 0.011 of its log2); the sum
// within 1e-6 of float64's (n float additions of float exps). Nothing past
// the row's int16s changes (they cover 2 * ceil(width / 2) halves of its
// floats). Values whose scales span 2^12, so that the key with the largest
// weight is not the one with the largest score.
TEST(ValuesInt16, WeightsAreTheScaledExpsRounded) {
  if (!int16_values_fit(64)) GTEST_SKIP() << kNoKernel;
  for (const int n_keys : {1, 2, 17, 128, 301}) {
    auto v = test::random_floats(static_cast<std::size_t>(n_keys) * 64, 62);
    for (int j = 0; j < n_keys; ++j)
      for (int d = 0; d < 64; ++d) v[static_cast<std::size_t>(j * 64 + d)] *= std::ldexp(1.0f, (j * 7) % 13 - 6);
    std::vector<std::byte> scratch(int16_values_bytes(n_keys, 64));
    const Int16Values values = quantize_values(v.data(), 64, n_keys, 64, scratch.data());
    for (const int width : {1, n_keys / 2 + 1, n_keys}) {
      for (const int n : {1, (width + 1) / 2, width}) {
        const float untouched = 777.0f;
        auto row = test::random_floats(static_cast<std::size_t>(width), 63 + static_cast<std::uint32_t>(n), 3.0f);
        const auto scores = row;
        row.push_back(untouched);
        const RowWeights got = weights_int16(row.data(), n, width, values);
        double max_score = scores[0], want_sum = 0.0;
        for (int j = 0; j < n; ++j) max_score = std::fmax(max_score, scores[static_cast<std::size_t>(j)]);
        std::vector<std::int16_t> weights(static_cast<std::size_t>(width + 1));
        std::memcpy(weights.data(), row.data(), weights.size() * sizeof(std::int16_t));
        int largest = 0;
        for (int j = 0; j < n; ++j) {
          const double e = std::exp(scores[static_cast<std::size_t>(j)] - max_score);
          want_sum += e;
          const int w = weights[static_cast<std::size_t>(j)];
          largest = std::max(largest, w);
          EXPECT_NEAR(w, e * values.scale[j] / got.unit, 0.52) << "key " << j << " of " << n << ", width " << width;
        }
        EXPECT_GE(largest, 32767 * 0.99) << n << " of " << width;
        for (int j = n; j < width + width % 2; ++j) EXPECT_EQ(weights[static_cast<std::size_t>(j)], 0) << "key " << j;
        EXPECT_NEAR(got.sum, want_sum, want_sum * 1e-6) << n << " of " << width;
        EXPECT_EQ(row.back(), untouched) << "past the row";
      }
    }
  }
}

// The product against float64 sums of the integers it multiplies: each
// int32 sum is exact, so only its conversion to float (every 128 keys), the
// float additions of those and the scaling round: 1e-6 of the sum of
// |w * v8|. Row counts of the kernel's blocks (4 rows at head_dim 64, 3 at
// 128) and not; widths within one pair, across the 128 keys of a flush, and
// weights all 32767 against values all +-511 over 300 keys (whose sum would
// overflow int32 without the flushes); every row all `width` keys, or
// causal, row r its first width - (n_rows - 1 - r) (the rest zero).
TEST(ValuesInt16, WeightedValuesEqualFloat64SumsOfTheIntegers) {
  if (!int16_values_fit(64)) GTEST_SKIP() << kNoKernel;
  for (const int head_dim : {64, 128}) {
    for (const bool extreme : {false, true}) {
      const int n_keys = 300;
      auto v = test::random_floats(static_cast<std::size_t>(n_keys * head_dim), 64);
      if (extreme) {
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = i % 2 == 0 ? -1.0f : 1.0f;  // one sign per dim
      }
      std::vector<std::byte> scratch(int16_values_bytes(n_keys, head_dim));
      const Int16Values values = quantize_values(v.data(), head_dim, n_keys, head_dim, scratch.data());
      for (const int n_rows : {1, 2, 3, 4, 5, 7, 64, kMaxAttendBlockRows}) {
        for (const int width : {1, 2, 127, 128, 129, 300})
          for (const bool causal : {false, true}) {
            if (causal && width < n_rows) continue;  // a row would see no key
            // Rows of `width` floats holding int16 weights at their start, as
            // weights_int16 leaves them: causal, zero past each row's keys.
            std::vector<float> rows(static_cast<std::size_t>(n_rows * width));
            std::vector<std::int16_t> w(static_cast<std::size_t>(n_rows) * (width + 1));
            std::mt19937 rng(static_cast<std::uint32_t>(65 + width));
            std::uniform_int_distribution<int> weight(0, 32767);
            for (int r = 0; r < n_rows; ++r) {
              std::int16_t* row = w.data() + static_cast<std::size_t>(r) * (width + 1);
              const int seen = causal ? width - (n_rows - 1 - r) : width;
              for (int j = 0; j < width; ++j)
                row[j] = static_cast<std::int16_t>(j >= seen ? 0 : extreme ? 32767 : weight(rng));
              row[width] = 0;  // a pair's missing key
              std::memcpy(rows.data() + static_cast<std::size_t>(r) * width, row,
                          static_cast<std::size_t>(width + width % 2) * sizeof(std::int16_t));
            }
            std::vector<float> row_scale(static_cast<std::size_t>(n_rows));
            for (int r = 0; r < n_rows; ++r) row_scale[static_cast<std::size_t>(r)] = 1.0f / static_cast<float>(r + 3);
            const int out_stride = head_dim + 3;
            std::vector<float> out(static_cast<std::size_t>(n_rows * out_stride), 555.0f);
            weighted_values_int16(rows.data(), n_rows, width, causal, values, row_scale.data(), out.data(), out_stride);
            for (int r = 0; r < n_rows; ++r) {
              const std::int16_t* row = w.data() + static_cast<std::size_t>(r) * (width + 1);
              for (int d = 0; d < head_dim; ++d) {
                double sum = 0.0, magnitude = 0.0;
                for (int j = 0; j < width; ++j) {
                  const int v8 = values.packed[(static_cast<std::size_t>(j / 2) * head_dim + d) * 2 + j % 2];
                  sum += static_cast<double>(row[j]) * v8;
                  magnitude += std::fabs(static_cast<double>(row[j]) * v8);
                }
                const double scale = row_scale[static_cast<std::size_t>(r)];
                ASSERT_NEAR(out[static_cast<std::size_t>(r * out_stride + d)], sum * scale, magnitude * scale * 1e-6)
                    << "head_dim " << head_dim << ", row " << r << " of " << n_rows << ", width " << width << ", dim "
                    << d << (extreme ? ", extreme" : "") << (causal ? ", causal" : "");
              }
              for (int d = head_dim; d < out_stride; ++d)
                ASSERT_EQ(out[static_cast<std::size_t>(r * out_stride + d)], 555.0f) << "past head_dim";
            }
          }
      }
    }
  }
}

TEST(ValuesInt16, RefusesShapesItDoesNotRun) {
  if (!int16_values_fit(64)) GTEST_SKIP() << kNoKernel;
  EXPECT_FALSE(int16_values_fit(32));
  EXPECT_FALSE(int16_values_fit(96));
  const auto v = test::random_floats(10 * 64, 66);
  std::vector<std::byte> scratch(int16_values_bytes(10, 64));
  EXPECT_THROW(quantize_values(v.data(), 32, 10, 32, scratch.data()), Error);
  EXPECT_THROW(quantize_values(v.data(), 64, 0, 64, scratch.data()), Error);
  const Int16Values values = quantize_values(v.data(), 64, 10, 64, scratch.data());
  std::vector<float> rows(static_cast<std::size_t>(kMaxAttendBlockRows + 1) * 11), scale(kMaxAttendBlockRows + 1, 1.0f);
  std::vector<float> out(static_cast<std::size_t>(kMaxAttendBlockRows + 1) * 64);
  EXPECT_THROW(weights_int16(rows.data(), 11, 11, values), Error);  // more keys than quantized
  EXPECT_THROW(weights_int16(rows.data(), 5, 4, values), Error);    // more keys than the row's width
  EXPECT_THROW(weighted_values_int16(rows.data(), 1, 11, false, values, scale.data(), out.data(), 64), Error);
  EXPECT_THROW(
      weighted_values_int16(rows.data(), kMaxAttendBlockRows + 1, 10, false, values, scale.data(), out.data(), 64),
      Error);
  EXPECT_THROW(weighted_values_int16(rows.data(), 5, 4, true, values, scale.data(), out.data(), 64), Error);
}

}  // namespace
}  // namespace octet::cpu
