#include "engine/core/error.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>

#include <omp.h>

namespace octet::cpu {

void masked_attention(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                      const MaskedAttentionShape& s, std::span<float> scratch, float* out, std::int8_t* out_q,
                      float* out_scale) {
  if (scratch.size() < masked_attention_scratch_floats(s.seq_len, s.integer_attention ? s.head_dim : 0)) {
    fail("masked attention: scratch of {} floats is too small", scratch.size());
  }
  for (int b = 0; b < s.batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > s.seq_len) {
      fail("masked attention: sequence {} has length {}, outside 1..{}", b, lengths[b], s.seq_len);
    }
  }
  const std::int64_t dim = static_cast<std::int64_t>(s.n_heads) * s.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  // Padding rows (t >= length) are computed like the others and ignored by what follows.
  const auto block_of = [&](int b, int h, int t0, int n_rows) {
    const std::int64_t head = static_cast<std::int64_t>(b) * s.seq_len * dim + h * s.head_dim;
    return QueryBlock{.q = q + head + t0 * dim,
                      .q_stride = dim,
                      .n_rows = n_rows,
                      .k = k + head,
                      .v = v + head,
                      .kv_stride = dim,
                      .n_keys = lengths[b],
                      .causal = false,
                      .head_dim = s.head_dim,
                      .scale = scale,
                      .out = out + head + t0 * dim,
                      .out_stride = dim};
  };
  const auto quantize_rows = [&](std::int64_t first, std::int64_t count) {
    for (std::int64_t row = first; row < first + count; ++row) {
      out_scale[row] = quantize_row_int8(out + row * dim, dim, out_q + row * dim);
    }
  };
  // With integer products, each thread's quantized keys and values after every thread's scores.
  const std::size_t score_floats = attend_block_scratch(s.seq_len, kMaskedAttendBlockRows);
  const bool int8 = s.integer_attention && int8_scores_built();
  auto* int8_scratch = int8 ? reinterpret_cast<std::byte*>(
                                  scratch.data() + static_cast<std::size_t>(omp_get_max_threads()) * score_floats)
                            : nullptr;
  if (out_q != nullptr && s.batch >= omp_get_max_threads()) {
    // Whole sequences per thread: every head of one, then its rows quantized
    // while they are in this core's cache (not in a pass over all of them).
#pragma omp parallel for schedule(dynamic)
    for (int b = 0; b < s.batch; ++b) {
      const auto thread = static_cast<std::size_t>(omp_get_thread_num());
      float* scores = scratch.data() + thread * score_floats;
      std::byte* int8_keys = int8 ? int8_scratch + thread * integer_attention_bytes(s.seq_len, s.head_dim) : nullptr;
      for (int h = 0; h < s.n_heads; ++h) {
        attend_rows(block_of(b, h, 0, s.seq_len), kMaskedAttendBlockRows, scores, int8_keys);
      }
      quantize_rows(static_cast<std::int64_t>(b) * s.seq_len, s.seq_len);
    }
    return;
  }
  if (int8) {
    attend_heads_int8(s.batch, s.seq_len, s.n_heads, s.seq_len, s.head_dim, kMaskedAttendBlockRows, scratch.data(),
                      int8_scratch, block_of);
  } else {
    attend_blocks(s.batch, s.seq_len, s.n_heads, s.seq_len, kMaskedAttendBlockRows, scratch.data(), block_of);
  }
  if (out_q == nullptr) return;
  const std::int64_t rows = static_cast<std::int64_t>(s.batch) * s.seq_len;
#pragma omp parallel for if (rows > 4)
  for (std::int64_t row = 0; row < rows; ++row) quantize_rows(row, 1);
}

}  // namespace octet::cpu
