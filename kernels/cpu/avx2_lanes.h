// Small AVX2 pieces the 256-bit forms of the attention's integer kernels
// share (scores_int8.cpp, values_int16.cpp): the lane mask of a row's tail,
// and a vector's largest value and sum.
#pragma once

#if defined(__AVX2__)
#include <immintrin.h>

namespace octet::cpu::avx2_lanes {

// All ones in lanes l < n - i of the 8 from i (the mask AVX2's masked loads and stores take).
inline __m256i below(int n, int i) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline float max_of(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

inline float sum_of(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

}  // namespace octet::cpu::avx2_lanes

#endif
