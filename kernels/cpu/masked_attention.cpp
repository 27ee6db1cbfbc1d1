#include "engine/error.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/ops.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace octet::cpu {

void masked_attention(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                      const MaskedAttentionShape& s, std::span<float> scratch, float* out) {
  if (scratch.size() < attention_scratch_floats(s.seq_len)) {
    fail("masked attention: scratch of {} floats is too small", scratch.size());
  }
  for (int b = 0; b < s.batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > s.seq_len) {
      fail("masked attention: sequence {} has length {}, outside 1..{}", b, lengths[b], s.seq_len);
    }
  }
  const std::int64_t dim = static_cast<std::int64_t>(s.n_heads) * s.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const int blocks = (s.seq_len + kAttendBlockRows - 1) / kAttendBlockRows;
  const std::int64_t work = static_cast<std::int64_t>(s.batch) * blocks * s.n_heads;
#pragma omp parallel for schedule(dynamic) if (work > 1)
  for (std::int64_t item = 0; item < work; ++item) {
    const int h = static_cast<int>(item % s.n_heads);
    const int block = static_cast<int>(item / s.n_heads % blocks);
    const std::int64_t b = item / s.n_heads / blocks;
    const int t0 = block * kAttendBlockRows;
    const std::int64_t head = b * s.seq_len * dim + static_cast<std::int64_t>(h) * s.head_dim;
    const std::int64_t q_offset = head + t0 * dim;
    // Padding rows (t >= length) are computed like the others and ignored by what follows.
    attend_block({.q = q + q_offset,
                  .q_stride = dim,
                  .n_rows = std::min(kAttendBlockRows, s.seq_len - t0),
                  .k = k + head,
                  .v = v + head,
                  .kv_stride = dim,
                  .n_keys = lengths[b],
                  .causal = false,
                  .head_dim = s.head_dim,
                  .scale = scale,
                  .out = out + q_offset,
                  .out_stride = dim},
                 scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * attend_block_scratch(s.seq_len));
  }
}

}  // namespace octet::cpu
