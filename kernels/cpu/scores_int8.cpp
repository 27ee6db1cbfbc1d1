#include "kernels/cpu/scores_int8.h"

#include "engine/core/error.h"
#include "kernels/cpu/attend.h"
#include "kernels/cpu/avx2_lanes.h"
#include "kernels/cpu/int8_dot.h"

#include <algorithm>
#include <cstring>

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#include <immintrin.h>
#define OCTET_INT8_SCORES 512
#elif defined(OCTET_VNNI_256)  // AVX-VNNI without AVX-512 (int8_dot.h)
#define OCTET_INT8_SCORES 256
#endif

namespace octet::cpu {

namespace {

// Keys are packed in groups of 16 (a vector of int32 sums), four groups at a
// time in the kernel; the packed rows are padded with zero keys to that.
constexpr int kKeysPerVector = 16;
constexpr int kVectorsPerTile = 4;
constexpr int kKeysPerTile = kKeysPerVector * kVectorsPerTile;
constexpr int kMaxHeadDim = 1024;

int padded_keys(int n_keys) { return (n_keys + kKeysPerTile - 1) / kKeysPerTile * kKeysPerTile; }
int dim_groups(int head_dim) { return (head_dim + 3) / 4; }  // 4 bytes per vpdpbusd lane
std::size_t aligned(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// The scratch's parts, in this order: packed keys, scales, offsets, query rows, query scales.
struct Layout {
  std::size_t packed, scale, offset, query_rows, query_scale, total;
};
Layout layout_of(int max_keys, int head_dim) {
  const auto keys = static_cast<std::size_t>(padded_keys(max_keys));
  const auto row_bytes = static_cast<std::size_t>(dim_groups(head_dim)) * 4;
  Layout l{};
  l.packed = 0;
  l.scale = l.packed + aligned(keys * row_bytes);
  l.offset = l.scale + aligned(keys * sizeof(float));
  l.query_rows = l.offset + aligned(keys * sizeof(std::int32_t));
  l.query_scale = l.query_rows + aligned(static_cast<std::size_t>(kMaxAttendBlockRows) * row_bytes);
  l.total = l.query_scale + aligned(static_cast<std::size_t>(kMaxAttendBlockRows) * sizeof(float));
  return l;
}

}  // namespace

bool int8_scores_built() {
#ifdef OCTET_INT8_SCORES
  return true;
#else
  return false;
#endif
}

std::size_t int8_keys_bytes(int max_keys, int head_dim) { return layout_of(max_keys, head_dim).total; }

#if OCTET_INT8_SCORES == 512

// (GCC 12 takes the undefined operand inside its own AVX-512 intrinsics for
// an uninitialized read.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

// Quantizes one head's row of n values, each less mean[d] where `mean` is
// not null, as quantize_row_int8 does (scale absmax / 127, round half to
// even, clamped to +-127; a NaN counts for nothing in absmax and becomes
// -127), 16 values at a time; returns the scale. Each 16 values' int32s go to
// `put(i, q, mask)` in a register (lanes past n zero), to be stored where
// they go. (Written into a buffer on the stack and copied on from there, the
// copy's loads waited for the masked byte stores to retire: no store
// forwarding. Stored from registers, with the keys' means summed in
// registers too, BERT-base's masked attention at batch 32 took 6.5-6.7 ms a
// layer instead of 7.6-7.8, the 110M shape's causal attention of 512 tokens
// 1.66-1.71 instead of 1.90-1.97, an Emerald Rapids host, 2 threads.)
template <typename Put>
float quantize_head_row(const float* x, const float* mean, int n, const Put& put) {
  const auto tail = [n](int i) { return static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1); };
  const auto load = [&](int i) {
    const __m512 v = _mm512_maskz_loadu_ps(tail(i), x + i);
    return mean != nullptr ? _mm512_sub_ps(v, _mm512_maskz_loadu_ps(tail(i), mean + i)) : v;
  };
  __m512 absmax16 = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    // max(|x|, m) gives m where x is a NaN (vmaxps returns its second operand then).
    absmax16 = _mm512_max_ps(_mm512_abs_ps(load(i)), absmax16);
  }
  const float absmax = _mm512_reduce_max_ps(absmax16);
  const __m512 inv = _mm512_set1_ps(absmax > 0.0f ? 127.0f / absmax : 0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int i = 0; i < n; i += 16) {
    // Round half to even (the default rounding mode), as nearbyint; a NaN
    // converts to INT_MIN and clamps to -127.
    const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(load(i), inv));
    put(i, _mm512_min_epi32(_mm512_max_epi32(q, lo), hi), tail(i));
  }
  return absmax / 127.0f;
}

// R query rows (unsigned bytes, row_bytes apart) against the keys' tiles up
// to `width`: 4 x R int32 sums per tile, turned into scaled floats on the way out.
template <int R>
void score_tile_rows(const std::uint8_t* q, std::int64_t row_bytes, const float* row_scale, const Int8Keys& keys,
                     int width, float* scores, std::int64_t score_stride) {
  const int groups = dim_groups(keys.head_dim);
  const std::int64_t vector_bytes = static_cast<std::int64_t>(groups) * kKeysPerVector * 4;
  for (int j0 = 0; j0 < width; j0 += kKeysPerTile) {
    __m512i sum[R][kVectorsPerTile];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < kVectorsPerTile; ++c) sum[r][c] = _mm512_setzero_si512();
    const std::int8_t* tile = keys.packed + static_cast<std::int64_t>(j0 / kKeysPerVector) * vector_bytes;
    for (int g = 0; g < groups; ++g) {
      __m512i k[kVectorsPerTile];
      for (int c = 0; c < kVectorsPerTile; ++c) k[c] = _mm512_loadu_si512(tile + c * vector_bytes + g * 64);
      for (int r = 0; r < R; ++r) {
        std::int32_t four;
        std::memcpy(&four, q + r * row_bytes + g * 4, sizeof(four));
        const __m512i qr = _mm512_set1_epi32(four);
        for (int c = 0; c < kVectorsPerTile; ++c) sum[r][c] = int8_dot::dpbusd(sum[r][c], qr, k[c]);
      }
    }
    for (int c = 0; c < kVectorsPerTile; ++c) {
      const int j = j0 + c * kKeysPerVector;
      if (j >= width) break;
      const auto mask = static_cast<__mmask16>(width - j >= kKeysPerVector ? 0xFFFF : (1u << (width - j)) - 1);
      const __m512i offset = _mm512_loadu_si512(keys.offset + j);
      const __m512 key_scale = _mm512_loadu_ps(keys.scale + j);
      for (int r = 0; r < R; ++r) {
        // Exact: |q8 . k8| <= head_dim * 127 * 127 < 2^24 (head_dim <= kMaxHeadDim).
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum[r][c], offset));
        _mm512_mask_storeu_ps(scores + r * score_stride + j, mask,
                              _mm512_mul_ps(_mm512_mul_ps(dot, _mm512_set1_ps(row_scale[r])), key_scale));
      }
    }
  }
}

// The mean of n_keys keys, each dim over j in order, into mean[0..head_dim).
// The sums in registers, 64 dims at a time (through memory, each key's
// additions waited for the previous key's stores).
void key_means(const float* k, std::int64_t stride, int n_keys, int head_dim, float* mean) {
  for (int d0 = 0; d0 < head_dim; d0 += 64) {
    __m512 sum[4];
    __mmask16 dims[4];
    for (int c = 0; c < 4; ++c) {
      const int d = d0 + 16 * c;
      sum[c] = _mm512_setzero_ps();
      dims[c] = static_cast<__mmask16>(head_dim - d >= 16  ? 0xFFFF
                                       : head_dim - d <= 0 ? 0
                                                           : (1u << (head_dim - d)) - 1);
    }
    for (int j = 0; j < n_keys; ++j) {
      for (int c = 0; c < 4; ++c) {
        sum[c] = _mm512_add_ps(sum[c], _mm512_maskz_loadu_ps(dims[c], k + j * stride + d0 + 16 * c));
      }
    }
    const __m512 keys_count = _mm512_set1_ps(static_cast<float>(n_keys));
    for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(mean + d0 + 16 * c, dims[c], _mm512_div_ps(sum[c], keys_count));
  }
}

// One key less the mean, quantized into its place `to` in the packed keys
// (its 4 dims of group g at to + g * 64); returns its scale, and 128 * the
// sum of its int8 values in `offset`.
float pack_key(const float* key, const float* mean, int head_dim, std::int8_t* to, std::int32_t* offset) {
  const int groups = dim_groups(head_dim);
  __m512i sum16 = _mm512_setzero_si512();
  const float scale = quantize_head_row(key, mean, head_dim, [&](int i, __m512i q, __mmask16) {
    sum16 = _mm512_add_epi32(sum16, q);
    const __m128i bytes = _mm512_cvtepi32_epi8(q);
    std::int8_t* group = to + (i / 4) * kKeysPerVector * 4;
    const int n_groups = std::min(4, groups - i / 4);
    _mm_storeu_si32(group, bytes);
    if (n_groups > 1) _mm_storeu_si32(group + kKeysPerVector * 4, _mm_srli_si128(bytes, 4));
    if (n_groups > 2) _mm_storeu_si32(group + 2 * kKeysPerVector * 4, _mm_srli_si128(bytes, 8));
    if (n_groups > 3) _mm_storeu_si32(group + 3 * kKeysPerVector * 4, _mm_srli_si128(bytes, 12));
  });
  *offset = 128 * _mm512_reduce_add_epi32(sum16);
  return scale;
}

// A query row quantized, each value + 128 (1..255, the unsigned side of
// vpdpbusd), into to[0..head_dim); returns its scale.
float quantize_query_row(const float* q, int head_dim, std::uint8_t* to) {
  return quantize_head_row(q, nullptr, head_dim, [&](int i, __m512i v, __mmask16 m) {
    _mm512_mask_cvtepi32_storeu_epi8(to + i, m, _mm512_add_epi32(v, _mm512_set1_epi32(128)));
  });
}

}  // namespace

#pragma GCC diagnostic pop

#elif OCTET_INT8_SCORES == 256

namespace {

// The same pieces in 256 bits (AVX-VNNI: Intel's client CPUs from Alder
// Lake), 8 values at a time: the same rounding and clamping, the same packed
// layout, the same int32 sums (vpdpbusd's VEX form) and floats. Tails go
// under AVX2's lane masks (avx2_lanes::below).

// quantize_head_row as in 512 bits: each 8 values' int32s go to `put(i, q,
// lanes)`, lanes past n zero.
template <typename Put>
float quantize_head_row(const float* x, const float* mean, int n, const Put& put) {
  const auto load = [&](int i) {
    const __m256i lanes = avx2_lanes::below(n, i);
    const __m256 v = _mm256_maskload_ps(x + i, lanes);
    return mean != nullptr ? _mm256_sub_ps(v, _mm256_maskload_ps(mean + i, lanes)) : v;
  };
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 absmax8 = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) {
    // max(|x|, m) gives m where x is a NaN (vmaxps returns its second operand then).
    absmax8 = _mm256_max_ps(_mm256_andnot_ps(sign, load(i)), absmax8);
  }
  const float absmax = avx2_lanes::max_of(absmax8);
  const __m256 inv = _mm256_set1_ps(absmax > 0.0f ? 127.0f / absmax : 0.0f);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (int i = 0; i < n; i += 8) {
    // Round half to even; a NaN converts to INT_MIN and clamps to -127.
    const __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(load(i), inv));
    put(i, _mm256_min_epi32(_mm256_max_epi32(q, lo), hi), avx2_lanes::below(n, i));
  }
  return absmax / 127.0f;
}

// The 8 int32s of q as bytes in the low 8 bytes: signed (keys, -127..127)
// or unsigned (queries + 128, 1..255); the saturating packs keep both exactly.
__m128i bytes_of(__m256i q, bool unsigned_bytes) {
  const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return unsigned_bytes ? _mm_packus_epi16(words, words) : _mm_packs_epi16(words, words);
}

// R query rows against the keys up to `width`, 16 keys (one packed vector,
// two registers) at a time: R x 2 int32 sums, 11 of the 16 registers at R = 4.
template <int R>
void score_tile_rows(const std::uint8_t* q, std::int64_t row_bytes, const float* row_scale, const Int8Keys& keys,
                     int width, float* scores, std::int64_t score_stride) {
  const int groups = dim_groups(keys.head_dim);
  const std::int64_t vector_bytes = static_cast<std::int64_t>(groups) * kKeysPerVector * 4;
  for (int j0 = 0; j0 < width; j0 += kKeysPerVector) {
    __m256i sum[R][2];
    for (auto& row : sum)
      for (auto& v : row) v = _mm256_setzero_si256();
    const std::int8_t* tile = keys.packed + static_cast<std::int64_t>(j0 / kKeysPerVector) * vector_bytes;
    for (int g = 0; g < groups; ++g) {
      const __m256i k0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + g * 64));
      const __m256i k1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + g * 64 + 32));
      for (int r = 0; r < R; ++r) {
        std::int32_t four;
        std::memcpy(&four, q + r * row_bytes + g * 4, sizeof(four));
        const __m256i qr = _mm256_set1_epi32(four);
        sum[r][0] = int8_dot::dpbusd256(sum[r][0], qr, k0);
        sum[r][1] = int8_dot::dpbusd256(sum[r][1], qr, k1);
      }
    }
    for (int c = 0; c < 2; ++c) {
      const int j = j0 + 8 * c;
      if (j >= width) break;
      const __m256i lanes = avx2_lanes::below(width, j);
      const __m256i offset = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(keys.offset + j));
      const __m256 key_scale = _mm256_loadu_ps(keys.scale + j);
      for (int r = 0; r < R; ++r) {
        // Exact: |q8 . k8| <= head_dim * 127 * 127 < 2^24 (head_dim <= kMaxHeadDim).
        const __m256 dot = _mm256_cvtepi32_ps(_mm256_sub_epi32(sum[r][c], offset));
        _mm256_maskstore_ps(scores + r * score_stride + j, lanes,
                            _mm256_mul_ps(_mm256_mul_ps(dot, _mm256_set1_ps(row_scale[r])), key_scale));
      }
    }
  }
}

void key_means(const float* k, std::int64_t stride, int n_keys, int head_dim, float* mean) {
  for (int d0 = 0; d0 < head_dim; d0 += 32) {
    __m256 sum[4];
    __m256i dims[4];
    for (int c = 0; c < 4; ++c) {
      sum[c] = _mm256_setzero_ps();
      dims[c] = avx2_lanes::below(head_dim, d0 + 8 * c);
    }
    for (int j = 0; j < n_keys; ++j) {
      for (int c = 0; c < 4; ++c) {
        sum[c] = _mm256_add_ps(sum[c], _mm256_maskload_ps(k + j * stride + d0 + 8 * c, dims[c]));
      }
    }
    const __m256 keys_count = _mm256_set1_ps(static_cast<float>(n_keys));
    for (int c = 0; c < 4; ++c) _mm256_maskstore_ps(mean + d0 + 8 * c, dims[c], _mm256_div_ps(sum[c], keys_count));
  }
}

float pack_key(const float* key, const float* mean, int head_dim, std::int8_t* to, std::int32_t* offset) {
  const int groups = dim_groups(head_dim);
  __m256i sum8 = _mm256_setzero_si256();
  const float scale = quantize_head_row(key, mean, head_dim, [&](int i, __m256i q, __m256i) {
    sum8 = _mm256_add_epi32(sum8, q);
    const __m128i bytes = bytes_of(q, false);
    std::int8_t* group = to + (i / 4) * kKeysPerVector * 4;
    _mm_storeu_si32(group, bytes);
    if (groups - i / 4 > 1) _mm_storeu_si32(group + kKeysPerVector * 4, _mm_srli_si128(bytes, 4));
  });
  *offset = 128 * int8_dot::hsum(sum8);
  return scale;
}

float quantize_query_row(const float* q, int head_dim, std::uint8_t* to) {
  return quantize_head_row(q, nullptr, head_dim, [&](int i, __m256i v, __m256i) {
    alignas(16) std::uint8_t bytes[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(bytes), bytes_of(_mm256_add_epi32(v, _mm256_set1_epi32(128)), true));
    std::memcpy(to + i, bytes, static_cast<std::size_t>(std::min(8, head_dim - i)));
  });
}

}  // namespace

#endif

#ifdef OCTET_INT8_SCORES

namespace {

// Rows a head's slice apart (a row of all heads) are pages apart, where the
// hardware's prefetchers do not follow: the quantizers ask for the row this
// many ahead (loads that missed the cache were half their time).
constexpr int kPrefetchRows = 4;
void prefetch_row(const float* x, int n) {
  for (int i = 0; i < n; i += 16) _mm_prefetch(reinterpret_cast<const char*>(x + i), _MM_HINT_T0);
}

}  // namespace

Int8Keys quantize_keys(const float* k, std::int64_t stride, int n_keys, int head_dim, std::byte* scratch) {
  if (head_dim > kMaxHeadDim) fail("int8 scores: head_dim {} is over {}", head_dim, kMaxHeadDim);
  const Layout l = layout_of(n_keys, head_dim);
  auto* packed = reinterpret_cast<std::int8_t*>(scratch + l.packed);
  auto* scale = reinterpret_cast<float*>(scratch + l.scale);
  auto* offset = reinterpret_cast<std::int32_t*>(scratch + l.offset);
  const int groups = dim_groups(head_dim), keys = padded_keys(n_keys);
  // Zero keys past n_keys and zero dims past head_dim: sums of nothing.
  std::memset(packed, 0, static_cast<std::size_t>(keys) * static_cast<std::size_t>(groups) * 4);
  std::fill(scale, scale + keys, 0.0f);
  std::fill(offset, offset + keys, 0);
  // The keys centred on their mean first: each row's scores then lose the
  // same q . mean, which the softmax cannot see, and each key's 8 bits go to
  // what sets it apart from the others rather than to what all share
  // (SmolLM2-135M-Instruct, 60 windows of 512 TinyStories tokens: int8
  // scores added 0.00095 nats a token to the int8 model's KL divergence from
  // f32, 0.0308; centred keys 0.00053).
  float mean[kMaxHeadDim];
  key_means(k, stride, n_keys, head_dim, mean);
  for (int j = 0; j < n_keys; ++j) {
    if (j + kPrefetchRows < n_keys) prefetch_row(k + (j + kPrefetchRows) * stride, head_dim);
    // Key j's 4 dims of group g sit at [j / 16][g][j % 16].
    std::int8_t* to =
        packed + static_cast<std::int64_t>(j / kKeysPerVector) * groups * kKeysPerVector * 4 + (j % kKeysPerVector) * 4;
    scale[j] = pack_key(k + j * stride, mean, head_dim, to, offset + j);
  }
  return Int8Keys{packed,
                  scale,
                  offset,
                  n_keys,
                  head_dim,
                  reinterpret_cast<std::uint8_t*>(scratch + l.query_rows),
                  reinterpret_cast<float*>(scratch + l.query_scale)};
}

void score_rows_int8(const float* q, std::int64_t q_stride, int n_rows, const Int8Keys& keys, int width, bool causal,
                     float scale, float* scores) {
  if (n_rows < 1 || n_rows > kMaxAttendBlockRows || width < 1 || width > keys.n_keys || keys.head_dim > kMaxHeadDim ||
      (causal && width < n_rows)) {
    fail("int8 scores: {} rows, width {} of {} keys", n_rows, width, keys.n_keys);
  }
  const std::int64_t row_bytes = static_cast<std::int64_t>(dim_groups(keys.head_dim)) * 4;
  for (int r = 0; r < n_rows; ++r) {
    if (r + kPrefetchRows < n_rows) prefetch_row(q + (r + kPrefetchRows) * q_stride, keys.head_dim);
    // The softmax scale goes into the row's: one multiply fewer per score.
    std::uint8_t* to = keys.query_rows + r * row_bytes;
    keys.query_scale[r] = quantize_query_row(q + r * q_stride, keys.head_dim, to) * scale;
    for (std::int64_t d = keys.head_dim; d < row_bytes; ++d) to[d] = 128;  // zero dims (the keys' are zero too)
  }
  // Each group of rows up to the keys its last row sees.
  const auto keys_seen = [&](int row) { return causal ? width - (n_rows - 1 - row) : width; };
  constexpr int kRows = 4;
  int r = 0;
  for (; r + kRows <= n_rows; r += kRows) {
    score_tile_rows<kRows>(keys.query_rows + r * row_bytes, row_bytes, keys.query_scale + r, keys,
                           keys_seen(r + kRows - 1), scores + static_cast<std::int64_t>(r) * width, width);
  }
  const std::uint8_t* rest = keys.query_rows + r * row_bytes;
  float* rest_scores = scores + static_cast<std::int64_t>(r) * width;
  const int rest_width = keys_seen(n_rows - 1);
  switch (n_rows - r) {
    case 3:
      score_tile_rows<3>(rest, row_bytes, keys.query_scale + r, keys, rest_width, rest_scores, width);
      break;
    case 2:
      score_tile_rows<2>(rest, row_bytes, keys.query_scale + r, keys, rest_width, rest_scores, width);
      break;
    case 1:
      score_tile_rows<1>(rest, row_bytes, keys.query_scale + r, keys, rest_width, rest_scores, width);
      break;
    default:
      break;
  }
}

#else

Int8Keys quantize_keys(const float*, std::int64_t, int, int, std::byte*) {
  fail("int8 scores: this build has no VNNI kernel (int8_scores_built)");
}

void score_rows_int8(const float*, std::int64_t, int, const Int8Keys&, int, bool, float, float*) {
  fail("int8 scores: this build has no VNNI kernel (int8_scores_built)");
}

#endif

}  // namespace octet::cpu
