#include "kernels/cpu/attend.h"

#include "engine/core/error.h"
#include "kernels/cpu/dnnl_check.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/scores_int8.h"
#include "kernels/cpu/softmax_f32.h"

#include <algorithm>
#include <array>

namespace octet::cpu {

void attend_block(const QueryBlock& b, float* scores) {
  if (b.n_rows < 1 || b.n_rows > kMaxAttendBlockRows) fail("attend_block: {} rows in a block", b.n_rows);
  // Keys of the last row: the width of the score block. A causal block
  // computes the scores above its diagonal too and zeroes their weights.
  const int width = b.n_keys + (b.causal ? b.n_rows - 1 : 0);
  if (b.int8_keys != nullptr) {
    score_rows_int8(b.q, b.q_stride, b.n_rows, *b.int8_keys, width, b.causal, b.scale, scores);
  } else {
    OCTET_DNNL_STATUS(dnnl_sgemm('N', 'T', b.n_rows, width, b.head_dim, b.scale, b.q, b.q_stride, b.k, b.kv_stride,
                                 0.0f, scores, width));
  }
  // The weights stay unnormalized: each output row is divided by its sum
  // after the second product (head_dim values, not a pass over the row's keys).
  std::array<float, kMaxAttendBlockRows> row_scale;
  if (b.int16_values != nullptr) {
    for (int r = 0; r < b.n_rows; ++r) {
      const int n = b.n_keys + (b.causal ? r : 0);
      const RowWeights w = weights_int16(scores + static_cast<std::int64_t>(r) * width, n, width, *b.int16_values);
      row_scale[static_cast<std::size_t>(r)] = w.unit / w.sum;
    }
    weighted_values_int16(scores, b.n_rows, width, b.causal, *b.int16_values, row_scale.data(), b.out, b.out_stride);
    return;
  }
  for (int r = 0; r < b.n_rows; ++r) {
    float* row = scores + static_cast<std::int64_t>(r) * width;
    const int n = b.n_keys + (b.causal ? r : 0);
    row_scale[static_cast<std::size_t>(r)] = 1.0f / exp_row(row, n, 1.0f);
    std::fill(row + n, row + width, 0.0f);
  }
  OCTET_DNNL_STATUS(dnnl_sgemm('N', 'N', b.n_rows, b.head_dim, width, 1.0f, scores, width, b.v, b.kv_stride, 0.0f,
                               b.out, b.out_stride));
  for (int r = 0; r < b.n_rows; ++r) {
    float* out = b.out + static_cast<std::int64_t>(r) * b.out_stride;
    const float s = row_scale[static_cast<std::size_t>(r)];
#pragma omp simd
    for (int d = 0; d < b.head_dim; ++d) out[d] *= s;
  }
}

void attend_rows(const QueryBlock& rows, int block_rows, float* scores, std::byte* int8_scratch) {
  Int8Keys keys;
  Int16Values values;
  const bool int8 = int8_scratch != nullptr && rows.n_rows >= kInt8ScoreRows;
  const bool int16 = int8 && int16_values_fit(rows.head_dim);
  const int n_keys = rows.n_keys + (rows.causal ? rows.n_rows - 1 : 0);
  if (int8) keys = quantize_keys(rows.k, rows.kv_stride, n_keys, rows.head_dim, int8_scratch);
  if (int16) {
    values = quantize_values(rows.v, rows.kv_stride, n_keys, rows.head_dim,
                             int8_scratch + int8_keys_bytes(n_keys, rows.head_dim));
  }
  for (int t0 = 0; t0 < rows.n_rows; t0 += block_rows) {
    QueryBlock block = rows_of_block(rows, t0, std::min(block_rows, rows.n_rows - t0));
    if (int8) block.int8_keys = &keys;
    if (int16) block.int16_values = &values;
    attend_block(block, scores);
  }
}

std::size_t attention_scratch_floats(int max_keys, int fp8_head_dim, int int8_head_dim) {
  const std::size_t int8_floats = int8_head_dim > 0 ? (integer_attention_bytes(max_keys, int8_head_dim) + 3) / 4 : 0;
  return static_cast<std::size_t>(omp_get_max_threads()) *
         (attend_block_scratch(max_keys) + 2 * static_cast<std::size_t>(max_keys) * fp8_head_dim + int8_floats);
}

std::size_t masked_attention_scratch_floats(int seq_len, int int8_head_dim) {
  const std::size_t int8_floats = int8_head_dim > 0 ? (integer_attention_bytes(seq_len, int8_head_dim) + 3) / 4 : 0;
  return static_cast<std::size_t>(omp_get_max_threads()) *
         (attend_block_scratch(seq_len, kMaskedAttendBlockRows) + int8_floats);
}

}  // namespace octet::cpu
