#include "kernels/cpu/gemv_f32.h"

#include "engine/core/error.h"
#include "kernels/cpu/int8_dot.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace octet::cpu {

#if defined(__AVX512F__)

// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -Wmaybe-uninitialized takes for a read of an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

// sums[i] = dot(x row i, w row) for MB rows of x, 64 floats (4 lines) a turn.
template <int MB>
void dot_row(const float* x, const float* w, std::int64_t k, float (&sums)[MB]) {
  __m512 acc[MB];
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i) acc[i] = _mm512_setzero_ps();
  std::int64_t kk = 0;
  for (; kk + 64 <= k; kk += 64) {
#pragma GCC unroll 4
    for (int line = 0; line < 4; ++line) int8_dot::prefetch_stream_line(w + kk + 16 * line);
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const __m512 wv = _mm512_loadu_ps(w + kk + 16 * v);
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i * k + kk + 16 * v), wv, acc[i]);
    }
  }
  for (; kk < k; kk += 16) {  // the last 1..63 columns, 16 at a time, masked
    const std::int64_t left = k - kk;
    const __mmask16 mask = left >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << left) - 1);
    const __m512 wv = _mm512_maskz_loadu_ps(mask, w + kk);
    for (int i = 0; i < MB; ++i) acc[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, x + i * k + kk), wv, acc[i]);
  }
  for (int i = 0; i < MB; ++i) sums[i] = _mm512_reduce_add_ps(acc[i]);
}

}  // namespace

bool gemv_f32_available() { return true; }

static_assert(kGemvF32MaxRows == int8_dot::kRowBlock, "with_row_block takes every row count in one block");

void gemv_f32(const float* x, const float* w, float* y, std::int64_t m, std::int64_t k, std::int64_t n,
              std::int64_t ldy, const float* bias) {
  if (m < 1 || m > kGemvF32MaxRows) fail("gemv_f32: {} rows, expected 1 to {}", m, kGemvF32MaxRows);
    // Static shares: each thread streams its own contiguous rows of w.
#pragma omp parallel for schedule(static) if (n > 1 && m * n * k > 32768)
  for (std::int64_t j = 0; j < n; ++j) {
    int8_dot::with_row_block(m, [&]<int MB>() {
      float sums[MB];
      dot_row<MB>(x, w + j * k, k, sums);
      for (int i = 0; i < MB; ++i) y[i * ldy + j] = bias != nullptr ? sums[i] + bias[j] : sums[i];
    });
  }
}

#pragma GCC diagnostic pop

#else  // no AVX-512 in this build: MatmulF32 checks gemv_f32_available() first

bool gemv_f32_available() { return false; }

void gemv_f32(const float*, const float*, float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
              const float*) {
  fail("gemv_f32: this build has no AVX-512");
}

#endif

}  // namespace octet::cpu
