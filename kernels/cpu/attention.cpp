#include "engine/core/dtype.h"
#include "engine/core/error.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/ops.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace octet::cpu {

namespace {

// Writes sequence b's new rows into the cache: copied into a float cache,
// quantized per row and head into an FP8 one.
void append(const float* k, const float* v, const KvCache& cache, const AttentionShape& s) {
  const std::int64_t kv_dim = static_cast<std::int64_t>(s.n_kv_heads) * s.head_dim;
  for (std::size_t b = 0; b < s.sequences.size(); ++b) {
    const SequenceStep& seq = s.sequences[b];
    const SequenceRows rows = rows_of(s.sequences, b, s.n_tokens);
    const std::int64_t first_row = static_cast<std::int64_t>(seq.slot) * s.n_ctx + seq.pos;
    const float* k_new = k + rows.first * kv_dim;
    const float* v_new = v + rows.first * kv_dim;
    if (!cache.fp8()) {
      const std::size_t new_floats = static_cast<std::size_t>(rows.count * kv_dim);
      std::memcpy(static_cast<float*>(cache.k) + first_row * kv_dim, k_new, sizeof(float) * new_floats);
      std::memcpy(static_cast<float*>(cache.v) + first_row * kv_dim, v_new, sizeof(float) * new_floats);
      continue;
    }
    auto* k_codes = static_cast<std::uint8_t*>(cache.k);
    auto* v_codes = static_cast<std::uint8_t*>(cache.v);
    for (std::int64_t t = 0; t < rows.count; ++t) {
      for (std::int64_t h = 0; h < s.n_kv_heads; ++h) {
        const std::int64_t at = t * kv_dim + h * s.head_dim, row = first_row + t;
        const std::int64_t to = row * kv_dim + h * s.head_dim, scale_at = row * s.n_kv_heads + h;
        cache.k_scale[scale_at] = quantize_row_fp8(k_new + at, s.head_dim, k_codes + to);
        cache.v_scale[scale_at] = quantize_row_fp8(v_new + at, s.head_dim, v_codes + to);
      }
    }
  }
}

// Rows 0..n_rows-1 of one head of an FP8 cache (`codes` and `scales` at that
// sequence's first row and that head) as floats, head_dim apart.
void decode_head(const std::uint8_t* codes, const float* scales, std::int64_t kv_dim, int n_kv_heads, int n_rows,
                 int head_dim, float* out) {
  const std::array<float, 256>& table = f8e4m3_table();
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const std::uint8_t* row = codes + r * kv_dim;
    const float scale = scales[r * n_kv_heads];
    float* o = out + r * head_dim;
    for (int d = 0; d < head_dim; ++d) o[d] = table[row[d]] * scale;
  }
}

}  // namespace

void attention(const float* q, const float* k, const float* v, const KvCache& cache, const AttentionShape& s,
               std::span<float> scratch, float* out) {
  if (s.n_kv_heads <= 0 || s.n_heads % s.n_kv_heads != 0) {
    fail("attention: {} query heads are not a multiple of {} key/value heads", s.n_heads, s.n_kv_heads);
  }
  if (s.sequences.empty()) fail("attention: no sequences");
  int most_rows = 0;   // of any sequence
  bool decode = true;  // one token per sequence
  for (std::size_t b = 0; b < s.sequences.size(); ++b) {
    const SequenceStep& seq = s.sequences[b];
    const SequenceRows rows = rows_of(s.sequences, b, s.n_tokens);
    if (seq.slot < 0) fail("attention: cache slot {}", seq.slot);
    if (rows.count < 1) fail("attention: sequence {} has {} tokens", b, rows.count);
    if (seq.pos < 0 || seq.pos + rows.count > s.n_ctx) {
      fail("attention: positions {}..{} exceed the cache of {}", seq.pos, seq.pos + rows.count - 1, s.n_ctx);
    }
    most_rows = std::max(most_rows, static_cast<int>(rows.count));
    decode = decode && rows.count == 1;
  }
  const int fp8_head_dim = cache.fp8() ? s.head_dim : 0;
  if (scratch.size() < attention_scratch_floats(s.n_ctx, fp8_head_dim, s.integer_attention ? s.head_dim : 0)) {
    fail("attention: scratch of {} floats is too small", scratch.size());
  }
  append(k, v, cache, s);

  const std::int64_t kv_dim = static_cast<std::int64_t>(s.n_kv_heads) * s.head_dim;
  const std::int64_t q_dim = static_cast<std::int64_t>(s.n_heads) * s.head_dim;
  const int group = s.n_heads / s.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  // An FP8 cache is read through each thread's own float copy of the head
  // (after the score scratch attend_blocks divides among the threads).
  float* decoded = scratch.data() + static_cast<std::size_t>(omp_get_max_threads()) * attend_block_scratch(s.n_ctx);
  const std::size_t decoded_per_thread = 2 * static_cast<std::size_t>(s.n_ctx) * s.head_dim;
  const auto batch = static_cast<int>(s.sequences.size());
  // The keys and values of kv head `kv_head` of sequence b: in the cache, or
  // decoded from FP8 into this thread's copy (rows 0..n_rows-1).
  const auto kv_rows = [&](QueryBlock& block, int b, int kv_head, int n_rows) {
    const std::int64_t first_row = static_cast<std::int64_t>(s.sequences[static_cast<std::size_t>(b)].slot) * s.n_ctx;
    const std::int64_t head = first_row * kv_dim + static_cast<std::int64_t>(kv_head) * s.head_dim;
    block.kv_stride = kv_dim;
    if (!cache.fp8()) {
      block.k = static_cast<const float*>(cache.k) + head;
      block.v = static_cast<const float*>(cache.v) + head;
      return;
    }
    float* k_rows = decoded + static_cast<std::size_t>(omp_get_thread_num()) * decoded_per_thread;
    float* v_rows = k_rows + static_cast<std::size_t>(s.n_ctx) * s.head_dim;
    const std::int64_t scales = first_row * s.n_kv_heads + kv_head;
    decode_head(static_cast<const std::uint8_t*>(cache.k) + head, cache.k_scale + scales, kv_dim, s.n_kv_heads, n_rows,
                s.head_dim, k_rows);
    decode_head(static_cast<const std::uint8_t*>(cache.v) + head, cache.v_scale + scales, kv_dim, s.n_kv_heads, n_rows,
                s.head_dim, v_rows);
    block.k = k_rows;
    block.v = v_rows;
    block.kv_stride = s.head_dim;
  };
  if (decode && group > 1 && group <= kAttendBlockRows) {
    // Decode: the `group` query heads that share a key/value head are one
    // block of rows (adjacent in q, head_dim apart) against the same keys,
    // which are read, and decoded from FP8, once for them all.
    attend_blocks(batch, 1, s.n_kv_heads, s.n_ctx, kAttendBlockRows, scratch.data(), [&](int b, int kv_head, int, int) {
      const std::int64_t q_offset =
          rows_of(s.sequences, static_cast<std::size_t>(b), s.n_tokens).first * q_dim + kv_head * group * s.head_dim;
      QueryBlock block{.q = q + q_offset,
                       .q_stride = s.head_dim,
                       .n_rows = group,
                       .k = nullptr,
                       .v = nullptr,
                       .kv_stride = 0,
                       .n_keys = s.sequences[static_cast<std::size_t>(b)].pos + 1,
                       .causal = false,  // every row is the same token: keys 0..pos
                       .head_dim = s.head_dim,
                       .scale = scale,
                       .out = out + q_offset,
                       .out_stride = s.head_dim};
      kv_rows(block, b, kv_head, block.n_keys);
      return block;
    });
    return;
  }
  // Rows t0.. t0 + n_rows - 1 of sequence b, head h (n_rows cut to the sequence's).
  const auto block_of = [&](int b, int h, int t0, int n_rows) {
    const SequenceStep& seq = s.sequences[static_cast<std::size_t>(b)];
    const SequenceRows rows = rows_of(s.sequences, static_cast<std::size_t>(b), s.n_tokens);
    const std::int64_t q_offset = (rows.first + t0) * q_dim + h * s.head_dim;
    QueryBlock block{.q = q + q_offset,
                     .q_stride = q_dim,
                     .n_rows = static_cast<int>(std::min<std::int64_t>(n_rows, rows.count - t0)),
                     .k = nullptr,
                     .v = nullptr,
                     .kv_stride = 0,
                     .n_keys = seq.pos + t0 + 1,  // causal: keys 0..pos+t
                     .causal = true,
                     .head_dim = s.head_dim,
                     .scale = scale,
                     .out = out + q_offset,
                     .out_stride = q_dim};
    if (block.n_rows > 0) kv_rows(block, b, h / group, block.n_keys + block.n_rows - 1);  // its last row's keys
    return block;
  };
  if (!s.integer_attention || !int8_scores_built()) {
    attend_blocks(batch, most_rows, s.n_heads, s.n_ctx, kAttendBlockRows, scratch.data(), block_of);
    return;
  }
  // Integer products: each (sequence, head) on one thread, which quantizes
  // the head's keys and values once for all its blocks of rows (per block,
  // those of a prompt of 512 would be quantized 4.5 times over).
  auto* int8_scratch = reinterpret_cast<std::byte*>(decoded + static_cast<std::size_t>(omp_get_max_threads()) *
                                                                  (cache.fp8() ? decoded_per_thread : 0));
  attend_heads_int8(batch, most_rows, s.n_heads, s.n_ctx, s.head_dim, kAttendBlockRows, scratch.data(), int8_scratch,
                    block_of);
}

}  // namespace octet::cpu
