#include "kernels/cpu/scores_int8.h"

#include "engine/core/error.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/attend.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace octet::cpu {
namespace {

// The int8 scores against float64 sums of the values quantize_row_int8
// makes of each query row and centred key: the products and their int32 sums are
// exact, so only the two float multiplies by the scales round (2 float ulps).
// Head dims of a whole 4-byte group and not (6, 18), row counts of the
// kernel's tile of 4 and not, widths inside one 16-key vector, across one and
// across a tile of 64 keys; rows 2 head dims + 3 floats apart; every row
// all `width` keys, or causal, row r its first width - (n_rows - 1 - r).
// Scores past `width` stay as they were. A key with a NaN and an all-zero one quantize as
// quantize_row_int8 quantizes them.
TEST(ScoresInt8, EqualTheFloat64SumsOfTheQuantizedValues) {
  if (!int8_scores_built()) GTEST_SKIP() << "this build has no VNNI (the float scores run instead)";
  for (const int head_dim : {6, 18, 64, 128}) {
    const int stride = 2 * head_dim + 3;
    for (const int n_rows : {1, 3, 4, 7, 64, kMaxAttendBlockRows}) {
      for (const int n_keys : {1, 16, 17, 64, 65, 130}) {
        auto q = test::random_floats(static_cast<std::size_t>(n_rows * stride), 91, 3.0f);
        auto k = test::random_floats(static_cast<std::size_t>(n_keys * stride), 92, 3.0f);
        if (n_keys > 2) {
          k[static_cast<std::size_t>(stride + 1)] = NAN;        // key 1
          std::fill_n(k.begin() + 2 * stride, head_dim, 0.0f);  // key 2
        }
        // The keys as quantize_keys quantizes them: less their mean (float
        // sums in key order), which shifts each row's scores by one constant.
        std::vector<float> centred(static_cast<std::size_t>(n_keys * head_dim));
        for (int d = 0; d < head_dim; ++d) {
          float mean = 0.0f;
          for (int j = 0; j < n_keys; ++j) mean += k[static_cast<std::size_t>(j * stride + d)];
          mean /= static_cast<float>(n_keys);
          for (int j = 0; j < n_keys; ++j)
            centred[static_cast<std::size_t>(j * head_dim + d)] = k[static_cast<std::size_t>(j * stride + d)] - mean;
        }
        std::vector<std::byte> scratch(int8_keys_bytes(n_keys, head_dim));
        const Int8Keys keys = quantize_keys(k.data(), stride, n_keys, head_dim, scratch.data());
        for (const int width : {1, n_keys / 2 + 1, n_keys})
          for (const bool causal : {false, true}) {
            if (causal && width < n_rows) continue;  // a row would see no key
            const float scale = 0.125f, untouched = 12345.0f;
            std::vector<float> scores(static_cast<std::size_t>(n_rows * width) + 1, untouched);
            score_rows_int8(q.data(), stride, n_rows, keys, width, causal, scale, scores.data());
            std::vector<std::int8_t> q8(static_cast<std::size_t>(head_dim)), k8(static_cast<std::size_t>(head_dim));
            for (int r = 0; r < n_rows; ++r) {
              const float sq = quantize_row_int8(q.data() + r * stride, head_dim, q8.data());
              const int seen = causal ? width - (n_rows - 1 - r) : width;
              for (int j = 0; j < seen; ++j) {
                const float sk = quantize_row_int8(centred.data() + j * head_dim, head_dim, k8.data());
                std::int64_t dot = 0;
                for (int d = 0; d < head_dim; ++d)
                  dot += q8[static_cast<std::size_t>(d)] * k8[static_cast<std::size_t>(d)];
                const double want = static_cast<double>(dot) * sq * scale * sk;
                const float got = scores[static_cast<std::size_t>(r * width + j)];
                ASSERT_NEAR(got, want, std::fabs(want) * 2.5e-7 + 1e-30)
                    << "head_dim " << head_dim << ", row " << r << " of " << n_rows << ", key " << j << " of " << width
                    << (causal ? ", causal" : "");
              }
            }
            ASSERT_EQ(scores.back(), untouched) << "past the last row's width";
          }
      }
    }
  }
}

TEST(ScoresInt8, RefusesWidthsPastTheKeysAndTooManyRows) {
  if (!int8_scores_built()) GTEST_SKIP() << "this build has no VNNI (the float scores run instead)";
  const auto k = test::random_floats(10 * 8, 93);
  const auto q = test::random_floats(static_cast<std::size_t>(kMaxAttendBlockRows + 1) * 8, 94);
  std::vector<std::byte> scratch(int8_keys_bytes(10, 8));
  const Int8Keys keys = quantize_keys(k.data(), 8, 10, 8, scratch.data());
  std::vector<float> scores(static_cast<std::size_t>(kMaxAttendBlockRows + 1) * 11);
  EXPECT_THROW(score_rows_int8(q.data(), 8, 1, keys, 11, false, 1.0f, scores.data()), Error);
  EXPECT_THROW(score_rows_int8(q.data(), 8, kMaxAttendBlockRows + 1, keys, 10, false, 1.0f, scores.data()), Error);
  EXPECT_THROW(score_rows_int8(q.data(), 8, 5, keys, 4, true, 1.0f, scores.data()), Error);  // a row would see no key
}

}  // namespace
}  // namespace octet::cpu
