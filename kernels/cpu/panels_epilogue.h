// How the panels kernels (gemv_int8_panels.h for few rows, gemm_int8_panels.h
// for many) turn a register tile's int32 sums into floats: one expression,
// the scalar kernels' (gemm_int8.h), so that a row's floats do not depend on
// which kernel its batch ran on. In 512 bits (AVX-512 VNNI) and in 256 (VNNI
// in 256 bits: AVX-VNNI).
#pragma once

#if defined(__AVX2__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace octet::cpu {

#if defined(__FMA__)
// R rows from row i0 against C vectors of 8 columns from column j0: acc[i][c]
// holds row i's sums of x + 128 for columns j0 + 8c .. j0 + 8c + 7. As the
// 512-bit store below: the offsets off, sum * (x_scale * w_scale) (+ bias
// with one rounding), stored into y (rows of n) for the columns below n.
// `offsets` holds the padded columns' too (their count is a multiple of 64).
template <int R, int C>
inline void store_panel_tile(const __m256i (&acc)[R][C], std::int64_t i0, std::int64_t j0, std::int64_t n,
                             const std::int32_t* offsets, const float* x_scale, const float* w_scale, const float* bias,
                             float* y) {
  for (int c = 0; c < C; ++c) {
    const std::int64_t j = j0 + 8 * c;
    if (j >= n) break;
    const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<std::int64_t>(8, n - j))),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i offset = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offsets + j));
    const __m256 ws = _mm256_maskload_ps(w_scale + j, valid);
    const __m256 b = bias != nullptr ? _mm256_maskload_ps(bias + j, valid) : _mm256_setzero_ps();
    for (int i = 0; i < R; ++i) {
      const __m256 sums = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][c], offset));
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(x_scale[i0 + i]), ws);
      const __m256 out = bias != nullptr ? _mm256_fmadd_ps(sums, scale, b) : _mm256_mul_ps(sums, scale);
      _mm256_maskstore_ps(y + (i0 + i) * n + j, valid, out);
    }
  }
}
#endif

#if defined(__AVX512F__)

// (GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -Wmaybe-uninitialized takes for a read of an uninitialized value.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// R rows from row i0 against one panel's columns j0 .. j0 + 63: acc[i][c]
// holds row i's sums of x + 128 for columns j0 + 16c .. j0 + 16c + 15. Each
// column's offset (128 * its weights' sum) comes off, then sum * (x_scale *
// w_scale) (+ bias), stored into y (rows of n) for the columns below n.
template <int R>
inline void store_panel_tile(const __m512i (&acc)[R][4], std::int64_t i0, std::int64_t j0, std::int64_t n,
                             const std::int32_t* offsets, const float* x_scale, const float* w_scale, const float* bias,
                             float* y) {
  for (int c = 0; c < 4; ++c) {
    const std::int64_t j = j0 + 16 * c;
    if (j >= n) break;
    const __mmask16 valid = n - j >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (n - j)) - 1);
    const __m512i offset = _mm512_loadu_si512(offsets + j);
    const __m512 ws = _mm512_maskz_loadu_ps(valid, w_scale + j);
    const __m512 b = bias != nullptr ? _mm512_maskz_loadu_ps(valid, bias + j) : _mm512_setzero_ps();
    for (int i = 0; i < R; ++i) {
      const __m512 sums = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][c], offset));
      const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(x_scale[i0 + i]), ws);
      const __m512 out = bias != nullptr ? _mm512_fmadd_ps(sums, scale, b) : _mm512_mul_ps(sums, scale);
      _mm512_mask_storeu_ps(y + (i0 + i) * n + j, valid, out);
    }
  }
}

#pragma GCC diagnostic pop
#endif

}  // namespace octet::cpu
#endif
