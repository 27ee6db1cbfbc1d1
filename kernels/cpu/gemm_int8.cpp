#include "kernels/cpu/gemm_int8.h"

#include "kernels/cpu/int8_dot.h"
#include "kernels/cpu/int8_product.h"

#include <algorithm>
#include <cstdint>

namespace octet::cpu {

namespace {

using int8_dot::kRowBlock;    // activation rows sharing each weight load (decode)
constexpr int kColBlock = 4;  // weight rows sharing each activation load (prompts)
static_assert(kColBlock == kRowBlock, "int8_dot::with_row_block picks the column block's size too");

#if defined(__AVX2__)
#if defined(OCTET_VNNI_256)
using int8_dot::dpbusd256;
#endif
using int8_dot::dot32;
using int8_dot::hsum;
using int8_dot::hsum4;
using int8_dot::prefetch_ahead;
#endif

// The dot products of MB <= kRowBlock activation rows with one weight row:
// few rows (decode), where the weight's bytes streaming from memory are the
// cost and each is read once.
template <int MB>
void rows_times_weight_row(const std::int8_t* x, const std::int8_t* w, std::int64_t k, std::int32_t (&out)[MB]) {
  std::int64_t kk = 0;
#if defined(__AVX2__)
  __m256i acc[MB];
  for (auto& a : acc) a = _mm256_setzero_si256();
  for (; kk + 32 <= k; kk += 32) {
    prefetch_ahead(w + kk);
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kk));
    for (int i = 0; i < MB; ++i) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i * k + kk));
      acc[i] = dot32(_mm256_sign_epi8(xv, xv), xv, wv, acc[i]);
    }
  }
  for (int i = 0; i < MB; ++i) out[i] = hsum(acc[i]);
#else
  for (auto& o : out) o = 0;
#endif
  for (; kk < k; ++kk) {  // the tail, and everything without AVX2
    for (int i = 0; i < MB; ++i) out[i] += static_cast<std::int32_t>(x[i * k + kk]) * w[kk];
  }
}

#if defined(OCTET_VNNI_256)
// With VNNI in 256 bits the prompt kernel's activations go in as unsigned
// bytes x + 128 (x ^ 0x80): one vpdpbusd per 32 products, where dot32 also
// moves the sign, and each weight row's 128 * sum(w) over the same bytes,
// `offsets`, comes off at the end (exact: the int32 sums wrap alike on both
// sides). R <= 2 activation rows from x against NB weight rows: eight
// accumulators, as vpdpbusd's latency needs (one row's four waited on it),
// each weight load serving both rows, in 12 of the 16 registers (with three
// rows GCC kept one accumulator on the stack). gemm_s8s8_s32 of 4096 x 3072
// x 768, an Alder Lake build on Emerald Rapids cores, 2 threads: 209-243
// GMAC/s (the instruction's peak there: 374), three rows 188-194; BERT-base
// int8 runs 1.8x as fast as on the AVX2 form.
template <int R, int NB>
void vnni_rows(const std::int8_t* x, const std::int8_t* w, std::int64_t k, std::int64_t k_vector, __m128i offsets,
               std::int32_t (&out)[R][kColBlock]) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256i acc[R][kColBlock];
  for (auto& row : acc)
    for (auto& a : row) a = _mm256_setzero_si256();
  for (std::int64_t kk = 0; kk < k_vector; kk += 32) {
    __m256i u8[R];
    for (int r = 0; r < R; ++r) {
      u8[r] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + r * k + kk)), flip);
    }
    for (int j = 0; j < NB; ++j) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * k + kk));
      for (int r = 0; r < R; ++r) acc[r][j] = dpbusd256(acc[r][j], u8[r], wv);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[r]),
                     _mm_sub_epi32(hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), offsets));
  }
}

// 128 * the sum of each of NB weight rows' first k_vector bytes (vnni_rows' offsets).
template <int NB>
__m128i shifted_offsets(const std::int8_t* w, std::int64_t k, std::int64_t k_vector) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256i sums[kColBlock];
  for (auto& a : sums) a = _mm256_setzero_si256();
  for (std::int64_t kk = 0; kk < k_vector; kk += 32) {
    for (int j = 0; j < NB; ++j) {
      sums[j] = dpbusd256(sums[j], flip, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * k + kk)));
    }
  }
  return hsum4(sums[0], sums[1], sums[2], sums[3]);
}
#endif

// The dot products of activation rows [i_begin, i_end) with NB <=
// kColBlock weight rows from w (output columns j0..j0 + NB), emitted a row at
// a time: prompts and batches, where the multiply-adds are the cost. The
// weight rows stay in L1 while the activation rows pass. Without VNNI, one
// row against four weight rows: four accumulators, the row, its |x| and
// dot32's constant leave AVX2's 16 registers room, where a block of 4 rows x
// 4 weight rows spilled accumulators to the stack, and the four sums are
// reduced together. Against oneDNN's f32 product on AVX2 (Emerald Rapids
// cores running AVX2 code, 2 threads, BERT-base's and a batch's shapes):
// 1.15-1.5x where the 4 x 4 block gave 0.9-1.25x. With VNNI, two rows at a
// time (vnni_rows).
template <int NB, typename Emit>
void activation_rows_times_weight_rows(const std::int8_t* x, std::int64_t i_begin, std::int64_t i_end,
                                       const std::int8_t* w, std::int64_t k, std::int64_t j0, const Emit& emit) {
  static_assert(NB >= 1 && NB <= kColBlock);
  // Row i's sums over the first k_done bytes are in `out`: the rest, then out.
  const auto finish = [&](std::int64_t i, std::int64_t k_done, std::int32_t* out) {
    const std::int8_t* xi = x + i * k;
    for (std::int64_t kk = k_done; kk < k; ++kk) {  // the tail, and everything without AVX2
      for (int j = 0; j < NB; ++j) out[j] += static_cast<std::int32_t>(xi[kk]) * w[j * k + kk];
    }
    emit(i, j0, out, NB);
  };
#if defined(OCTET_VNNI_256)
  const std::int64_t k_vector = k / 32 * 32;
  const __m128i offsets = shifted_offsets<NB>(w, k, k_vector);
  const auto rows = [&]<int R>(std::int64_t i) {
    std::int32_t out[R][kColBlock];
    vnni_rows<R, NB>(x + i * k, w, k, k_vector, offsets, out);
    for (int r = 0; r < R; ++r) finish(i + r, k_vector, out[r]);
  };
  std::int64_t i = i_begin;
  for (; i + 2 <= i_end; i += 2) rows.template operator()<2>(i);
  if (i < i_end) rows.template operator()<1>(i);
#else
  for (std::int64_t i = i_begin; i < i_end; ++i) {
    const std::int8_t* xi = x + i * k;
    alignas(16) std::int32_t out[kColBlock] = {};
    std::int64_t kk = 0;
#if defined(__AVX2__)
    __m256i acc[kColBlock];
    for (auto& a : acc) a = _mm256_setzero_si256();
    for (; kk + 32 <= k; kk += 32) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi + kk));
      const __m256i abs_x = _mm256_sign_epi8(xv, xv);
      for (int j = 0; j < NB; ++j) {
        acc[j] = dot32(abs_x, xv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * k + kk)), acc[j]);
      }
    }
    _mm_store_si128(reinterpret_cast<__m128i*>(out), hsum4(acc[0], acc[1], acc[2], acc[3]));
#endif
    finish(i, kk, out);
  }
#endif
}

// Rows of one operand in a cache tile: about kTileBytes of int8 values, so a
// tile of activations and a tile of weights both stay in L2 while every pair
// in them is visited, and a whole number of column blocks.
constexpr std::int64_t kTileBytes = 256 * 1024;
constexpr std::int64_t tile_rows(std::int64_t k, std::int64_t most) {
  return std::clamp<std::int64_t>(kTileBytes / k, kColBlock, most) / kColBlock * kColBlock;
}

// Runs `emit(i, j, sums, count)` for every output: sums[c] is output (i, j +
// c) for c < count, a block of one row's columns. Up to kRowBlock activation
// rows (decode), one weight row at a time over all of them. More rows: cache
// tiles of activation rows x weight rows (without them a large-M product
// re-reads every activation from memory for each block of weight rows), and
// within a tile kColBlock weight rows at a time, which stay in L1 while the
// tile's activation rows pass. Tiles are spread over threads.
template <typename Emit>
void for_each_dot(const std::int8_t* x, const std::int8_t* w, std::int64_t m, std::int64_t k, std::int64_t n,
                  const Emit& emit) {
  if (m <= kRowBlock) {
    // One weight row streamed at a time reads memory faster than several
    // interleaved streams (int8 decode of a 2048 x 5632 weight: 1.4x).
#pragma omp parallel for schedule(static) if (n > 1 && m * n * k > 32768)
    for (std::int64_t j = 0; j < n; ++j) {
      int8_dot::with_row_block(m, [&]<int MB>() {
        std::int32_t out[MB];
        rows_times_weight_row<MB>(x, w + j * k, k, out);
        for (int i = 0; i < MB; ++i) emit(i, j, &out[i], 1);
      });
    }
    return;
  }
  // With all activation rows in one tile no weight tile is visited twice, so
  // narrow column tiles only spread the work over more threads.
  const std::int64_t rows_per_tile = tile_rows(k, 128);
  const std::int64_t cols_per_tile = m > rows_per_tile ? tile_rows(k, 64) : kColBlock;
  const std::int64_t col_tiles = (n + cols_per_tile - 1) / cols_per_tile,
                     row_tiles = (m + rows_per_tile - 1) / rows_per_tile;
#pragma omp parallel for collapse(2) schedule(static) if (col_tiles * row_tiles > 1 && m * n * k > 32768)
  for (std::int64_t ct = 0; ct < col_tiles; ++ct) {
    for (std::int64_t rt = 0; rt < row_tiles; ++rt) {
      const std::int64_t n_end = std::min(n, (ct + 1) * cols_per_tile), m_begin = rt * rows_per_tile,
                         m_end = std::min(m, m_begin + rows_per_tile);
      for (std::int64_t n0 = ct * cols_per_tile; n0 < n_end; n0 += kColBlock) {
        const auto emit_block = [&]<int NB>() {
          activation_rows_times_weight_rows<NB>(x, m_begin, m_end, w + n0 * k, k, n0, emit);
        };
        int8_dot::with_row_block(n_end - n0, emit_block);  // the same block sizes (static_assert above)
      }
    }
  }
}

}  // namespace

void gemm_s8s8_s32(const std::int8_t* x, const std::int8_t* w, std::int32_t* acc, std::int64_t m, std::int64_t k,
                   std::int64_t n) {
  for_each_dot(x, w, m, k, n, [&](std::int64_t i, std::int64_t j, const std::int32_t* sums, int count) {
    std::copy_n(sums, count, acc + i * n + j);
  });
}

void gemm_s8s8_f32(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale, float* y,
                   std::int64_t m, std::int64_t k, std::int64_t n, const float* bias, std::int64_t ldy) {
  if (ldy == 0) ldy = n;
  if (bias == nullptr) {
    for_each_dot(x, w, m, k, n, [&](std::int64_t i, std::int64_t j, const std::int32_t* sums, int count) {
      for (int c = 0; c < count; ++c) y[i * ldy + j + c] = static_cast<float>(sums[c]) * (x_scale[i] * w_scale[j + c]);
    });
  } else {
    for_each_dot(x, w, m, k, n, [&](std::int64_t i, std::int64_t j, const std::int32_t* sums, int count) {
      for (int c = 0; c < count; ++c)
        y[i * ldy + j + c] = scaled_sum(sums[c], x_scale[i] * w_scale[j + c], bias[j + c]);
    });
  }
}

const char* gemm_int8_kernel() {
#if defined(OCTET_VNNI_256)
  return "octet:gemm_int8_avx_vnni";
#elif defined(__AVX2__)
  return "octet:gemm_int8_avx2";
#else
  return "octet:gemm_int8_scalar";
#endif
}

namespace {

// sums[r] = sum_k x[r * k + kk] * w[kk] for R rows of x: each 16 weights are
// converted to float once and used by all R rows (converting is the cost).
template <int R>
void dot_rows_f32s8(const float* x, const std::int8_t* w, std::int64_t k, float* sums) {
  std::int64_t kk = 0;
  float sum[R] = {};
#if defined(__AVX2__)
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (; kk + 16 <= k; kk += 16) {
    prefetch_ahead(w + kk);
    const __m128i w16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + kk));
    const __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(w16));
    const __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(w16, 8)));
    for (int r = 0; r < R; ++r) {
      acc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * k + kk), w0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * k + kk + 8), w1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m256 a = _mm256_add_ps(acc[r][0], acc[r][1]);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    sum[r] = _mm_cvtss_f32(s);
  }
#endif
  for (; kk < k; ++kk) {
    for (int r = 0; r < R; ++r) sum[r] += x[r * k + kk] * static_cast<float>(w[kk]);
  }
  for (int r = 0; r < R; ++r) sums[r] = sum[r];
}

}  // namespace

void gemm_f32s8_f32(const float* x, const std::int8_t* w, const float* w_scale, float* y, std::int64_t m,
                    std::int64_t k, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 1 && m * n * k > 32768)
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int8_t* wj = w + j * k;
    for (std::int64_t i = 0; i < m; i += kRowBlock) {
      float sums[kRowBlock];
      const float* xi = x + i * k;
      const std::int64_t rows = std::min<std::int64_t>(kRowBlock, m - i);
      int8_dot::with_row_block(rows, [&]<int R>() { dot_rows_f32s8<R>(xi, wj, k, sums); });
      for (std::int64_t r = 0; r < rows; ++r) y[(i + r) * n + j] = sums[r] * w_scale[j];
    }
  }
}

}  // namespace octet::cpu
