#include "engine/core/error.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>

namespace octet::cpu {

void masked_attention(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                      const MaskedAttentionShape& s, std::span<float> scratch, float* out) {
  if (scratch.size() < masked_attention_scratch_floats(s.seq_len)) {
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
  attend_blocks(s.batch, s.seq_len, s.n_heads, s.seq_len, kMaskedAttendBlockRows, scratch.data(),
                [&](int b, int h, int t0, int n_rows) {
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
                });
}

}  // namespace octet::cpu
