#include "engine/error.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/ops.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace octet::cpu {

void attention(const float* q, const float* k, const float* v, float* k_cache, float* v_cache, const AttentionShape& s,
               std::span<float> scratch, float* out) {
  if (s.n_kv_heads <= 0 || s.n_heads % s.n_kv_heads != 0) {
    fail("attention: {} query heads are not a multiple of {} key/value heads", s.n_heads, s.n_kv_heads);
  }
  if (s.batch < 1) fail("attention: {} sequences", s.batch);
  if (s.pos0 < 0 || s.pos0 + s.n_tokens > s.n_ctx) {
    fail("attention: positions {}..{} exceed the cache of {}", s.pos0, s.pos0 + s.n_tokens - 1, s.n_ctx);
  }
  const std::int64_t kv_dim = static_cast<std::int64_t>(s.n_kv_heads) * s.head_dim;
  const std::int64_t q_dim = static_cast<std::int64_t>(s.n_heads) * s.head_dim;
  const std::size_t new_floats = static_cast<std::size_t>(s.n_tokens * kv_dim);
  for (std::int64_t b = 0; b < s.batch; ++b) {
    const std::int64_t first_row = b * s.n_ctx + s.pos0;
    std::memcpy(k_cache + first_row * kv_dim, k + b * s.n_tokens * kv_dim, sizeof(float) * new_floats);
    std::memcpy(v_cache + first_row * kv_dim, v + b * s.n_tokens * kv_dim, sizeof(float) * new_floats);
  }

  const int group = s.n_heads / s.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const std::int64_t rows = static_cast<std::int64_t>(s.batch) * s.n_tokens;
  const std::int64_t work = rows * s.n_heads;
  if (scratch.size() < static_cast<std::size_t>(omp_get_max_threads()) * static_cast<std::size_t>(s.n_ctx)) {
    fail("attention: scratch of {} floats is too small", scratch.size());
  }
#pragma omp parallel for if (work > 1)
  for (std::int64_t item = 0; item < work; ++item) {
    const std::int64_t row = item / s.n_heads;  // of q: sequence row / n_tokens, its token row % n_tokens
    const int h = static_cast<int>(item % s.n_heads);
    const int kvh = h / group;
    const int n_keys = s.pos0 + static_cast<int>(row % s.n_tokens) + 1;  // causal: keys 0..pos0+t
    float* scores = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * s.n_ctx;
    const float* qh = q + row * q_dim + static_cast<std::int64_t>(h) * s.head_dim;

    const std::int64_t head = (row / s.n_tokens) * s.n_ctx * kv_dim + static_cast<std::int64_t>(kvh) * s.head_dim;
    attend(qh, k_cache + head, v_cache + head, kv_dim, n_keys, s.head_dim, scale, scores,
           out + row * q_dim + static_cast<std::int64_t>(h) * s.head_dim);
  }
}

}  // namespace octet::cpu
