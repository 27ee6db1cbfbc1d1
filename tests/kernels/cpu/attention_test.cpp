#include "engine/core/dtype.h"
#include "engine/core/error.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/scores_int8.h"
#include "kernels/cpu/values_int16.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>

namespace octet::cpu {
namespace {

// One block of query rows against its keys (attend_block, the step both
// attention kernels share) in float64: head dims of one vector, a few and not
// a whole number of them; row counts of one, a few and a block; key counts
// inside a 16-key vector, across one, and across 64 keys; causal or not; rows
// 3 head dims + 5 floats apart. Columns past the head's must stay as they
// were.
TEST(AttendBlock, MatchesFloat64) {
  for (const int head_dim : {16, 40, 64, 80, 128}) {
    const int stride = 3 * head_dim + 5;
    for (const int n_rows : {1, 7, 17, 64}) {
      for (const int n_keys : {1, 17, 64, 65, 130}) {
        for (const bool causal : {false, true}) {
          const int keys = n_keys + (causal ? n_rows - 1 : 0);
          const auto q = test::random_floats(static_cast<std::size_t>(n_rows * stride), 81, 2.0f);
          const auto k = test::random_floats(static_cast<std::size_t>(keys * stride), 82, 2.0f);
          const auto v = test::random_floats(static_cast<std::size_t>(keys * stride), 83);
          const float untouched = 12345.0f;
          std::vector<float> out(static_cast<std::size_t>(n_rows * stride), untouched);
          std::vector<float> scores(attend_block_scratch(keys, n_rows));
          const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
          attend_block({.q = q.data(),
                        .q_stride = stride,
                        .n_rows = n_rows,
                        .k = k.data(),
                        .v = v.data(),
                        .kv_stride = stride,
                        .n_keys = n_keys,
                        .causal = causal,
                        .head_dim = head_dim,
                        .scale = scale,
                        .out = out.data(),
                        .out_stride = stride},
                       scores.data());
          std::vector<float> got;
          std::vector<double> want;
          for (int r = 0; r < n_rows; ++r) {
            const int seen = n_keys + (causal ? r : 0);
            std::vector<double> p(static_cast<std::size_t>(seen));
            double top = -1e300, sum = 0;
            for (int j = 0; j < seen; ++j) {
              double dot = 0;
              for (int d = 0; d < head_dim; ++d)
                dot += static_cast<double>(q[static_cast<std::size_t>(r * stride + d)]) *
                       k[static_cast<std::size_t>(j * stride + d)];
              p[static_cast<std::size_t>(j)] = dot * scale;
              top = std::max(top, p[static_cast<std::size_t>(j)]);
            }
            for (double& x : p) sum += (x = std::exp(x - top));
            for (int d = 0; d < head_dim; ++d) {
              double acc = 0;
              for (int j = 0; j < seen; ++j)
                acc += p[static_cast<std::size_t>(j)] / sum * v[static_cast<std::size_t>(j * stride + d)];
              want.push_back(acc);
              got.push_back(out[static_cast<std::size_t>(r * stride + d)]);
            }
            for (int c = head_dim; c < stride; ++c) ASSERT_EQ(out[static_cast<std::size_t>(r * stride + c)], untouched);
          }
          // A score's float rounding (sums of up to 128 products of values up
          // to 2) moves its softmax weight by that much relatively: 1.8e-6 at
          // most here (sgemm on AVX-512), 5e-6 leaves room for another order.
          EXPECT_LT(test::max_relative_error(got, want), 5e-6)
              << "head_dim " << head_dim << ", " << n_rows << " rows, " << n_keys << " keys, causal " << causal;
        }
      }
    }
  }
}

struct Case {
  int n_tokens, n_heads, n_kv_heads, head_dim, pos0, n_ctx;
};

// One sequence in slot 0 whose new tokens start at `pos` (alive until the end of the calling expression).
std::array<SequenceStep, 1> at(int pos) { return {SequenceStep{0, pos}}; }

// Causal attention of q's rows over cache rows 0..pos0 + t, in float64.
template <typename Cache>
// With `value_scale` (int16_value_heads' scales of the cache rows), `bound`
// gets each output's most change from its weights' rounding to int16.
std::vector<double> reference_attention(const std::vector<float>& q, const Cache& keys, const Cache& values,
                                        const Case& c, const std::vector<double>* value_scale = nullptr,
                                        std::vector<double>* bound = nullptr) {
  const int kv_dim = c.n_kv_heads * c.head_dim, q_dim = c.n_heads * c.head_dim;
  std::vector<double> ref(q.size());
  for (int t = 0; t < c.n_tokens; ++t)
    for (int h = 0; h < c.n_heads; ++h) {
      const int kvh = h / (c.n_heads / c.n_kv_heads), n_keys = c.pos0 + t + 1;
      std::vector<double> p(static_cast<std::size_t>(n_keys));
      double mx = -1e300, sum = 0;
      for (int j = 0; j < n_keys; ++j) {
        double dot = 0;
        for (int d = 0; d < c.head_dim; ++d)
          dot += static_cast<double>(q[static_cast<std::size_t>(t * q_dim + h * c.head_dim + d)]) *
                 keys[static_cast<std::size_t>(j * kv_dim + kvh * c.head_dim + d)];
        p[static_cast<std::size_t>(j)] = dot / std::sqrt(static_cast<double>(c.head_dim));
        mx = std::max(mx, p[static_cast<std::size_t>(j)]);
      }
      for (auto& s : p) sum += (s = std::exp(s - mx));
      std::vector<double> scale(static_cast<std::size_t>(n_keys)), value(static_cast<std::size_t>(n_keys));
      for (int j = 0; j < n_keys && value_scale != nullptr; ++j)
        scale[static_cast<std::size_t>(j)] = (*value_scale)[static_cast<std::size_t>(j * c.n_kv_heads + kvh)];
      for (int d = 0; d < c.head_dim; ++d) {
        double acc = 0;
        for (int j = 0; j < n_keys; ++j) {
          value[static_cast<std::size_t>(j)] = values[static_cast<std::size_t>(j * kv_dim + kvh * c.head_dim + d)];
          acc += p[static_cast<std::size_t>(j)] / sum * value[static_cast<std::size_t>(j)];
        }
        const auto at = static_cast<std::size_t>(t * q_dim + h * c.head_dim + d);
        ref[at] = acc;
        if (value_scale != nullptr && bound != nullptr)
          (*bound)[at] = test::weight_rounding_bound(p, scale, value, sum);
      }
    }
  return ref;
}

// Causal attention in float64 over the cache rows the kernel should have
// written: earlier rows (random, as if from previous steps) then the new ones.
TEST(Attention, MatchesFloat64ReferenceWithGroupedHeadsAndOffsets) {
  for (const Case c : {Case{1, 1, 1, 1, 0, 1}, Case{1, 4, 2, 8, 0, 16}, Case{5, 4, 4, 16, 0, 5},
                       Case{3, 6, 2, 10, 7, 12}, Case{1, 8, 1, 33, 40, 41}, Case{17, 4, 2, 32, 3, 64},
                       // several blocks of kAttendBlockRows query rows, the last one partial
                       Case{70, 2, 1, 16, 0, 80}, Case{65, 3, 3, 8, 9, 90}}) {
    const int kv_dim = c.n_kv_heads * c.head_dim, q_dim = c.n_heads * c.head_dim;
    auto k_cache = test::random_floats(static_cast<std::size_t>(c.n_ctx * kv_dim), 12);
    auto v_cache = test::random_floats(static_cast<std::size_t>(c.n_ctx * kv_dim), 13);
    const auto q = test::random_floats(static_cast<std::size_t>(c.n_tokens * q_dim), 14);
    const auto k = test::random_floats(static_cast<std::size_t>(c.n_tokens * kv_dim), 15);
    const auto v = test::random_floats(static_cast<std::size_t>(c.n_tokens * kv_dim), 16);
    std::vector<float> scratch(attention_scratch_floats(c.n_ctx));
    std::vector<float> out(static_cast<std::size_t>(c.n_tokens * q_dim));
    auto keys = k_cache, values = v_cache;  // the reference's view of the cache
    std::copy(k.begin(), k.end(), keys.begin() + c.pos0 * kv_dim);
    std::copy(v.begin(), v.end(), values.begin() + c.pos0 * kv_dim);

    attention(q.data(), k.data(), v.data(), {k_cache.data(), v_cache.data()},
              {c.n_tokens, c.n_heads, c.n_kv_heads, c.head_dim, c.n_ctx, at(c.pos0)}, scratch, out.data());
    EXPECT_EQ(k_cache, keys) << "new keys appended at pos0";
    EXPECT_EQ(v_cache, values);

    const auto ref = reference_attention(q, keys, values, c);
    // float32 dot products and softmax: ~1e-6 relative; 1e-5 leaves room for 64 keys.
    EXPECT_LT(test::max_relative_error(out, ref), 1e-5)
        << "tokens " << c.n_tokens << " heads " << c.n_heads << "/" << c.n_kv_heads << " pos0 " << c.pos0;
  }
}

// With int8 scores, a prompt's rows (kInt8ScoreRows or more) attend as the
// float64 attention over their queries and centred keys quantized per row and head:
// the int8 sums are exact, so what is left is float rounding, as in the
// float test above. With head_dim 64 or 128 the values are quantized too
// (int16_value_heads) and each weight rounds to an int16 unit: the outputs
// may move by up to half a unit per key (weight_rounding_bound), no more. Fewer rows (a
// decode step, a short chunk) attend in float. Grouped heads, cache rows from
// earlier steps, several blocks of rows, head dims of a whole 4-byte group and not.
TEST(Attention, Int8ScoresMatchFloat64OverTheQuantizedQueriesAndKeys) {
  if (!int8_scores_built()) GTEST_SKIP() << "this build has no AVX-512 VNNI (int8 scores run as float)";
  for (const Case c :
       {Case{17, 4, 2, 32, 3, 64}, Case{70, 2, 1, 16, 0, 80}, Case{65, 3, 3, 8, 9, 90}, Case{40, 2, 2, 6, 0, 40},
        Case{130, 2, 1, 64, 0, 130}, Case{5, 4, 4, 16, 0, 5}, Case{15, 2, 1, 16, 4, 19}}) {
    const int kv_dim = c.n_kv_heads * c.head_dim, q_dim = c.n_heads * c.head_dim;
    auto k_cache = test::random_floats(static_cast<std::size_t>(c.n_ctx * kv_dim), 32, 2.0f);
    auto v_cache = test::random_floats(static_cast<std::size_t>(c.n_ctx * kv_dim), 33);
    const auto q = test::random_floats(static_cast<std::size_t>(c.n_tokens * q_dim), 34, 2.0f);
    const auto k = test::random_floats(static_cast<std::size_t>(c.n_tokens * kv_dim), 35, 2.0f);
    const auto v = test::random_floats(static_cast<std::size_t>(c.n_tokens * kv_dim), 36);
    std::vector<float> scratch(attention_scratch_floats(c.n_ctx, 0, c.head_dim));
    std::vector<float> out(static_cast<std::size_t>(c.n_tokens * q_dim));
    auto keys = k_cache, values = v_cache;
    std::copy(k.begin(), k.end(), keys.begin() + c.pos0 * kv_dim);
    std::copy(v.begin(), v.end(), values.begin() + c.pos0 * kv_dim);
    keys.resize(static_cast<std::size_t>((c.pos0 + c.n_tokens) * kv_dim));  // the rows attended to

    attention(q.data(), k.data(), v.data(), {k_cache.data(), v_cache.data()},
              {c.n_tokens, c.n_heads, c.n_kv_heads, c.head_dim, c.n_ctx, at(c.pos0), true}, scratch, out.data());

    const bool int8 = c.n_tokens >= kInt8ScoreRows;
    const bool int16 = int8 && int16_values_fit(c.head_dim);
    const auto rows = static_cast<std::size_t>(c.pos0 + c.n_tokens);
    // The keys as the kernel quantizes them: centred on their mean over the
    // rows attended to (which shifts each query's scores by one constant).
    auto centred = keys;
    test::centre_heads(centred, 0, rows, c.n_kv_heads, c.head_dim);
    std::vector<double> value_scale(rows * static_cast<std::size_t>(c.n_kv_heads)), bound(out.size(), 0.0);
    values.resize(rows * static_cast<std::size_t>(kv_dim));
    if (int16) test::int16_value_heads(values, 0, rows, c.n_kv_heads, c.head_dim, value_scale);
    const auto ref =
        int8 ? reference_attention(test::dequantized_heads(q, c.head_dim), test::dequantized_heads(centred, c.head_dim),
                                   values, c, int16 ? &value_scale : nullptr, &bound)
             : reference_attention(q, keys, values, c);
    EXPECT_LE(test::excess_over_bound(out, ref, bound, 1e-5), 0.0)
        << "tokens " << c.n_tokens << " heads " << c.n_heads << "/" << c.n_kv_heads << " head_dim " << c.head_dim
        << " pos0 " << c.pos0;
  }
}

// Sequences in one step are independent, each in its own cache slot at its
// own position (continuous batching): each one, run alone on its slot's rows,
// gives the same rows bit for bit (the same loop computes them).
// Decode steps (one token each, grouped heads as one block) and prefill
// chunks alike.
TEST(Attention, BatchedSequencesMatchEachRunAlone) {
  for (const int n_tokens : {1, 2}) {
    const int batch = 3, heads = 4, kv_heads = 2, hd = 8, n_ctx = 9;
    const SequenceStep sequences[] = {{2, 5}, {0, 1}, {1, 7}};
    const int kv_dim = kv_heads * hd, q_dim = heads * hd;
    const auto floats = [](int n, unsigned seed) { return test::random_floats(static_cast<std::size_t>(n), seed); };
    auto k_cache = floats(batch * n_ctx * kv_dim, 21), v_cache = floats(batch * n_ctx * kv_dim, 22);
    const auto q = floats(batch * n_tokens * q_dim, 23), k = floats(batch * n_tokens * kv_dim, 24),
               v = floats(batch * n_tokens * kv_dim, 25);
    std::vector<float> scratch(attention_scratch_floats(n_ctx));
    std::vector<float> out(q.size());
    const auto alone_k = k_cache, alone_v = v_cache;  // before the batched step appends
    attention(q.data(), k.data(), v.data(), {k_cache.data(), v_cache.data()},
              {n_tokens, heads, kv_heads, hd, n_ctx, sequences}, scratch, out.data());
    for (int b = 0; b < batch; ++b) {
      const int slot = sequences[b].slot;
      const auto slice = [](const std::vector<float>& all, int i, int len) {
        return std::vector<float>(all.begin() + i * len, all.begin() + (i + 1) * len);
      };
      auto kc = slice(alone_k, slot, n_ctx * kv_dim), vc = slice(alone_v, slot, n_ctx * kv_dim);
      std::vector<float> o(static_cast<std::size_t>(n_tokens * q_dim));
      attention(slice(q, b, n_tokens * q_dim).data(), slice(k, b, n_tokens * kv_dim).data(),
                slice(v, b, n_tokens * kv_dim).data(), {kc.data(), vc.data()},
                {n_tokens, heads, kv_heads, hd, n_ctx, at(sequences[b].pos)}, scratch, o.data());
      EXPECT_EQ(o, slice(out, b, n_tokens * q_dim)) << "sequence " << b;
      EXPECT_EQ(kc, slice(k_cache, slot, n_ctx * kv_dim)) << "sequence " << b << "'s keys land in its own slot's rows";
      EXPECT_EQ(vc, slice(v_cache, slot, n_ctx * kv_dim));
    }
  }
}

// An FP8 cache (rows of E4M3 codes, a scale per row and key/value head).
struct Fp8Cache {
  std::vector<std::uint8_t> codes;
  std::vector<float> scales;
  Fp8Cache(int rows, int n_kv_heads, int head_dim)
      : codes(static_cast<std::size_t>(rows * n_kv_heads * head_dim)),
        scales(static_cast<std::size_t>(rows * n_kv_heads)) {}
  // Stores `x`'s rows at row `first` on, each head's slice as quantize_row_fp8 makes it.
  void store(const std::vector<float>& x, int first, int n_kv_heads, int head_dim) {
    const int kv_dim = n_kv_heads * head_dim;
    for (int r = 0; r < static_cast<int>(x.size()) / kv_dim; ++r)
      for (int h = 0; h < n_kv_heads; ++h) {
        const auto at = static_cast<std::size_t>((first + r) * kv_dim + h * head_dim);
        scales[static_cast<std::size_t>((first + r) * n_kv_heads + h)] =
            quantize_row_fp8(&x[static_cast<std::size_t>(r * kv_dim + h * head_dim)], head_dim, &codes[at]);
      }
  }
  // What the cache stands for, in float64.
  // (code i belongs to row i / kv_dim and head i % kv_dim / head_dim: scale i / head_dim).
  std::vector<double> values(int head_dim) const {
    std::vector<double> out(codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i)
      out[i] = static_cast<double>(f8e4m3_to_f32(codes[i])) * scales[i / static_cast<std::size_t>(head_dim)];
    return out;
  }
};

// Every new row's slice of each head is stored as quantize_row_fp8 stores a
// row, and attention runs over what the codes stand for (new rows included,
// as later steps will read them), to float32 accuracy.
TEST(Attention, Fp8CacheStoresEachHeadQuantizedAndAttendsOverWhatItStores) {
  for (const Case c : {Case{1, 4, 2, 8, 0, 16}, Case{3, 6, 2, 10, 7, 12}, Case{1, 8, 1, 33, 40, 41},
                       Case{17, 4, 2, 32, 3, 64}, Case{70, 2, 1, 16, 0, 80}, Case{65, 3, 3, 8, 9, 90}}) {
    const int kv_dim = c.n_kv_heads * c.head_dim, q_dim = c.n_heads * c.head_dim;
    Fp8Cache k_cache(c.n_ctx, c.n_kv_heads, c.head_dim), v_cache(c.n_ctx, c.n_kv_heads, c.head_dim);
    // Earlier rows, as earlier steps would have left them.
    k_cache.store(test::random_floats(static_cast<std::size_t>(c.n_ctx * kv_dim), 12), 0, c.n_kv_heads, c.head_dim);
    v_cache.store(test::random_floats(static_cast<std::size_t>(c.n_ctx * kv_dim), 13), 0, c.n_kv_heads, c.head_dim);
    const auto q = test::random_floats(static_cast<std::size_t>(c.n_tokens * q_dim), 14);
    const auto k = test::random_floats(static_cast<std::size_t>(c.n_tokens * kv_dim), 15, 3.0f);
    const auto v = test::random_floats(static_cast<std::size_t>(c.n_tokens * kv_dim), 16, 0.5f);
    Fp8Cache want_k = k_cache, want_v = v_cache;
    want_k.store(k, c.pos0, c.n_kv_heads, c.head_dim);
    want_v.store(v, c.pos0, c.n_kv_heads, c.head_dim);
    const KvCache cache{k_cache.codes.data(), v_cache.codes.data(), k_cache.scales.data(), v_cache.scales.data()};
    const SequenceStep sequence[] = {{0, c.pos0}};
    const AttentionShape shape{c.n_tokens, c.n_heads, c.n_kv_heads, c.head_dim, c.n_ctx, sequence};
    std::vector<float> out(static_cast<std::size_t>(c.n_tokens * q_dim));

    std::vector<float> float_scratch(attention_scratch_floats(c.n_ctx));
    EXPECT_THROW(attention(q.data(), k.data(), v.data(), cache, shape, float_scratch, out.data()), Error)
        << "a float cache's scratch has no room to decode a head";
    std::vector<float> scratch(attention_scratch_floats(c.n_ctx, c.head_dim));
    attention(q.data(), k.data(), v.data(), cache, shape, scratch, out.data());
    EXPECT_EQ(k_cache.codes, want_k.codes) << "new keys quantized into rows pos0..";
    EXPECT_EQ(k_cache.scales, want_k.scales);
    EXPECT_EQ(v_cache.codes, want_v.codes);
    EXPECT_EQ(v_cache.scales, want_v.scales);

    const auto ref = reference_attention(q, want_k.values(c.head_dim), want_v.values(c.head_dim), c);
    // As for the float cache: decoding (code * scale) is one float rounding more.
    EXPECT_LT(test::max_relative_error(out, ref), 1e-5)
        << "tokens " << c.n_tokens << " heads " << c.n_heads << "/" << c.n_kv_heads << " pos0 " << c.pos0;
  }
}

TEST(Attention, RejectsPositionsPastTheCacheAndBadHeadGroups) {
  std::vector<float> buf(64), scratch(attention_scratch_floats(4));
  EXPECT_THROW(attention(buf.data(), buf.data(), buf.data(), {buf.data(), buf.data()}, {2, 2, 2, 2, 4, at(3)}, scratch,
                         buf.data()),
               Error);
  EXPECT_THROW(attention(buf.data(), buf.data(), buf.data(), {buf.data(), buf.data()}, {1, 3, 2, 2, 4, at(0)}, scratch,
                         buf.data()),
               Error);
}

TEST(Attention, RefusesTooSmallScratchBeforeTouchingTheCache) {
  const std::vector<float> q(8, 1.0f), kv(8, 2.0f);
  std::vector<float> k_cache(32, 0.0f), v_cache(32, 0.0f), out(8);
  std::vector<float> scratch(attention_scratch_floats(8) - 1);
  EXPECT_THROW(attention(q.data(), kv.data(), kv.data(), {k_cache.data(), v_cache.data()}, {2, 2, 2, 2, 8, at(0)},
                         scratch, out.data()),
               Error);
  EXPECT_EQ(k_cache, std::vector<float>(32, 0.0f)) << "nothing appended by a refused call";
  EXPECT_EQ(v_cache, std::vector<float>(32, 0.0f));
}

}  // namespace
}  // namespace octet::cpu
