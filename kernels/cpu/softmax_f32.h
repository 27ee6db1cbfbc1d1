// Softmax of a float row, vectorized: the attention kernels' inner step.
// std::exp is a libm call per value (5% of BERT-base int8 encoding went to
// __expf alone); the exp here is written so that `omp simd` vectorizes it on
// whatever vector unit the build targets (AVX2 or AVX-512), with no libm call.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace octet::cpu {

// e^x for x <= 88.7 (NaN for NaN), to about 2 float ulps (Cephes' expf: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-6 polynomial for e^r, then 2^n put in the
// exponent). Below -87.34 it gives e^-87.34, about 1.2e-38 (the smallest
// normal float), which a softmax row's sum (>= 1) cannot tell from 0.
inline float exp_f32(float in) {
  // Clamped so that 2^n below is a normal float; a NaN becomes a number here
  // (converting it to int would be undefined) and is given back at the end.
  // (Not std::clamp: its references keep GCC from vectorizing.)
  const float x = in >= -87.33654f ? (in <= 88.72283f ? in : 88.72283f) : -87.33654f;
  // Round to nearest (the default mode): std::floor(v + 0.5) would do as well,
  // but GCC does not vectorize floor (it may raise the inexact exception).
  const float n = std::nearbyint(x * 1.44269504088896341f);
  // ln2 in two parts, so that n * ln2 is exact enough to subtract.
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = p * r * r + r + 1.0f;
  const auto two_n = std::bit_cast<float>(static_cast<std::int32_t>(n + 127.0f) << 23);
  return in == in ? e_r * two_n : in;
}

// row[0..n) = e^(scale * (row[0..n) - max)), n >= 1, scale > 0; returns
// their sum. softmax_row divides by it; the bf16 attention divides as it
// rounds the weights, in the same pass.
inline float exp_row(float* row, int n, float scale) {
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

// row[0..n) = softmax(scale * row[0..n)), n >= 1, scale > 0 (the
// attention's 1/sqrt(head_dim) where its product did not apply it).
inline void softmax_row(float* row, int n, float scale = 1.0f) {
  const float inv_sum = 1.0f / exp_row(row, n, scale);
#pragma omp simd
  for (int j = 0; j < n; ++j) row[j] *= inv_sum;
}

}  // namespace octet::cpu
