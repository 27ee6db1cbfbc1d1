#include "engine/error.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/ops.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace octet::cpu {

void masked_attention(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                      const MaskedAttentionShape& s, std::span<float> scratch, float* out) {
  if (scratch.size() < static_cast<std::size_t>(omp_get_max_threads()) * static_cast<std::size_t>(s.seq_len)) {
    fail("masked attention: scratch of {} floats is too small", scratch.size());
  }
  for (int b = 0; b < s.batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > s.seq_len) {
      fail("masked attention: sequence {} has length {}, outside 1..{}", b, lengths[b], s.seq_len);
    }
  }
  const std::int64_t dim = static_cast<std::int64_t>(s.n_heads) * s.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const std::int64_t work = static_cast<std::int64_t>(s.batch) * s.seq_len * s.n_heads;
#pragma omp parallel for if (work > 1)
  for (std::int64_t item = 0; item < work; ++item) {
    const auto h = static_cast<int>(item % s.n_heads);
    const std::int64_t row = item / s.n_heads;  // b * seq_len + t
    const std::int64_t b = row / s.seq_len;
    const int n_keys = lengths[b];
    float* scores = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * s.seq_len;
    const float* qh = q + row * dim + static_cast<std::int64_t>(h) * s.head_dim;
    const std::int64_t key0 = b * s.seq_len;
    const std::int64_t head = key0 * dim + static_cast<std::int64_t>(h) * s.head_dim;
    attend(qh, k + head, v + head, dim, n_keys, s.head_dim, scale, scores,
           out + row * dim + static_cast<std::int64_t>(h) * s.head_dim);
  }
}

}  // namespace octet::cpu
