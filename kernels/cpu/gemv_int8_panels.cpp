#include "kernels/cpu/gemv_int8_panels.h"

#include "engine/core/error.h"
#include "kernels/cpu/int8_dot.h"
#include "kernels/cpu/panels_epilogue.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace octet::cpu {

namespace {

constexpr std::int64_t kGroupBytes = 4 * kPanelColumns;  // 4 rows of k for the panel's 64 columns

constexpr std::int64_t padded(std::int64_t size) { return (size + kPanelColumns - 1) / kPanelColumns * kPanelColumns; }

}  // namespace

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define OCTET_PANELS_BUILT 1

// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -Wmaybe-uninitialized takes for a read of an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

constexpr const char* kForm = "avx512_vnni";

// The 4 activations of row x facing group g, offset to unsigned (x ^ 0x80),
// as one int32 to broadcast; the last group of a K that is not a multiple of
// 4 is padded (its weights there are zero, so the padding's value does not matter).
inline std::int32_t shifted_group(const std::int8_t* x, std::int64_t k, std::int64_t g) {
  std::int32_t four = 0;
  std::memcpy(&four, x + 4 * g, static_cast<std::size_t>(std::min<std::int64_t>(4, k - 4 * g)));
  return four ^ static_cast<std::int32_t>(0x80808080u);
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
      const __m512i xv = _mm512_set1_epi32(shifted_group(x + i * ldx, k, g));
      for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_dpbusd_epi32(acc[i][c], xv, _mm512_loadu_si512(w + 64 * c));
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int c = 0; c < 4; ++c) out[i][c] = acc[i][c];
}

// 128 * the sum of each of a panel's 64 columns over kp bytes of K.
void panel_column_offsets(const std::int8_t* w, std::int64_t kp, std::int32_t* offsets) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i sums[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
  for (std::int64_t g = 0; g < kp / 4; ++g, w += kGroupBytes)
    for (int c = 0; c < 4; ++c) sums[c] = _mm512_dpbusd_epi32(sums[c], flip, _mm512_loadu_si512(w + 64 * c));
  for (int c = 0; c < 4; ++c) _mm512_storeu_si512(offsets + 16 * c, sums[c]);
}

// The m rows of x against the panel at `panel` (columns j0 .. j0 + 63) into the product's y.
void rows_times_panel(const std::int8_t* x, const float* x_scale, std::int64_t m, std::int64_t k,
                      const std::int8_t* panel, std::int64_t j0, const Int8Product& product,
                      const std::int32_t* offsets) {
  for (std::int64_t i0 = 0; i0 < m; i0 += int8_dot::kRowBlock) {
    // Rows past the first block read the panel again from cache.
    int8_dot::with_row_block(m - i0, [&]<int MB>() {
      __m512i acc[MB][4];
      panel_sums<MB>(x + i0 * k, k, panel, k, acc);
      store_panel_tile<MB>(acc, i0, j0, product.n, offsets, x_scale, product.w_scale, product.bias, product.y);
    });
  }
}

}  // namespace

#pragma GCC diagnostic pop

#elif defined(__AVX2__)
#define OCTET_PANELS_BUILT 1

namespace {

#if defined(OCTET_VNNI_256)
constexpr const char* kForm = "avx_vnni";
#else
constexpr const char* kForm = "avx2";
#endif

// R rows of x against C vectors of a panel's columns from vector c0 (8
// columns each: 32 of a group's 256 bytes): their int32 sums, offsets
// included, as panel_sums gives them in 512 bits (int8_dot::Broadcast4:
// with VNNI in 256 bits, or AVX2 alone). `offsets` are the panel's. A
// group's weights are loaded one vector at a time and used by every row:
// R * C accumulators and R broadcasts (two each without VNNI) fit the 16
// registers for R * C <= 8.
template <int R, int C>
void panel_sums(const std::int8_t* x, std::int64_t ldx, const std::int8_t* panel, const std::int32_t* offsets,
                std::int64_t k, int c0, __m256i (&out)[R][C]) {
  __m256i acc[R][C];
  for (int c = 0; c < C; ++c) {
    const __m256i start = int8_dot::start_sums(offsets + 8 * (c0 + c));
    for (int i = 0; i < R; ++i) acc[i][c] = start;
  }
  const std::int64_t groups = (k + 3) / 4;  // the zero groups past k are skipped
  const std::int8_t* w = panel + 32 * c0;
  for (std::int64_t g = 0; g < groups; ++g, w += kGroupBytes) {
    for (int line = 0; line < C / 2; ++line) int8_dot::prefetch_stream_line(w + 64 * line);
    int8_dot::Broadcast4 xv[R];
    for (int i = 0; i < R; ++i) {
      std::int32_t four = 0;
      if (4 * g + 4 <= k) {
        std::memcpy(&four, x + i * ldx + 4 * g, 4);
      } else {  // the last group of a K that is not a multiple of 4: x = 0 past it (its weights there are zero)
        std::memcpy(&four, x + i * ldx + 4 * g, static_cast<std::size_t>(k - 4 * g));
      }
      xv[i] = int8_dot::Broadcast4(four);
    }
    for (int c = 0; c < C; ++c) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * c));
      for (int i = 0; i < R; ++i) acc[i][c] = xv[i].times(acc[i][c], wv);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int c = 0; c < C; ++c) out[i][c] = acc[i][c];
}

void panel_column_offsets(const std::int8_t* w, std::int64_t kp, std::int32_t* offsets) {
  __m256i sums[8];
  for (auto& s : sums) s = _mm256_setzero_si256();
  for (std::int64_t g = 0; g < kp / 4; ++g, w += kGroupBytes)
    for (int c = 0; c < 8; ++c)
      sums[c] = int8_dot::add_offsets4(sums[c], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * c)));
  for (int c = 0; c < 8; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(offsets + 8 * c), sums[c]);
}

// One row: the whole panel in one pass (8 accumulators); pairs of rows: each
// half of the panel in turn (2 x 4), where the whole would need 16.
void rows_times_panel(const std::int8_t* x, const float* x_scale, std::int64_t m, std::int64_t k,
                      const std::int8_t* panel, std::int64_t j0, const Int8Product& product,
                      const std::int32_t* offsets) {
  std::int64_t i0 = 0;
  for (; i0 + 2 <= m; i0 += 2) {
    for (int half = 0; half < 2; ++half) {
      __m256i acc[2][4];
      panel_sums<2, 4>(x + i0 * k, k, panel, offsets + j0, k, 4 * half, acc);
      store_panel_tile<2, 4>(acc, i0, j0 + 32 * half, product.n, offsets, x_scale, product.w_scale, product.bias,
                             product.y);
    }
  }
  if (i0 < m) {
    __m256i acc[1][8];
    panel_sums<1, 8>(x + i0 * k, k, panel, offsets + j0, k, 0, acc);
    store_panel_tile<1, 8>(acc, i0, j0, product.n, offsets, x_scale, product.w_scale, product.bias, product.y);
  }
}

}  // namespace

#endif

#if defined(OCTET_PANELS_BUILT)

bool panels_built() { return true; }

bool panels_have_vnni() { return std::string_view(kForm) != "avx2"; }

const char* panels_form() { return kForm; }

void panel_offsets(const std::int8_t* packed, std::int64_t k, std::int64_t n, std::int32_t* offsets) {
  const std::int64_t kp = padded(k), np = padded(n);
  for (std::int64_t p = 0; p < np / kPanelColumns; ++p) {
    panel_column_offsets(packed + p * kp * kPanelColumns, kp, offsets + p * kPanelColumns);
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
    rows_times_panel(x, x_scale, m, k, product.w + (p - first[which]) * panel_bytes, (p - first[which]) * kPanelColumns,
                     product, products[which].offsets);
  }
}

#else  // no AVX2 in this build: callers check panels_built() first

bool panels_built() { return false; }

bool panels_have_vnni() { return false; }

const char* panels_form() { return ""; }

void panel_offsets(const std::int8_t*, std::int64_t, std::int64_t, std::int32_t*) {
  fail("panel_offsets: this build has no AVX2");
}

void gemv_s8s8_f32_panels(const std::int8_t*, const float*, std::span<const PanelsProduct>, std::int64_t,
                          std::int64_t) {
  fail("gemv_s8s8_f32_panels: this build has no AVX2");
}

#endif

void gemv_s8s8_f32_panels(const std::int8_t* x, const float* x_scale, const std::int8_t* packed,
                          const std::int32_t* offsets, const float* w_scale, float* y, std::int64_t m, std::int64_t k,
                          std::int64_t n, const float* bias) {
  const PanelsProduct product{{packed, w_scale, y, n, bias}, offsets};
  gemv_s8s8_f32_panels(x, x_scale, std::span(&product, 1), m, k);
}

}  // namespace octet::cpu
