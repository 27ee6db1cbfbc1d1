#include "kernels/cpu/gemv_int8_panels.h"

#include "engine/core/error.h"
#include "kernels/cpu/int8_dot.h"
#include "kernels/cpu/panels_epilogue.h"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace octet::cpu {

namespace {

constexpr std::int64_t kGroupBytes = 4 * kPanelColumns;  // 4 rows of k for the panel's 64 columns

constexpr std::int64_t padded(std::int64_t size) { return (size + kPanelColumns - 1) / kPanelColumns * kPanelColumns; }

}  // namespace

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)

// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -Wmaybe-uninitialized takes for a read of an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

// The 4 activations of row x facing group g, offset to unsigned (x ^ 0x80),
// as 16 copies; the last group of a K that is not a multiple of 4 is padded
// (its weights there are zero, so the padding's value does not matter).
inline __m512i broadcast_group(const std::int8_t* x, std::int64_t k, std::int64_t g) {
  std::int32_t four = 0;
  std::memcpy(&four, x + 4 * g, static_cast<std::size_t>(std::min<std::int64_t>(4, k - 4 * g)));
  return _mm512_set1_epi32(four ^ static_cast<std::int32_t>(0x80808080u));
}

// The MB rows of x against one panel: the int32 sums of its 64 columns,
// offsets included (out = sum (x + 128) w), in 4 registers per row. The sums
// are local until the end: written through `out` in the loop, GCC kept them in
// memory (an int8 load may alias anything) and the loop ran at a third speed.
template <int MB>
void panel_sums(const std::int8_t* x, std::int64_t ldx, const std::int8_t* panel, std::int64_t k,
                __m512i (&out)[MB][4]) {
  __m512i acc[MB][4];
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i)
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_setzero_si512();
  const std::int64_t full_groups = k / 4, groups = (k + 3) / 4;  // the zero groups past k are skipped
  const std::int8_t* w = panel;
  std::int64_t g = 0;
  for (; g < full_groups; ++g, w += kGroupBytes) {
#pragma GCC unroll 4
    for (int line = 0; line < 4; ++line) int8_dot::prefetch_stream_line(w + 64 * line);
    __m512i wv[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) wv[c] = _mm512_loadu_si512(w + 64 * c);
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      std::int32_t four;
      std::memcpy(&four, x + i * ldx + 4 * g, 4);
      const __m512i xv = _mm512_set1_epi32(four ^ static_cast<std::int32_t>(0x80808080u));
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_dpbusd_epi32(acc[i][c], xv, wv[c]);
    }
  }
  for (; g < groups; ++g, w += kGroupBytes) {
    for (int i = 0; i < MB; ++i) {
      const __m512i xv = broadcast_group(x + i * ldx, k, g);
      for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_dpbusd_epi32(acc[i][c], xv, _mm512_loadu_si512(w + 64 * c));
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int c = 0; c < 4; ++c) out[i][c] = acc[i][c];
}

}  // namespace

bool panels_have_vnni() { return true; }

void panel_offsets(const std::int8_t* packed, std::int64_t k, std::int64_t n, std::int32_t* offsets) {
  const std::int64_t kp = padded(k), np = padded(n);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (std::int64_t p = 0; p < np / kPanelColumns; ++p) {
    const std::int8_t* w = packed + p * kp * kPanelColumns;
    __m512i sums[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (std::int64_t g = 0; g < kp / 4; ++g, w += kGroupBytes)
      for (int c = 0; c < 4; ++c) sums[c] = _mm512_dpbusd_epi32(sums[c], flip, _mm512_loadu_si512(w + 64 * c));
    for (int c = 0; c < 4; ++c) _mm512_storeu_si512(offsets + p * kPanelColumns + 16 * c, sums[c]);
  }
}

void gemv_s8s8_f32_panels(const std::int8_t* x, const float* x_scale, std::span<const PanelsProduct> products,
                          std::int64_t m, std::int64_t k) {
  if (products.size() > kMaxInt8Products)
    fail("gemv_s8s8_f32_panels: {} products, at most {}", products.size(), kMaxInt8Products);
  // first[i]: product i's first panel in the loop over every product's panels.
  std::array<std::int64_t, kMaxInt8Products + 1> first{};
  std::int64_t columns = 0;
  for (std::size_t i = 0; i < products.size(); ++i) {
    first[i + 1] = first[i] + padded(products[i].product.n) / kPanelColumns;
    columns += products[i].product.n;
  }
  const std::int64_t panels = first[products.size()], panel_bytes = padded(k) * kPanelColumns;
  // Static shares: each thread streams its own contiguous run of panels.
#pragma omp parallel for schedule(static) if (panels > 1 && m * columns * k > 32768)
  for (std::int64_t p = 0; p < panels; ++p) {
    std::size_t which = 0;
    while (p >= first[which + 1]) ++which;
    const Int8Product& product = products[which].product;
    const std::int32_t* offsets = products[which].offsets;
    const std::int64_t n = product.n;
    const std::int8_t* panel = product.w + (p - first[which]) * panel_bytes;
    const std::int64_t j0 = (p - first[which]) * kPanelColumns;
    for (std::int64_t i0 = 0; i0 < m; i0 += int8_dot::kRowBlock) {
      // Rows past the first block read the panel again from cache.
      int8_dot::with_row_block(m - i0, [&]<int MB>() {
        __m512i acc[MB][4];
        panel_sums<MB>(x + i0 * k, k, panel, k, acc);
        store_panel_tile<MB>(acc, i0, j0, n, offsets, x_scale, product.w_scale, product.bias, product.y);
      });
    }
  }
}

#pragma GCC diagnostic pop

#else  // no AVX-512 VNNI in this build: callers check panels_have_vnni() first

bool panels_have_vnni() { return false; }

void panel_offsets(const std::int8_t*, std::int64_t, std::int64_t, std::int32_t*) {
  fail("panel_offsets: this build has no AVX-512 VNNI");
}

void gemv_s8s8_f32_panels(const std::int8_t*, const float*, std::span<const PanelsProduct>, std::int64_t,
                          std::int64_t) {
  fail("gemv_s8s8_f32_panels: this build has no AVX-512 VNNI");
}

#endif

void gemv_s8s8_f32_panels(const std::int8_t* x, const float* x_scale, const std::int8_t* packed,
                          const std::int32_t* offsets, const float* w_scale, float* y, std::int64_t m, std::int64_t k,
                          std::int64_t n, const float* bias) {
  const PanelsProduct product{{packed, w_scale, y, n, bias}, offsets};
  gemv_s8s8_f32_panels(x, x_scale, std::span(&product, 1), m, k);
}

}  // namespace octet::cpu
