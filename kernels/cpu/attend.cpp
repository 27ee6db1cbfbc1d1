#include "kernels/cpu/attend.h"

#include "kernels/cpu/dnnl_check.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/softmax_f32.h"

#include <algorithm>

namespace octet::cpu {

void attend_block(const QueryBlock& b, float* scores) {
  // Keys of the last row: the width of the score block. A causal block
  // computes the scores above its diagonal too and zeroes their weights.
  const int width = b.n_keys + (b.causal ? b.n_rows - 1 : 0);
  OCTET_DNNL_STATUS(dnnl_sgemm('N', 'T', b.n_rows, width, b.head_dim, b.scale, b.q, b.q_stride, b.k, b.kv_stride, 0.0f,
                               scores, width));
  for (int r = 0; r < b.n_rows; ++r) {
    float* row = scores + static_cast<std::int64_t>(r) * width;
    const int n = b.n_keys + (b.causal ? r : 0);
    softmax_row(row, n);
    std::fill(row + n, row + width, 0.0f);
  }
  OCTET_DNNL_STATUS(dnnl_sgemm('N', 'N', b.n_rows, b.head_dim, width, 1.0f, scores, width, b.v, b.kv_stride, 0.0f,
                               b.out, b.out_stride));
}

std::size_t attention_scratch_floats(int max_keys, int fp8_head_dim) {
  return static_cast<std::size_t>(omp_get_max_threads()) *
         (attend_block_scratch(max_keys) + 2 * static_cast<std::size_t>(max_keys) * fp8_head_dim);
}

std::size_t masked_attention_scratch_floats(int seq_len) {
  return static_cast<std::size_t>(omp_get_max_threads()) * attend_block_scratch(seq_len, kMaskedAttendBlockRows);
}

}  // namespace octet::cpu
