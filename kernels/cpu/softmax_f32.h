// Softmax of a float row, vectorized: the attention kernels' inner step.
// std::exp is a libm call per value (5% of BERT-base int8 encoding went to
// __expf alone); the exp here is written so that `omp simd` vectorizes it on
// whatever vector unit the build targets (AVX2 or AVX-512), with no libm call.
#pragma once

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>

namespace octet::cpu {

// Cephes' expf constants, shared by exp_f32 and exp_row_avx512: the lowest
// argument (2^n stays a normal float), ln2 in two parts (n * ln2 exact enough
// to subtract), and the polynomial P(r), highest power first, of
// e^r = 1 + r + r^2 P(r) on |r| <= ln2 / 2.
constexpr float kExpLowest = -87.33654f;
constexpr float kLn2High = 0.693359375f, kLn2Low = -2.12194440e-4f;
constexpr float kExpPoly[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                              4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// e^x for x <= 88.7 (NaN for NaN), to about 2 float ulps (Cephes' expf: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-6 polynomial for e^r, then 2^n put in the
// exponent). Below -87.34 it gives e^-87.34, about 1.2e-38 (the smallest
// normal float), which a softmax row's sum (>= 1) cannot tell from 0.
inline float exp_f32(float in) {
  // Clamped so that 2^n below is a normal float; a NaN becomes a number here
  // (converting it to int would be undefined) and is given back at the end.
  // (Not std::clamp: its references keep GCC from vectorizing.)
  const float x = in >= kExpLowest ? (in <= 88.72283f ? in : 88.72283f) : kExpLowest;
  // Round to nearest (the default mode): std::floor(v + 0.5) would do as well,
  // but GCC does not vectorize floor (it may raise the inexact exception).
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = x - n * kLn2High - n * kLn2Low;
  float p = kExpPoly[0];
  for (std::size_t i = 1; i < std::size(kExpPoly); ++i) p = p * r + kExpPoly[i];
  const float e_r = p * r * r + r + 1.0f;
  const auto two_n = std::bit_cast<float>(static_cast<std::int32_t>(n + 127.0f) << 23);
  return in == in ? e_r * two_n : in;
}

// row[0..n) = e^(scale * (row[0..n) - max)), n >= 1, scale > 0; returns
// their sum. Written for any vector unit (`omp simd`): exp_row below runs
// it where the build has no AVX-512.
inline float exp_row_portable(float* row, int n, float scale) {
  float max_value = row[0];
#pragma omp simd reduction(max : max_value)
  for (int j = 0; j < n; ++j) max_value = row[j] > max_value ? row[j] : max_value;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < n; ++j) {
    row[j] = exp_f32((row[j] - max_value) * scale);
    sum += row[j];
  }
  return sum;
}

#if defined(__AVX2__) && defined(__FMA__)
// e^x of 8 floats x >= kExpLowest (or NaN, which stays NaN: e^r is NaN
// then), exp_f32's polynomial with 2^n put in the exponent (n >= -126 for
// such x: a normal float). The int16 attention weights in 256 bits
// (values_int16.h) take their exps from it.
inline __m256 exp_avx2(__m256 x) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (std::size_t i = 1; i < std::size(kExpPoly); ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  const __m256 e_r = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(e_r, _mm256_castsi256_ps(two_n));
}
#endif

#ifdef __AVX512F__
// e^x of 16 floats x >= kExpLowest (or NaN, which stays NaN), exp_f32's
// polynomial with 2^n applied by vscalefps, which needs no clamp above and
// keeps a NaN (where exp_f32 clamps both ways, converts n to an integer and
// blends the NaN back). The softmax rows here and the int16 attention
// weights (values_int16.h) take their exps from it.
inline __m512 exp_avx512(__m512 x) {
  const __m512 n2 = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n2, _mm512_set1_ps(kLn2High), x);
  r = _mm512_fnmadd_ps(n2, _mm512_set1_ps(kLn2Low), r);
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
  for (std::size_t i = 1; i < std::size(kExpPoly); ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
  const __m512 e_r = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(e_r, n2);
}

// exp_row_portable's values with AVX-512, 16 at a time, the row's tail under
// a mask: the same reduction and polynomial (exp_avx512), about 20
// instructions per 16 values instead of 32 (rows of 512 scores in cache, one
// Emerald Rapids core, 0.32 ns a value instead of 0.44).
// (GCC 12 warns of the undefined operand inside its own reduce intrinsics.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
inline float exp_row_avx512(float* row, int n, float scale) {
  const auto tail = [n](int j) { return static_cast<__mmask16>(n - j >= 16 ? 0xFFFF : (1u << (n - j)) - 1); };
  __m512 max16 = _mm512_set1_ps(row[0]);
  for (int j = 0; j < n; j += 16)
    max16 = _mm512_mask_max_ps(max16, tail(j), _mm512_maskz_loadu_ps(tail(j), row + j), max16);
  const __m512 max_value = _mm512_set1_ps(_mm512_reduce_max_ps(max16));
  const __m512 scale16 = _mm512_set1_ps(scale);
  // Below -87.34 the result is e^-87.34 as in exp_f32 (and -inf - -inf below no NaN).
  const __m512 lowest = _mm512_set1_ps(kExpLowest);
  __m512 sum16 = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = tail(j);
    // max(lowest, x) gives x where x is a NaN (vmaxps returns its second operand then).
    const __m512 e = exp_avx512(
        _mm512_max_ps(lowest, _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), max_value), scale16)));
    _mm512_mask_storeu_ps(row + j, m, e);
    sum16 = _mm512_mask_add_ps(sum16, m, sum16, e);
  }
  return _mm512_reduce_add_ps(sum16);
}
#pragma GCC diagnostic pop
#endif

// row[0..n) = e^(scale * (row[0..n) - max)), n >= 1, scale > 0; returns
// their sum. softmax_row divides by it; the attention kernels scale their
// products' rows by its inverse instead, and the bf16 attention divides as
// it rounds the weights, in the same pass.
inline float exp_row(float* row, int n, float scale) {
#ifdef __AVX512F__
  return exp_row_avx512(row, n, scale);
#else
  return exp_row_portable(row, n, scale);
#endif
}

// row[0..n) = softmax(scale * row[0..n)), n >= 1, scale > 0 (the
// attention's 1/sqrt(head_dim) where its product did not apply it).
inline void softmax_row(float* row, int n, float scale = 1.0f) {
  const float inv_sum = 1.0f / exp_row(row, n, scale);
#pragma omp simd
  for (int j = 0; j < n; ++j) row[j] *= inv_sum;
}

}  // namespace octet::cpu
