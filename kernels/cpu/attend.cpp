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
    score_rows_int8(b.q, b.q_stride, b.n_rows, *b.int8_keys, width, b.scale, scores);
  } else {
    OCTET_DNNL_STATUS(dnnl_sgemm('N', 'T', b.n_rows, width, b.head_dim, b.scale, b.q, b.q_stride, b.k, b.kv_stride,
                                 0.0f, scores, width));
  }
  // The weights stay unnormalized: each output row is divided by its sum
  // after the second product (head_dim values, not a pass over the row's keys).
  std::array<float, kMaxAttendBlockRows> inv_sum;
  for (int r = 0; r < b.n_rows; ++r) {
    float* row = scores + static_cast<std::int64_t>(r) * width;
    const int n = b.n_keys + (b.causal ? r : 0);
    inv_sum[static_cast<std::size_t>(r)] = 1.0f / exp_row(row, n, 1.0f);
    std::fill(row + n, row + width, 0.0f);
  }
  OCTET_DNNL_STATUS(dnnl_sgemm('N', 'N', b.n_rows, b.head_dim, width, 1.0f, scores, width, b.v, b.kv_stride, 0.0f,
                               b.out, b.out_stride));
  for (int r = 0; r < b.n_rows; ++r) {
    float* out = b.out + static_cast<std::int64_t>(r) * b.out_stride;
    const float s = inv_sum[static_cast<std::size_t>(r)];
#pragma omp simd
    for (int d = 0; d < b.head_dim; ++d) out[d] *= s;
  }
}

void attend_rows(const QueryBlock& rows, int block_rows, float* scores, std::byte* int8_scratch) {
  Int8Keys keys;
  const bool int8 = int8_scratch != nullptr && rows.n_rows >= kInt8ScoreRows;
  if (int8) {
    keys = quantize_keys(rows.k, rows.kv_stride, rows.n_keys + (rows.causal ? rows.n_rows - 1 : 0), rows.head_dim,
                         int8_scratch);
  }
  for (int t0 = 0; t0 < rows.n_rows; t0 += block_rows) {
    QueryBlock block = rows_of_block(rows, t0, std::min(block_rows, rows.n_rows - t0));
    if (int8) block.int8_keys = &keys;
    attend_block(block, scores);
  }
}

std::size_t attention_scratch_floats(int max_keys, int fp8_head_dim, int int8_head_dim) {
  const std::size_t int8_floats = int8_head_dim > 0 ? (int8_keys_bytes(max_keys, int8_head_dim) + 3) / 4 : 0;
  return static_cast<std::size_t>(omp_get_max_threads()) *
         (attend_block_scratch(max_keys) + 2 * static_cast<std::size_t>(max_keys) * fp8_head_dim + int8_floats);
}

std::size_t masked_attention_scratch_floats(int seq_len, int int8_head_dim) {
  const std::size_t int8_floats = int8_head_dim > 0 ? (int8_keys_bytes(seq_len, int8_head_dim) + 3) / 4 : 0;
  return static_cast<std::size_t>(omp_get_max_threads()) *
         (attend_block_scratch(seq_len, kMaskedAttendBlockRows) + int8_floats);
}

}  // namespace octet::cpu
