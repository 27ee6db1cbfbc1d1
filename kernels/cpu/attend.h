// The inner loop both attention kernels share: one query head against
// `n_keys` keys and values, each `stride` floats after the previous (a head's
// slice of consecutive rows). out = softmax(q . k * scale) v, in float.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace octet::cpu {

// `scores` holds n_keys floats of scratch.
inline void attend(const float* q, const float* k, const float* v, std::int64_t stride, int n_keys, int head_dim,
                   float scale, float* scores, float* out) {
  float max_score = -INFINITY;
  for (int j = 0; j < n_keys; ++j) {
    const float* kj = k + j * stride;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int d = 0; d < head_dim; ++d) dot += q[d] * kj[d];
    scores[j] = dot * scale;
    max_score = std::max(max_score, scores[j]);
  }
  float sum = 0.0f;
  for (int j = 0; j < n_keys; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    sum += scores[j];
  }
  const float inv_sum = 1.0f / sum;
  std::fill(out, out + head_dim, 0.0f);
  for (int j = 0; j < n_keys; ++j) {
    const float p = scores[j] * inv_sum;
    const float* vj = v + j * stride;
#pragma omp simd
    for (int d = 0; d < head_dim; ++d) out[d] += p * vj[d];
  }
}

}  // namespace octet::cpu
