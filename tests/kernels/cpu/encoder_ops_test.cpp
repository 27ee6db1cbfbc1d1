// The encoder's CPU kernels (LayerNorm, GELU, tanh, masked attention, mean pooling) against
// float64 references on awkward sizes.
#include "engine/core/dtype.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/eltwise_f32.h"
#include "kernels/cpu/masked_attention_bf16.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/scores_int8.h"
#include "kernels/cpu/values_int16.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <string>

namespace octet::cpu {
namespace {

TEST(LayerNorm, MatchesFloat64Reference) {
  for (auto [rows, dim] : {std::pair{1, 1}, {3, 7}, {5, 128}, {2, 1001}}) {
    // A large common offset: a one-pass variance in float would lose it.
    auto x = test::random_floats(static_cast<std::size_t>(rows * dim), 11, 2.0f);
    for (auto& v : x) v += 300.0f;
    const auto w = test::random_floats(static_cast<std::size_t>(dim), 12);
    const auto b = test::random_floats(static_cast<std::size_t>(dim), 13);
    std::vector<float> y(x.size());
    layer_norm(x.data(), w.data(), b.data(), rows, dim, 1e-12f, y.data());
    std::vector<double> ref(x.size());
    for (int r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int i = 0; i < dim; ++i) mean += x[static_cast<std::size_t>(r * dim + i)];
      mean /= dim;
      for (int i = 0; i < dim; ++i) var += std::pow(x[static_cast<std::size_t>(r * dim + i)] - mean, 2);
      var /= dim;
      for (int i = 0; i < dim; ++i) {
        const auto j = static_cast<std::size_t>(r * dim + i);
        // A row of one element normalizes to 0 exactly: (x - mean) is 0.
        ref[j] =
            (x[j] - mean) / std::sqrt(var + 1e-12) * w[static_cast<std::size_t>(i)] + b[static_cast<std::size_t>(i)];
      }
    }
    // x - mean is exact in float here (|x| < 2^9, spacing 2^-14 relative); the
    // rest is a few float roundings.
    EXPECT_LT(test::max_relative_error(y, ref), 1e-5) << rows << "x" << dim;
  }
}

TEST(Gelu, TheTanhFormMatchesFloat64) {
  auto x = test::random_floats(100001, 15, 3.0f);
  x[0] = 0.0f;
  x[1] = -12.0f;
  x[2] = 12.0f;
  std::vector<float> y(x.size());
  EltwiseF32().gelu_tanh(x.data(), static_cast<std::int64_t>(x.size()), y.data());
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    ref[i] = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
  }
  EXPECT_LT(test::max_relative_error(y, ref), 1e-6);
}

TEST(Gelu, MatchesTheErfFormInFloat64) {
  auto x = test::random_floats(100001, 14, 3.0f);
  x[0] = 0.0f;
  x[1] = -12.0f;  // Phi underflows: the result is -0, not NaN
  x[2] = 12.0f;
  std::vector<float> y(x.size()), t(x.size());
  EltwiseF32 eltwise;
  eltwise.gelu(x.data(), static_cast<std::int64_t>(x.size()), y.data());
  eltwise.tanh(x.data(), static_cast<std::int64_t>(x.size()), t.data());
  std::vector<double> ref(x.size()), ref_t(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    ref[i] = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
    ref_t[i] = std::tanh(static_cast<double>(x[i]));
  }
  EXPECT_LT(test::max_relative_error(y, ref), 1e-6);
  EXPECT_LT(test::max_relative_error(t, ref_t), 1e-6);
}

// Value by value, densely over [-20, 20] (every region of the rational
// function and both clamps) and at the edges: within 3e-7 max(1, |x|), where
// rounding x * Phi(x) alone costs up to 6e-8 |x| and Phi's few float
// roundings a few 6e-8 (eltwise_f32.cpp measures 1.8e-7).
TEST(Gelu, EachValueIsWithinAFewUlpsOfTheErfForm) {
  std::vector<float> x;
  for (int i = -200000; i <= 200000; ++i) x.push_back(static_cast<float>(i) * 1e-4f);
  const float inf = std::numeric_limits<float>::infinity();
  x.insert(x.end(), {inf, -inf, std::nanf(""), 1e30f, -1e30f, 1e-30f, -1e-30f});
  std::vector<float> y(x.size());
  EltwiseF32().gelu(x.data(), static_cast<std::int64_t>(x.size()), y.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(y[i]));
    } else if (std::isinf(v)) {
      EXPECT_EQ(y[i], v > 0 ? inf : 0.0f) << "x = " << v;
    } else {
      const double want = 0.5 * v * std::erfc(-v / std::sqrt(2.0));  // erfc: no cancellation for x < 0
      ASSERT_LE(std::abs(y[i] - want), 3e-7 * std::max(1.0, std::abs(v))) << "x = " << v;
    }
  }
}

// Bidirectional attention within each sequence, over its first lengths[b]
// keys, in float64. `bf16`: as the bf16 kernel rounds (q, k, v, and each
// softmax weight once normalized), the rest exact. With `value_scale`
// (int16_value_heads' scales of v's rows), `bound` gets each output's most
// change from its weights' rounding to int16.
std::vector<double> masked_attention_reference(std::vector<float> q, std::vector<float> k, std::vector<float> v,
                                               const std::vector<std::int32_t>& lengths, int seq, int heads, int hd,
                                               bool bf16 = false, const std::vector<double>* value_scale = nullptr,
                                               std::vector<double>* bound = nullptr) {
  const auto round_bf16 = [](double x) { return static_cast<double>(bf16_to_f32(f32_to_bf16(static_cast<float>(x)))); };
  if (bf16) {
    for (auto* values : {&q, &k, &v})
      for (float& x : *values) x = static_cast<float>(round_bf16(x));
  }
  const int dim = heads * hd;
  std::vector<double> out(q.size(), 0.0);
  for (std::size_t b = 0; b < lengths.size(); ++b)
    for (int t = 0; t < seq; ++t)
      for (int h = 0; h < heads; ++h) {
        const auto row = static_cast<std::size_t>(static_cast<int>(b) * seq + t);
        std::vector<double> s(static_cast<std::size_t>(lengths[b]));
        double top = -1e300, sum = 0;
        for (int j = 0; j < lengths[b]; ++j) {
          const auto key = static_cast<std::size_t>(static_cast<int>(b) * seq + j);
          double dot = 0;
          for (int d = 0; d < hd; ++d) {
            dot += static_cast<double>(q[row * dim + static_cast<std::size_t>(h * hd + d)]) *
                   k[key * dim + static_cast<std::size_t>(h * hd + d)];
          }
          s[static_cast<std::size_t>(j)] = dot / std::sqrt(static_cast<double>(hd));
          top = std::max(top, s[static_cast<std::size_t>(j)]);
        }
        for (double& x : s) sum += x = std::exp(x - top);
        const auto n_keys = static_cast<std::size_t>(lengths[b]);
        std::vector<double> scale(n_keys), value(n_keys);
        for (std::size_t j = 0; j < n_keys && value_scale != nullptr; ++j)
          scale[j] = (*value_scale)[(b * static_cast<std::size_t>(seq) + j) * static_cast<std::size_t>(heads) +
                                    static_cast<std::size_t>(h)];
        for (int d = 0; d < hd; ++d) {
          const auto at = row * dim + static_cast<std::size_t>(h * hd + d);
          for (std::size_t j = 0; j < n_keys; ++j) {
            const double weight = s[j] / sum;
            value[j] = v[(b * static_cast<std::size_t>(seq) + j) * dim + static_cast<std::size_t>(h * hd + d)];
            out[at] += (bf16 ? round_bf16(weight) : weight) * value[j];
          }
          if (value_scale != nullptr && bound != nullptr)
            (*bound)[at] = test::weight_rounding_bound(s, scale, value, sum);
        }
      }
  return out;
}

TEST(MaskedAttention, MatchesFloat64ReferenceAndIgnoresPadding) {
  struct Case {
    int seq, heads, hd;
    std::vector<std::int32_t> lengths;
  };
  for (const Case& c :
       {Case{1, 1, 8, {1}}, Case{7, 3, 5, {7, 1, 4}}, Case{33, 2, 64, {33, 17}}, Case{128, 12, 64, {128, 3}},
        Case{70, 2, 16, {70, 40, 33}}, Case{300, 2, 32, {300, 129}}}) {  // query blocks of 128 rows: 2 whole, 1 partial
    const auto n = static_cast<std::size_t>(c.lengths.size() * static_cast<std::size_t>(c.seq * c.heads * c.hd));
    const auto q = test::random_floats(n, 15), k = test::random_floats(n, 16), v = test::random_floats(n, 17);
    std::vector<float> scratch(masked_attention_scratch_floats(c.seq)), y(n);
    const MaskedAttentionShape shape{static_cast<int>(c.lengths.size()), c.seq, c.heads, c.hd};
    masked_attention(q.data(), k.data(), v.data(), c.lengths.data(), shape, scratch, y.data());
    EXPECT_LT(test::max_relative_error(y, masked_attention_reference(q, k, v, c.lengths, c.seq, c.heads, c.hd)), 1e-5)
        << c.seq << " tokens, " << c.heads << " heads of " << c.hd;
    // Whatever the padding keys and values hold, real tokens see the same result.
    auto k2 = k, v2 = v;
    for (std::size_t b = 0; b < c.lengths.size(); ++b)
      for (int t = c.lengths[b]; t < c.seq; ++t)
        for (int d = 0; d < c.heads * c.hd; ++d) {
          const auto i = (b * static_cast<std::size_t>(c.seq) + static_cast<std::size_t>(t)) *
                             static_cast<std::size_t>(c.heads * c.hd) +
                         static_cast<std::size_t>(d);
          k2[i] = 1e4f;
          v2[i] = -1e4f;
        }
    std::vector<float> y2(n);
    masked_attention(q.data(), k2.data(), v2.data(), c.lengths.data(), shape, scratch, y2.data());
    for (std::size_t b = 0; b < c.lengths.size(); ++b)
      for (int t = 0; t < c.lengths[b]; ++t)
        for (int d = 0; d < c.heads * c.hd; ++d) {
          const auto i = (b * static_cast<std::size_t>(c.seq) + static_cast<std::size_t>(t)) *
                             static_cast<std::size_t>(c.heads * c.hd) +
                         static_cast<std::size_t>(d);
          ASSERT_EQ(y2[i], y[i]);
        }
  }
}

// The int8 rows it writes for the matmul after it are quantize_row_int8's of
// its own output, and the output is that of a run without them: one sequence
// (fewer than the threads, where there are several: quantized after) and one
// more than the threads (per sequence, in cache).
TEST(MaskedAttention, QuantizesItsOutputRowsAsTheMatmulWould) {
  const int seq = 40, heads = 3, hd = 16, dim = heads * hd;
  std::vector<std::int32_t> many;
  for (int b = 0; b <= omp_get_max_threads(); ++b) many.push_back(1 + (b * 17) % seq);
  many[0] = seq;
  for (const std::vector<std::int32_t>& lengths : {std::vector<std::int32_t>{29}, many}) {
    const auto rows = static_cast<std::size_t>(lengths.size()) * seq;
    const auto n = rows * dim;
    const auto q = test::random_floats(n, 18, 2.0f), k = test::random_floats(n, 19, 2.0f),
               v = test::random_floats(n, 20);
    std::vector<float> scratch(masked_attention_scratch_floats(seq)), plain(n), y(n), scale(rows);
    std::vector<std::int8_t> y_q(n);
    const MaskedAttentionShape shape{static_cast<int>(lengths.size()), seq, heads, hd};
    masked_attention(q.data(), k.data(), v.data(), lengths.data(), shape, scratch, plain.data());
    masked_attention(q.data(), k.data(), v.data(), lengths.data(), shape, scratch, y.data(), y_q.data(), scale.data());
    EXPECT_EQ(y, plain) << lengths.size() << " sequences";
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<std::int8_t> want(static_cast<std::size_t>(dim));
      const float want_scale = quantize_row_int8(y.data() + r * dim, dim, want.data());
      ASSERT_EQ(scale[r], want_scale) << "row " << r << " of " << lengths.size() << " sequences";
      ASSERT_TRUE(std::equal(want.begin(), want.end(), y_q.begin() + static_cast<std::ptrdiff_t>(r * dim)))
          << "row " << r << " of " << lengths.size() << " sequences";
    }
  }
}

// With int8 scores, sequences of kInt8ScoreRows tokens or more attend as the
// float64 attention over their queries and centred keys quantized per row and head
// (the int8 sums are exact: float rounding is left, as in the float test),
// and with head_dim 64 or 128 over their values quantized too, each weight
// rounded to an int16 unit (up to half a unit per key: the bound); shorter
// ones in float. Fewer sequences than threads (per head) and more
// (whole sequences, output rows quantized as they finish), padding, blocks
// of 128 rows.
TEST(MaskedAttention, Int8ScoresMatchFloat64OverTheQuantizedQueriesAndKeys) {
  if (!int8_scores_built()) GTEST_SKIP() << "this build has no AVX-512 VNNI (int8 scores run as float)";
  struct Case {
    int seq, heads, hd;
    std::vector<std::int32_t> lengths;
  };
  std::vector<std::int32_t> many;
  for (int b = 0; b <= omp_get_max_threads(); ++b) many.push_back(1 + (b * 17) % 40);
  for (const Case& c : {Case{7, 3, 8, {7, 1}}, Case{33, 2, 64, {33, 17}}, Case{128, 4, 64, {128, 3}},
                        Case{300, 2, 32, {300, 129}}, Case{40, 3, 18, many}}) {
    const auto rows = c.lengths.size() * static_cast<std::size_t>(c.seq);
    const int dim = c.heads * c.hd;
    const auto n = rows * static_cast<std::size_t>(dim);
    const auto q = test::random_floats(n, 25, 2.0f), k = test::random_floats(n, 26, 2.0f),
               v = test::random_floats(n, 27);
    std::vector<float> scratch(masked_attention_scratch_floats(c.seq, c.hd)), y(n), scale(rows);
    std::vector<std::int8_t> y_q(n);
    const MaskedAttentionShape shape{static_cast<int>(c.lengths.size()), c.seq, c.heads, c.hd, true};
    masked_attention(q.data(), k.data(), v.data(), c.lengths.data(), shape, scratch, y.data(), y_q.data(),
                     scale.data());
    const bool int8 = c.seq >= kInt8ScoreRows;
    const bool int16 = int8 && int16_values_fit(c.hd);
    auto centred = k;  // each sequence's real keys centred on their mean, as the kernel quantizes them
    auto values = v;   // and its values quantized, where int16 (the weights then round: `bound`)
    std::vector<double> value_scale(rows * static_cast<std::size_t>(c.heads)), bound(n, 0.0);
    for (std::size_t b = 0; b < c.lengths.size(); ++b) {
      const auto first = b * static_cast<std::size_t>(c.seq), count = static_cast<std::size_t>(c.lengths[b]);
      test::centre_heads(centred, first, count, c.heads, c.hd);
      if (int16) test::int16_value_heads(values, first, count, c.heads, c.hd, value_scale);
    }
    const auto want = int8 ? masked_attention_reference(
                                 test::dequantized_heads(q, c.hd), test::dequantized_heads(centred, c.hd), values,
                                 c.lengths, c.seq, c.heads, c.hd, false, int16 ? &value_scale : nullptr, &bound)
                           : masked_attention_reference(q, k, v, c.lengths, c.seq, c.heads, c.hd);
    // Padding rows attend too (ignored by what follows): compared as well.
    EXPECT_LE(test::excess_over_bound(y, want, bound, 1e-5), 0.0)
        << c.seq << " tokens, " << c.lengths.size() << " sequences";
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<std::int8_t> row(static_cast<std::size_t>(dim));
      ASSERT_EQ(scale[r], quantize_row_int8(y.data() + r * static_cast<std::size_t>(dim), dim, row.data()));
    }
  }
}

// What the backend gets: the bf16 kernel where the CPU has AMX (the kernel
// flag Linux shows in /proc/cpuinfo, apart from oneDNN), the f32 one
// elsewhere, where it is the faster.
TEST(MaskedAttention, Bf16KernelRunsForTheBackendExactlyWhereTheCpuHasAmx) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo to read the CPU's flags from";
  std::string line;
  bool amx = false;
  while (std::getline(cpuinfo, line)) {
    if (line.starts_with("flags")) {
      amx = (line + " ").find(" amx_bf16 ") != std::string::npos;
      break;
    }
  }
  MaskedAttentionBf16 attention;
  EXPECT_EQ(attention.prepare(128, 12, 64), amx) << (amx ? "AMX here, yet declined" : "no AMX here, yet taken");
}

// The bf16 kernel against the float64 reference of the same roundings. Its
// scores are float sums of exact bf16 products, its softmax float: the one
// larger difference is a weight whose float value sits at a bf16 rounding
// boundary and rounds the other way, one bf16 step (2^-8 of it at most), so
// |error| <= 2^-8 max|v| bounds every value, and such flips are rare, so the
// mean error is far smaller. Padding keys and values hold NaN: the kernel
// must not multiply them in (0 x NaN is NaN).
// (On AVX-512 BF16 without AMX too, though the backend takes it with AMX only.)
TEST(MaskedAttention, Bf16KernelMatchesItsRoundingInFloat64) {
  MaskedAttentionBf16 attention(MaskedAttentionBf16::Kernels::AnyBrgemm);
  if (!attention.prepare(7, 3, 64)) {
    GTEST_SKIP() << "oneDNN has no bf16 brgemm kernel on this CPU (it needs AVX-512 BF16 or AMX); "
                    "int8 encoders run the f32 attention here";
  }
  struct Case {
    int seq, heads, hd;
    std::vector<std::int32_t> lengths;
  };
  // One sequence (its heads split among the threads) and several; 130 keys: not a multiple of any tile.
  for (const Case& c : {Case{7, 3, 64, {5}}, Case{33, 2, 64, {33, 17, 1}}, Case{130, 12, 64, {130, 70}},
                        Case{16, 4, 32, {16, 9, 3, 11, 16}}}) {
    const auto n = static_cast<std::size_t>(c.lengths.size() * static_cast<std::size_t>(c.seq * c.heads * c.hd));
    const auto q = test::random_floats(n, 15, 2.0f);
    auto k = test::random_floats(n, 16, 2.0f), v = test::random_floats(n, 17);
    const auto want = masked_attention_reference(q, k, v, c.lengths, c.seq, c.heads, c.hd, true);
    float max_v = 0.0f;
    for (const float x : v) max_v = std::max(max_v, std::abs(x));
    const int dim = c.heads * c.hd;
    for (std::size_t b = 0; b < c.lengths.size(); ++b)
      for (int t = c.lengths[b]; t < c.seq; ++t)
        for (int d = 0; d < dim; ++d) {
          const std::size_t i = (b * static_cast<std::size_t>(c.seq) + static_cast<std::size_t>(t)) * dim + d;
          k[i] = v[i] = std::numeric_limits<float>::quiet_NaN();
        }
    std::vector<float> y(n);
    const MaskedAttentionShape shape{static_cast<int>(c.lengths.size()), c.seq, c.heads, c.hd};
    ASSERT_TRUE(attention.run(q.data(), k.data(), v.data(), c.lengths.data(), shape, y.data()));
    double worst = 0.0, total = 0.0;
    std::size_t counted = 0;
    for (std::size_t b = 0; b < c.lengths.size(); ++b)
      for (int t = 0; t < c.lengths[b]; ++t)  // padding rows' outputs are ignored downstream
        for (int d = 0; d < dim; ++d) {
          const std::size_t i = (b * static_cast<std::size_t>(c.seq) + static_cast<std::size_t>(t)) * dim + d;
          const double error = std::abs(y[i] - want[i]);
          ASSERT_FALSE(std::isnan(y[i])) << "a padding value leaked in";
          worst = std::max(worst, error);
          total += error;
          ++counted;
        }
    // Quantized for the int8 matmul after it as it writes: each row exactly as quantize_row_int8 has it.
    std::vector<float> y2(n), scales(n / static_cast<std::size_t>(dim)), want_scales(scales.size());
    std::vector<std::int8_t> rows_q(n), want_q(n);
    ASSERT_TRUE(
        attention.run(q.data(), k.data(), v.data(), c.lengths.data(), shape, y2.data(), rows_q.data(), scales.data()));
    EXPECT_EQ(y2, y) << "quantizing leaves the floats as they were";
    for (std::size_t r = 0; r < scales.size(); ++r) {
      want_scales[r] = quantize_row_int8(y.data() + r * static_cast<std::size_t>(dim), dim, want_q.data() + r * dim);
    }
    EXPECT_EQ(scales, want_scales);
    EXPECT_EQ(rows_q, want_q);
    EXPECT_LE(worst, std::ldexp(max_v, -8) + 1e-6) << c.seq << " tokens, " << c.heads << " heads";
    EXPECT_LE(total / static_cast<double>(counted), std::ldexp(max_v, -14))
        << c.seq << " tokens, " << c.heads << " heads";
  }
  const std::vector<std::int32_t> too_long{8};
  std::vector<float> x(7 * 3 * 64), y(x.size());
  EXPECT_THROW(attention.run(x.data(), x.data(), x.data(), too_long.data(), {1, 7, 3, 64}, y.data()), std::exception);
}

TEST(MaskedAttention, RefusesALengthOutsideTheSequence) {
  std::vector<float> q(8), scratch(masked_attention_scratch_floats(2)), y(8);
  const std::vector<std::int32_t> lengths{3};
  EXPECT_THROW(masked_attention(q.data(), q.data(), q.data(), lengths.data(), {1, 2, 1, 4}, scratch, y.data()),
               std::exception);
}

// Padding rows hold huge values: any that leaked into a mean would show.
TEST(MeanRows, AveragesEachSequencesOwnRowsInFloat64) {
  const int batch = 3, seq_len = 5, dim = 7;
  auto x = test::random_floats(static_cast<std::size_t>(batch * seq_len * dim), 31);
  const std::vector<std::int32_t> lengths{5, 1, 3};
  for (int b = 0; b < batch; ++b)
    for (int r = lengths[static_cast<std::size_t>(b)]; r < seq_len; ++r)
      for (int c = 0; c < dim; ++c) x[static_cast<std::size_t>((b * seq_len + r) * dim + c)] = 1e30f;
  std::vector<float> y(static_cast<std::size_t>(batch * dim));
  mean_rows(x.data(), lengths.data(), batch, seq_len, dim, y.data());
  std::vector<double> ref(y.size());
  for (int b = 0; b < batch; ++b)
    for (int c = 0; c < dim; ++c) {
      double sum = 0;
      for (int r = 0; r < lengths[static_cast<std::size_t>(b)]; ++r)
        sum += x[static_cast<std::size_t>((b * seq_len + r) * dim + c)];
      ref[static_cast<std::size_t>(b * dim + c)] = sum / lengths[static_cast<std::size_t>(b)];
    }
  // Summed in double, rounded once to float.
  EXPECT_LT(test::max_relative_error(y, ref), 1e-7);
  const std::vector<std::int32_t> too_long{6, 1, 1};
  EXPECT_THROW(mean_rows(x.data(), too_long.data(), batch, seq_len, dim, y.data()), std::exception);
}

TEST(L2Normalize, GivesUnitRowsAndKeepsZeroRowsZero) {
  auto x = test::random_floats(3 * 5, 41, 100.0f);
  std::fill(x.begin() + 5, x.begin() + 10, 0.0f);  // row 1: all zero
  std::vector<float> y(x.size());
  l2_normalize(x.data(), 3, 5, y.data());
  std::vector<double> ref(x.size(), 0.0);
  for (int r : {0, 2}) {
    double norm = 0;
    for (int c = 0; c < 5; ++c) norm += std::pow(x[static_cast<std::size_t>(r * 5 + c)], 2);
    for (int c = 0; c < 5; ++c)
      ref[static_cast<std::size_t>(r * 5 + c)] = x[static_cast<std::size_t>(r * 5 + c)] / std::sqrt(norm);
  }
  EXPECT_LT(test::max_relative_error(y, ref), 1e-7);
}

}  // namespace
}  // namespace octet::cpu
