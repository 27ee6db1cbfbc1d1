#include "kernels/cpu/values_int16.h"

#include "engine/core/error.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/avx2_lanes.h"
#include "kernels/cpu/int8_dot.h"
#include "kernels/cpu/softmax_f32.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define OCTET_INT16_VALUES 512
#elif defined(OCTET_VNNI_256) && defined(__FMA__)  // AVX-VNNI without AVX-512 (int8_dot.h)
#define OCTET_INT16_VALUES 256
#endif

namespace octet::cpu {

namespace {

constexpr int kMaxWeight = 32767;  // weights in 0..32767: int16
constexpr float kLog2e = 1.44269504088896341f;
// log2 of a mantissa m in [1, 2), from above: -0.34484843 m^2 + 2.02466578 m - 1.67487759 + 0.0051.
constexpr float kLog2Mantissa[] = {-0.34484843f, 2.02466578f, -1.67487759f + 0.0051f};
constexpr int kMaxValue = 511;  // values in -511..511
// Pairs of keys whose int32 sums the kernel adds into floats at once:
// 2 * kFlushPairs * kMaxWeight * kMaxValue < 2^31.
constexpr int kFlushPairs = 64;
static_assert(2.0 * kFlushPairs * kMaxWeight * kMaxValue < 2147483648.0);

int pairs_of(int n_keys) { return (n_keys + 1) / 2; }
std::size_t aligned(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// The scratch's parts, in this order: packed values, scales, their log2 bounds.
struct Layout {
  std::size_t packed, scale, log2_scale, total;
};
Layout layout_of(int max_keys, int head_dim) {
  const auto keys = static_cast<std::size_t>(2 * pairs_of(max_keys));
  Layout l{};
  l.packed = 0;
  l.scale = aligned(keys * static_cast<std::size_t>(head_dim) * sizeof(std::int16_t));
  l.log2_scale = l.scale + aligned(keys * sizeof(float));
  l.total = l.log2_scale + aligned(keys * sizeof(float));
  return l;
}

}  // namespace

bool int16_values_fit(int head_dim) {
#ifdef OCTET_INT16_VALUES
  return head_dim == 64 || head_dim == 128;
#else
  (void)head_dim;
  return false;
#endif
}

std::size_t int16_values_bytes(int max_keys, int head_dim) { return layout_of(max_keys, head_dim).total; }

#if OCTET_INT16_VALUES == 512

// (GCC 12 takes the undefined operand inside its own AVX-512 intrinsics for
// an uninitialized read.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

// 16 dims of one key quantized to +-511 against `inv` (511 / absmax), round
// half to even; a NaN converts to INT_MIN and clamps to -511.
__m512i quantize16(const float* v, __m512 inv) {
  const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v), inv));
  return _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-kMaxValue)), _mm512_set1_epi32(kMaxValue));
}

// absmax / kMaxValue of one key's head_dim values (a NaN counts for nothing).
float value_scale(const float* v, int head_dim) {
  __m512 absmax16 = _mm512_setzero_ps();
  // max(|x|, m) gives m where x is a NaN (vmaxps returns its second operand then).
  for (int d = 0; d < head_dim; d += 16) absmax16 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(v + d)), absmax16);
  return _mm512_reduce_max_ps(absmax16) / static_cast<float>(kMaxValue);
}

// R weight rows (int16, w_stride apart) against all `pairs` pairs of keys:
// NV vectors of 16 int32 sums per row, added into floats every kFlushPairs.
__mmask16 keys_below(int n, int j) {
  return static_cast<__mmask16>(n - j >= 16 ? 0xFFFF : n - j <= 0 ? 0 : (1u << (n - j)) - 1);
}

template <int NV, int R>
void weighted_rows(const std::int16_t* w, std::int64_t w_stride, const Int16Values& values, int pairs,
                   const float* row_scale, float* out, std::int64_t out_stride) {
  __m512 total[R][NV];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NV; ++c) total[r][c] = _mm512_setzero_ps();
  for (int p0 = 0; p0 < pairs; p0 += kFlushPairs) {
    __m512i sum[R][NV];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < NV; ++c) sum[r][c] = _mm512_setzero_si512();
    const int p1 = std::min(pairs, p0 + kFlushPairs);
    for (int p = p0; p < p1; ++p) {
      const std::int16_t* pair = values.packed + static_cast<std::int64_t>(p) * NV * 32;
      __m512i v[NV];
      for (int c = 0; c < NV; ++c) v[c] = _mm512_loadu_si512(pair + c * 32);
      for (int r = 0; r < R; ++r) {
        std::int32_t two;  // the row's weights of keys 2p and 2p + 1
        std::memcpy(&two, w + r * w_stride + 2 * p, sizeof(two));
        const __m512i wr = _mm512_set1_epi32(two);
        for (int c = 0; c < NV; ++c) sum[r][c] = int8_dot::dpwssd(sum[r][c], wr, v[c]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < NV; ++c) total[r][c] = _mm512_add_ps(total[r][c], _mm512_cvtepi32_ps(sum[r][c]));
  }
  for (int r = 0; r < R; ++r) {
    const __m512 s = _mm512_set1_ps(row_scale[r]);
    for (int c = 0; c < NV; ++c) _mm512_storeu_ps(out + r * out_stride + c * 16, _mm512_mul_ps(total[r][c], s));
  }
}

// weighted_rows over rows first.. n_rows - 1, R at a time, then the rest,
// each group over the pairs of keys its last row sees (`keys_seen`).
template <int NV, int R, typename KeysSeen>
void weighted_all_rows(const std::int16_t* w, std::int64_t w_stride, int first, int n_rows, const Int16Values& values,
                       const KeysSeen& keys_seen, const float* row_scale, float* out, std::int64_t out_stride) {
  int r = first;
  for (; r + R <= n_rows; r += R) {
    weighted_rows<NV, R>(w + r * w_stride, w_stride, values, pairs_of(keys_seen(r + R - 1)), row_scale + r,
                         out + r * out_stride, out_stride);
  }
  if constexpr (R > 1) {
    if (r < n_rows) weighted_all_rows<NV, R - 1>(w, w_stride, r, n_rows, values, keys_seen, row_scale, out, out_stride);
  }
}

// Keys j and j + 1 (`odd` null: a zero key) into the pair's packed dims at
// `to`: each int32 lane holds dim d of key j in its low half and of key j + 1
// in its high half.
void pack_pair(const float* even, const float* odd, float scale_even, float scale_odd, int head_dim, std::int16_t* to) {
  const __m512 inv_even = _mm512_set1_ps(scale_even > 0.0f ? 1.0f / scale_even : 0.0f);
  const __m512 inv_odd = _mm512_set1_ps(scale_odd > 0.0f ? 1.0f / scale_odd : 0.0f);
  const __m512i low16 = _mm512_set1_epi32(0xFFFF);
  for (int d = 0; d < head_dim; d += 16) {
    const __m512i lo = _mm512_and_si512(quantize16(even + d, inv_even), low16);
    const __m512i hi = odd != nullptr ? _mm512_slli_epi32(quantize16(odd + d, inv_odd), 16) : _mm512_setzero_si512();
    _mm512_storeu_si512(to + 2 * d, _mm512_or_si512(lo, hi));
  }
}

// log2_scale[j] for j < count: the exponent (vgetexpps: -inf for 0) plus
// log2 of the mantissa (quantize_values), 16 keys at a time.
void log2_bounds(const float* scale, int count, float* log2_scale) {
  for (int j = 0; j < count; j += 16) {
    const auto m = static_cast<__mmask16>(count - j >= 16 ? 0xFFFF : (1u << (count - j)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(m, scale + j);
    const __m512 mant = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    __m512 log2_mant = _mm512_fmadd_ps(_mm512_set1_ps(kLog2Mantissa[0]), mant, _mm512_set1_ps(kLog2Mantissa[1]));
    log2_mant = _mm512_fmadd_ps(log2_mant, mant, _mm512_set1_ps(kLog2Mantissa[2]));
    _mm512_mask_storeu_ps(log2_scale + j, m, _mm512_add_ps(_mm512_getexp_ps(x), log2_mant));
  }
}

// The row's largest score among its first n, and the bound on the log2 of
// its largest weight * scale (weights_int16).
std::pair<float, float> row_max_and_top(const float* row, int n, const Int16Values& values) {
  const __m512 log2e = _mm512_set1_ps(kLog2e);
  __m512 max16 = _mm512_set1_ps(row[0]), top16 = _mm512_set1_ps(-INFINITY);
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = keys_below(n, j);
    const __m512 x = _mm512_maskz_loadu_ps(m, row + j);
    max16 = _mm512_mask_max_ps(max16, m, x, max16);
    top16 =
        _mm512_mask_max_ps(top16, m, _mm512_fmadd_ps(x, log2e, _mm512_maskz_loadu_ps(m, values.log2_scale + j)), top16);
  }
  return {_mm512_reduce_max_ps(max16), _mm512_reduce_max_ps(top16)};
}

// The row's first n int16 weights over its floats (weights_int16: the store
// of 16 weights covers 8 floats, all read before it); returns the sum of
// their e_j.
float write_weights(float* row, int n, const Int16Values& values, float max_score, float to_weight) {
  const __m512 max_value = _mm512_set1_ps(max_score), to_weight16 = _mm512_set1_ps(to_weight);
  const __m512 lowest = _mm512_set1_ps(kExpLowest);
  const __m512i zero = _mm512_setzero_si512(), most = _mm512_set1_epi32(kMaxWeight);
  auto* weights = reinterpret_cast<std::int16_t*>(row);
  __m512 sum16 = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = keys_below(n, j);
    // max(lowest, x) gives x where x is a NaN (vmaxps returns its second operand then).
    const __m512 e = exp_avx512(_mm512_max_ps(lowest, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), max_value)));
    sum16 = _mm512_mask_add_ps(sum16, m, sum16, e);
    // A NaN weight converts to INT_MIN and clamps to 0.
    const __m512 scaled = _mm512_mul_ps(e, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, values.scale + j), to_weight16));
    const __m512i w = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(scaled), zero), most);
    _mm256_mask_storeu_epi16(weights + j, m, _mm512_cvtepi32_epi16(w));
  }
  return _mm512_reduce_add_ps(sum16);
}

// Rows at a time: 4 x 4 (head_dim 64) or 3 x 8 (128) vectors of sums, with
// the head's pair of keys in 4 or 8 more, fill the 32 registers.
template <typename KeysSeen>
void weighted_rows_of_block(const std::int16_t* w, std::int64_t w_stride, int n_rows, const Int16Values& values,
                            const KeysSeen& keys_seen, const float* row_scale, float* out, std::int64_t out_stride) {
  if (values.head_dim == 64) {
    weighted_all_rows<4, 4>(w, w_stride, 0, n_rows, values, keys_seen, row_scale, out, out_stride);
  } else {
    weighted_all_rows<8, 3>(w, w_stride, 0, n_rows, values, keys_seen, row_scale, out, out_stride);
  }
}

}  // namespace

#pragma GCC diagnostic pop

#elif OCTET_INT16_VALUES == 256

// The same in 256 bits (AVX-VNNI: Intel's client CPUs from Alder Lake), 8
// values at a time: the same quantization, log2 bound, weights and int32
// sums (vpdpwssd's VEX form), each flush's floats added in the same order.

namespace {

// 8 dims of one key quantized to +-511 against `inv`, as quantize16.
__m256i quantize8(const float* v, __m256 inv) {
  const __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v), inv));
  return _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(-kMaxValue)), _mm256_set1_epi32(kMaxValue));
}

float value_scale(const float* v, int head_dim) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 absmax8 = _mm256_setzero_ps();
  // max(|x|, m) gives m where x is a NaN (vmaxps returns its second operand then).
  for (int d = 0; d < head_dim; d += 8)
    absmax8 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(v + d)), absmax8);
  return avx2_lanes::max_of(absmax8) / static_cast<float>(kMaxValue);
}

// R weight rows against all `pairs` pairs of keys for the NV * 8 dims from
// d0: R x NV vectors of int32 sums (8 of the 16 registers at 2 x 4), added
// into the rows of `out` every kFlushPairs, which are scaled at the end.
template <int NV, int R>
void weighted_rows(const std::int16_t* w, std::int64_t w_stride, const Int16Values& values, int pairs, int d0,
                   const float* row_scale, float* out, std::int64_t out_stride) {
  const int head_dim = values.head_dim;
  for (int p0 = 0; p0 < pairs; p0 += kFlushPairs) {
    __m256i sum[R][NV];
    for (auto& row : sum)
      for (auto& v : row) v = _mm256_setzero_si256();
    const int p1 = std::min(pairs, p0 + kFlushPairs);
    for (int p = p0; p < p1; ++p) {
      const std::int16_t* pair = values.packed + (static_cast<std::int64_t>(p) * head_dim + d0) * 2;
      __m256i v[NV];
      for (int c = 0; c < NV; ++c) v[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pair + c * 16));
      for (int r = 0; r < R; ++r) {
        std::int32_t two;  // the row's weights of keys 2p and 2p + 1
        std::memcpy(&two, w + r * w_stride + 2 * p, sizeof(two));
        const __m256i wr = _mm256_set1_epi32(two);
        for (int c = 0; c < NV; ++c) sum[r][c] = int8_dot::dpwssd256(sum[r][c], wr, v[c]);
      }
    }
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < NV; ++c) {
        float* o = out + r * out_stride + d0 + 8 * c;
        const __m256 part = _mm256_cvtepi32_ps(sum[r][c]);
        _mm256_storeu_ps(o, p0 == 0 ? part : _mm256_add_ps(_mm256_loadu_ps(o), part));
      }
    }
  }
  // (pairs >= 1: every row sees a key, so the first flush wrote each output.)
  for (int r = 0; r < R; ++r) {
    const __m256 s = _mm256_set1_ps(row_scale[r]);
    for (int c = 0; c < NV; ++c) {
      float* o = out + r * out_stride + d0 + 8 * c;
      _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_loadu_ps(o), s));
    }
  }
}

// weighted_rows over rows first.. n_rows - 1, R at a time, then the rest,
// each group over the pairs of keys its last row sees, 32 dims at a time.
template <int R, typename KeysSeen>
void weighted_all_rows(const std::int16_t* w, std::int64_t w_stride, int first, int n_rows, const Int16Values& values,
                       const KeysSeen& keys_seen, const float* row_scale, float* out, std::int64_t out_stride) {
  int r = first;
  for (; r + R <= n_rows; r += R) {
    for (int d0 = 0; d0 < values.head_dim; d0 += 32) {
      weighted_rows<4, R>(w + r * w_stride, w_stride, values, pairs_of(keys_seen(r + R - 1)), d0, row_scale + r,
                          out + r * out_stride, out_stride);
    }
  }
  if constexpr (R > 1) {
    if (r < n_rows) weighted_all_rows<R - 1>(w, w_stride, r, n_rows, values, keys_seen, row_scale, out, out_stride);
  }
}

void pack_pair(const float* even, const float* odd, float scale_even, float scale_odd, int head_dim, std::int16_t* to) {
  const __m256 inv_even = _mm256_set1_ps(scale_even > 0.0f ? 1.0f / scale_even : 0.0f);
  const __m256 inv_odd = _mm256_set1_ps(scale_odd > 0.0f ? 1.0f / scale_odd : 0.0f);
  const __m256i low16 = _mm256_set1_epi32(0xFFFF);
  for (int d = 0; d < head_dim; d += 8) {
    const __m256i lo = _mm256_and_si256(quantize8(even + d, inv_even), low16);
    const __m256i hi = odd != nullptr ? _mm256_slli_epi32(quantize8(odd + d, inv_odd), 16) : _mm256_setzero_si256();
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + 2 * d), _mm256_or_si256(lo, hi));
  }
}

// The exponent and mantissa from the float's bits (a scale of 0 gives -inf;
// a subnormal one, which no value here comes near, a looser bound from above).
void log2_bounds(const float* scale, int count, float* log2_scale) {
  for (int j = 0; j < count; j += 8) {
    const __m256i lanes = avx2_lanes::below(count, j);
    const __m256 x = _mm256_maskload_ps(scale + j, lanes);
    const __m256i bits = _mm256_castps_si256(x);
    const __m256 exponent = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
    const __m256 mant = _mm256_castsi256_ps(
        _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F800000)));
    __m256 log2_mant = _mm256_fmadd_ps(_mm256_set1_ps(kLog2Mantissa[0]), mant, _mm256_set1_ps(kLog2Mantissa[1]));
    log2_mant = _mm256_fmadd_ps(log2_mant, mant, _mm256_set1_ps(kLog2Mantissa[2]));
    const __m256 bound = _mm256_add_ps(exponent, log2_mant);
    const __m256 zero = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ);
    _mm256_maskstore_ps(log2_scale + j, lanes, _mm256_blendv_ps(bound, _mm256_set1_ps(-INFINITY), zero));
  }
}

std::pair<float, float> row_max_and_top(const float* row, int n, const Int16Values& values) {
  const __m256 log2e = _mm256_set1_ps(kLog2e), minus_inf = _mm256_set1_ps(-INFINITY);
  __m256 max8 = _mm256_set1_ps(row[0]), top8 = minus_inf;
  for (int j = 0; j < n; j += 8) {
    const __m256i lanes = avx2_lanes::below(n, j);
    const __m256 x = _mm256_blendv_ps(max8, _mm256_maskload_ps(row + j, lanes), _mm256_castsi256_ps(lanes));
    max8 = _mm256_max_ps(x, max8);
    const __m256 t = _mm256_fmadd_ps(x, log2e, _mm256_maskload_ps(values.log2_scale + j, lanes));
    top8 = _mm256_max_ps(_mm256_blendv_ps(minus_inf, t, _mm256_castsi256_ps(lanes)), top8);
  }
  return {avx2_lanes::max_of(max8), avx2_lanes::max_of(top8)};
}

// (The store of 8 weights covers 4 floats, all read before it.)
float write_weights(float* row, int n, const Int16Values& values, float max_score, float to_weight) {
  const __m256 max_value = _mm256_set1_ps(max_score), to_weight8 = _mm256_set1_ps(to_weight);
  const __m256 lowest = _mm256_set1_ps(kExpLowest);
  const __m256i zero = _mm256_setzero_si256(), most = _mm256_set1_epi32(kMaxWeight);
  auto* weights = reinterpret_cast<std::int16_t*>(row);
  __m256 sum8 = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) {
    const __m256i lanes = avx2_lanes::below(n, j);
    // max(lowest, x) gives x where x is a NaN (vmaxps returns its second operand then).
    const __m256 e =
        _mm256_and_ps(exp_avx2(_mm256_max_ps(lowest, _mm256_sub_ps(_mm256_maskload_ps(row + j, lanes), max_value))),
                      _mm256_castsi256_ps(lanes));
    sum8 = _mm256_add_ps(sum8, e);
    // A NaN weight converts to INT_MIN and clamps to 0.
    const __m256 scaled = _mm256_mul_ps(e, _mm256_mul_ps(_mm256_maskload_ps(values.scale + j, lanes), to_weight8));
    const __m256i w = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(scaled), zero), most);
    const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));  // exact: 0..32767
    if (n - j >= 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(weights + j), w16);
    } else {
      alignas(16) std::int16_t tail[8];
      _mm_store_si128(reinterpret_cast<__m128i*>(tail), w16);
      std::memcpy(weights + j, tail, sizeof(std::int16_t) * static_cast<std::size_t>(n - j));
    }
  }
  return avx2_lanes::sum_of(sum8);
}

// 2 rows x 32 dims at a time: 8 vectors of sums, the 4 of the pair's values and 2 broadcasts.
template <typename KeysSeen>
void weighted_rows_of_block(const std::int16_t* w, std::int64_t w_stride, int n_rows, const Int16Values& values,
                            const KeysSeen& keys_seen, const float* row_scale, float* out, std::int64_t out_stride) {
  weighted_all_rows<2>(w, w_stride, 0, n_rows, values, keys_seen, row_scale, out, out_stride);
}

}  // namespace

#endif

#ifdef OCTET_INT16_VALUES

Int16Values quantize_values(const float* v, std::int64_t stride, int n_keys, int head_dim, std::byte* scratch) {
  if (!int16_values_fit(head_dim) || n_keys < 1) fail("int16 values: {} keys of head_dim {}", n_keys, head_dim);
  const Layout l = layout_of(n_keys, head_dim);
  auto* packed = reinterpret_cast<std::int16_t*>(scratch + l.packed);
  auto* scale = reinterpret_cast<float*>(scratch + l.scale);
  auto* log2_scale = reinterpret_cast<float*>(scratch + l.log2_scale);
  const int pairs = pairs_of(n_keys);
  for (int j = 0; j < n_keys; ++j) scale[j] = value_scale(v + j * stride, head_dim);
  if (n_keys % 2 != 0) scale[n_keys] = 0.0f;  // a zero key to make the last pair
  for (int p = 0; p < pairs; ++p) {
    const int j = 2 * p;
    const float* even = v + j * stride;
    pack_pair(even, j + 1 < n_keys ? even + stride : nullptr, scale[j], scale[j + 1], head_dim,
              packed + static_cast<std::int64_t>(p) * head_dim * 2);
  }
  // log2(scale) from above: the exponent plus log2 of the mantissa m in [1,
  // 2) by the quadratic -0.34484843 m^2 + 2.02466578 m - 1.67487759 (within
  // 0.0050 of it), raised by 0.0051 (kLog2Mantissa). A zero scale gives -inf.
  log2_bounds(scale, 2 * pairs, log2_scale);
  return Int16Values{packed, scale, log2_scale, n_keys, head_dim};
}

RowWeights weights_int16(float* row, int n, int width, const Int16Values& values) {
  if (n < 1 || n > width || width > values.n_keys) {
    fail("int16 values: weights of {} keys in a row of {} ({} keys)", n, width, values.n_keys);
  }
  // The largest score, and the largest score * log2(e) + log2(scale): a
  // bound, from above, on the log2 of the largest weight * scale (at most
  // 0.011 above it), against which the weights are rounded.
  const auto [max_score, top] = row_max_and_top(row, n, values);
  // weight_j = e_j * scale_j * to_weight <= 32767, e_j = e^(s_j - max).
  const float to_weight = std::isfinite(top) ? kMaxWeight * std::exp2(max_score * kLog2e - top) : 0.0f;
  // The int16 weights go over the row's floats as they are read.
  const float sum = write_weights(row, n, values, max_score, to_weight);
  // Keys n.. (a causal block's rows past their own) to a whole pair weigh nothing.
  std::memset(reinterpret_cast<std::int16_t*>(row) + n, 0,
              sizeof(std::int16_t) * static_cast<std::size_t>(2 * pairs_of(width) - n));
  return {sum, to_weight > 0.0f ? 1.0f / to_weight : 0.0f};
}

void weighted_values_int16(const float* weight_rows, int n_rows, int width, bool causal, const Int16Values& values,
                           const float* row_scale, float* out, std::int64_t out_stride) {
  if (n_rows < 1 || n_rows > kMaxAttendBlockRows || width < 1 || width > values.n_keys || (causal && width < n_rows) ||
      !int16_values_fit(values.head_dim)) {
    fail("int16 values: {} rows, width {} of {} keys, head_dim {}", n_rows, width, values.n_keys, values.head_dim);
  }
  const auto* w = reinterpret_cast<const std::int16_t*>(weight_rows);
  const std::int64_t w_stride = 2 * static_cast<std::int64_t>(width);  // int16s a row of floats holds
  const auto keys_seen = [&](int row) { return causal ? width - (n_rows - 1 - row) : width; };
  weighted_rows_of_block(w, w_stride, n_rows, values, keys_seen, row_scale, out, out_stride);
}

#else

Int16Values quantize_values(const float*, std::int64_t, int, int, std::byte*) {
  fail("int16 values: this build has no VNNI kernel (int16_values_fit)");
}

RowWeights weights_int16(float*, int, int, const Int16Values&) {
  fail("int16 values: this build has no VNNI kernel (int16_values_fit)");
}

void weighted_values_int16(const float*, int, int, bool, const Int16Values&, const float*, float*, std::int64_t) {
  fail("int16 values: this build has no VNNI kernel (int16_values_fit)");
}

#endif

}  // namespace octet::cpu
