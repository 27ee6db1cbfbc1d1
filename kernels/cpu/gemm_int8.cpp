#include "kernels/cpu/gemm_int8.h"

#include "kernels/cpu/int8_dot.h"
#include "kernels/cpu/int8_product.h"

#include <algorithm>
#include <cstdint>

namespace octet::cpu {

namespace {

using int8_dot::kRowBlock;    // activation rows sharing each weight load
constexpr int kColBlock = 4;  // weight rows sharing each activation load
static_assert(kRowBlock == kColBlock, "tile_rows rounds both operands' tiles to one block size");

#if defined(__AVX2__)
using int8_dot::dot32;
using int8_dot::hsum;
using int8_dot::prefetch_ahead;
#endif

// The dot products of MB activation rows with NB weight rows.
template <int MB, int NB>
void block_s8(const std::int8_t* x, const std::int8_t* w, std::int64_t k, std::int64_t ldx,
              std::int32_t (&out)[MB][NB]) {
  std::int64_t kk = 0;
#if defined(__AVX2__)
  __m256i acc[MB][NB];
  for (auto& row : acc)
    for (auto& a : row) a = _mm256_setzero_si256();
  for (; kk + 32 <= k; kk += 32) {
    if constexpr (NB == 1) prefetch_ahead(w + kk);
    __m256i wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * k + kk));
    for (int i = 0; i < MB; ++i) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i * ldx + kk));
      const __m256i abs_x = _mm256_sign_epi8(xv, xv);
      for (int j = 0; j < NB; ++j) acc[i][j] = dot32(abs_x, xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) out[i][j] = hsum(acc[i][j]);
#else
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) out[i][j] = 0;
#endif
  for (; kk < k; ++kk) {  // the tail, and everything without AVX2
    for (int i = 0; i < MB; ++i)
      for (int j = 0; j < NB; ++j) out[i][j] += static_cast<std::int32_t>(x[i * ldx + kk]) * w[j * k + kk];
  }
}

// Rows of one operand in a cache tile: about kTileBytes of int8 values, so a
// tile of activations and a tile of weights both stay in L2 while every pair
// in them is visited, and a whole number of register blocks (kRowBlock ==
// kColBlock, so either way).
constexpr std::int64_t kTileBytes = 256 * 1024;
constexpr std::int64_t tile_rows(std::int64_t k, std::int64_t most) {
  return std::clamp<std::int64_t>(kTileBytes / k, kRowBlock, most) / kRowBlock * kRowBlock;
}

// Runs `emit(m, n, int32 dot)` for every output. Two levels of blocking:
// cache tiles of activation rows x weight rows (without them a large-M
// product re-reads every activation from memory for each block of weight
// rows: 0.6x the float speed on BERT-base's FFN instead of 0.75x), and within
// a tile MB x NB blocks held in registers. Tiles are spread over threads.
template <typename Emit>
void for_each_dot(const std::int8_t* x, const std::int8_t* w, std::int64_t m, std::int64_t k, std::int64_t n,
                  const Emit& emit) {
  // NB weight rows from n0 against activation rows [m_begin, m_end), MB at a time.
  const auto run = [&]<int NB>(std::int64_t n0, std::int64_t m_begin, std::int64_t m_end) {
    for (std::int64_t m0 = m_begin; m0 < m_end; m0 += kRowBlock) {
      const auto emit_block = [&]<int MB>() {
        std::int32_t out[MB][NB];
        block_s8<MB, NB>(x + m0 * k, w + n0 * k, k, k, out);
        for (int i = 0; i < MB; ++i)
          for (int j = 0; j < NB; ++j) emit(m0 + i, n0 + j, out[i][j]);
      };
      int8_dot::with_row_block(m_end - m0, emit_block);
    }
  };
  // With all activation rows in one tile no weight tile is visited twice, so
  // narrow column tiles only spread the work over more threads (decode).
  const std::int64_t rows_per_tile = tile_rows(k, 128);
  const std::int64_t cols_per_tile = m > rows_per_tile ? tile_rows(k, 64) : kColBlock;
  const std::int64_t col_tiles = (n + cols_per_tile - 1) / cols_per_tile,
                     row_tiles = (m + rows_per_tile - 1) / rows_per_tile;
#pragma omp parallel for collapse(2) schedule(static) if (col_tiles * row_tiles > 1 && m * n * k > 32768)
  for (std::int64_t ct = 0; ct < col_tiles; ++ct) {
    for (std::int64_t rt = 0; rt < row_tiles; ++rt) {
      const std::int64_t n_end = std::min(n, (ct + 1) * cols_per_tile), m_begin = rt * rows_per_tile,
                         m_end = std::min(m, m_begin + rows_per_tile);
      std::int64_t n0 = ct * cols_per_tile;
      if (m > kRowBlock) {
        for (; n0 + kColBlock <= n_end; n0 += kColBlock) run.template operator()<kColBlock>(n0, m_begin, m_end);
      }
      // The tile's last rows; and every row when the activations are one
      // register block (decode): then an activation load has little to share,
      // and one weight row streamed at a time reads memory faster than four
      // interleaved streams (int8 decode of a 2048 x 5632 weight: 1.4x).
      for (; n0 < n_end; ++n0) run.template operator()<1>(n0, m_begin, m_end);
    }
  }
}

}  // namespace

void gemm_s8s8_s32(const std::int8_t* x, const std::int8_t* w, std::int32_t* acc, std::int64_t m, std::int64_t k,
                   std::int64_t n) {
  for_each_dot(x, w, m, k, n, [&](std::int64_t i, std::int64_t j, std::int32_t v) { acc[i * n + j] = v; });
}

void gemm_s8s8_f32(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale, float* y,
                   std::int64_t m, std::int64_t k, std::int64_t n, const float* bias, std::int64_t ldy) {
  if (ldy == 0) ldy = n;
  if (bias == nullptr) {
    for_each_dot(x, w, m, k, n, [&](std::int64_t i, std::int64_t j, std::int32_t v) {
      y[i * ldy + j] = static_cast<float>(v) * (x_scale[i] * w_scale[j]);
    });
  } else {
    for_each_dot(x, w, m, k, n, [&](std::int64_t i, std::int64_t j, std::int32_t v) {
      y[i * ldy + j] = scaled_sum(v, x_scale[i] * w_scale[j], bias[j]);
    });
  }
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
