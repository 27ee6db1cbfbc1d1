#include "engine/error.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/ops.h"

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
  if (scratch.size() < attention_scratch_floats(s.n_ctx)) {
    fail("attention: scratch of {} floats is too small", scratch.size());
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
  attend_blocks(s.batch, s.n_tokens, s.n_heads, s.n_ctx, scratch.data(), [&](int b, int h, int t0, int n_rows) {
    const std::int64_t head = static_cast<std::int64_t>(b) * s.n_ctx * kv_dim + (h / group) * s.head_dim;
    const std::int64_t q_offset = (static_cast<std::int64_t>(b) * s.n_tokens + t0) * q_dim + h * s.head_dim;
    return QueryBlock{.q = q + q_offset,
                      .q_stride = q_dim,
                      .n_rows = n_rows,
                      .k = k_cache + head,
                      .v = v_cache + head,
                      .kv_stride = kv_dim,
                      .n_keys = s.pos0 + t0 + 1,  // causal: keys 0..pos0+t
                      .causal = true,
                      .head_dim = s.head_dim,
                      .scale = scale,
                      .out = out + q_offset,
                      .out_stride = q_dim};
  });
}

}  // namespace octet::cpu
