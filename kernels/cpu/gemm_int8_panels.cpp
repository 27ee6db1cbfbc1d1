#include "kernels/cpu/gemm_int8_panels.h"

#include "engine/core/error.h"
#include "kernels/cpu/gemv_int8_panels.h"
#include "kernels/cpu/int8_dot.h"
#include "kernels/cpu/panels_epilogue.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace octet::cpu {

namespace {

constexpr std::int64_t padded(std::int64_t size) { return (size + kPanelColumns - 1) / kPanelColumns * kPanelColumns; }

}  // namespace

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define OCTET_PANELS_512 1  // else in 256 bits
#elif defined(__AVX2__) && !defined(OCTET_VNNI_256)
#define OCTET_PANELS_AVX2 1  // 256 bits without VNNI: each row's bytes and their magnitudes (int8_dot::Broadcast4)
#endif

namespace {
#if defined(OCTET_PANELS_AVX2)
constexpr std::int64_t kRowCopies = 2;  // x, then |x|
#else
constexpr std::int64_t kRowCopies = 1;  // x + 128
#endif
}  // namespace

std::int64_t gemm_panels_scratch_bytes(std::int64_t m, std::int64_t k) { return m * kRowCopies * padded(k); }

#if defined(OCTET_PANELS_512) || defined(__AVX2__)

// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -Wmaybe-uninitialized takes for a read of an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

#if defined(OCTET_PANELS_AVX2)
constexpr int kTileRows = 4;  // rows of a register tile (each with two broadcasts)
#else
constexpr int kTileRows = 6;  // rows of a register tile
#endif
constexpr std::int64_t kChunkBytes = 256 * 1024;  // panels a thread runs its rows over before the next ones
constexpr std::int64_t kGroupBytes = 4 * kPanelColumns;
constexpr std::int64_t kSplitRowsFrom = 128;  // rows per thread

struct Product {
  const float* x_scale;
  const std::int8_t* packed;
  const std::int32_t* offsets;
  const float* w_scale;
  const float* bias;
  float* y;
  std::int64_t n;
  // x + 128, rows of row_bytes (in the AVX2 form x as bytes, then |x|: rows of 2 * row_bytes)
  const std::uint8_t* rows;
  std::int64_t row_bytes, groups, panel_bytes;
};

// Rows [i_begin, i_end) of x [m, k] + 128 (x ^ 0x80) into rows of
// row_bytes, the padding past k as x = 0 (the weights there are zero); in
// the AVX2 form x itself and then |x|, each row_bytes.
void shift_rows(const std::int8_t* x, std::int64_t k, std::int64_t row_bytes, std::int64_t i_begin, std::int64_t i_end,
                std::uint8_t* rows) {
#if defined(OCTET_PANELS_512)
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (std::int64_t i = i_begin; i < i_end; ++i) {
    for (std::int64_t c = 0; c < row_bytes; c += 64) {
      const std::int64_t left = std::clamp<std::int64_t>(k - c, 0, 64);
      const __mmask64 bytes = left == 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
      const __m512i v = _mm512_maskz_loadu_epi8(bytes, x + i * k + c);
      _mm512_storeu_si512(rows + i * row_bytes + c, _mm512_xor_si512(v, flip));
    }
  }
#elif defined(OCTET_PANELS_AVX2)
  for (std::int64_t i = i_begin; i < i_end; ++i) {
    std::uint8_t* to = rows + i * 2 * row_bytes;
    std::int64_t c = 0;
    for (; c + 32 <= k; c += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i * k + c));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + c), v);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + row_bytes + c), _mm256_sign_epi8(v, v));
    }
    for (; c < row_bytes; ++c) {
      const std::int8_t v = c < k ? x[i * k + c] : std::int8_t{0};
      to[c] = static_cast<std::uint8_t>(v);
      to[row_bytes + c] = static_cast<std::uint8_t>(v < 0 ? -v : v);  // |x| <= 127
    }
  }
#else
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (std::int64_t i = i_begin; i < i_end; ++i) {
    std::int64_t c = 0;
    for (; c + 32 <= k; c += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i * k + c));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows + i * row_bytes + c), _mm256_xor_si256(v, flip));
    }
    for (; c < row_bytes; ++c) rows[i * row_bytes + c] = c < k ? static_cast<std::uint8_t>(x[i * k + c] ^ 0x80) : 0x80;
  }
#endif
}

// What a tile asks the memory for while it multiplies, so that a weight that
// is not in cache (each product's weights are new to it; BERT-base's are 85
// MB) arrives while the rows before it multiply: the first pass of rows over
// a chunk streams its own panels (`Stream`), each later pass fetches
// `ahead_lines` lines of the next chunk into L2, one per group (lines past
// a tile's groups are left to the next chunk's own first pass).
struct Fetch {
  const char* ahead = nullptr;
  std::int64_t ahead_lines = 0;
};

#if defined(OCTET_PANELS_512)
// Rows i0 .. i0 + R - 1 against panel `panel`: their 64 columns' sums over
// all of K in registers (6 x 4 vectors of sums, 4 of the panel's, one
// broadcast activation), then scaled and stored as the GEMV stores them.
template <int R, bool Stream>
void tile(const Product& p, std::int64_t i0, std::int64_t panel, Fetch fetch) {
  __m512i acc[R][4];
  for (int i = 0; i < R; ++i)
    for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_setzero_si512();
  const std::uint8_t* x = p.rows + i0 * p.row_bytes;
  const std::int8_t* w = p.packed + panel * p.panel_bytes;
  for (std::int64_t g = 0; g < p.groups; ++g, w += kGroupBytes) {
    __m512i wv[4];
    for (int c = 0; c < 4; ++c) wv[c] = _mm512_loadu_si512(w + 64 * c);
    if constexpr (Stream) {
      for (int c = 0; c < 4; ++c) int8_dot::prefetch_stream_line(w + 64 * c);
    } else if (g < fetch.ahead_lines) {
      _mm_prefetch(fetch.ahead + 64 * g, _MM_HINT_T1);
    }
    for (int i = 0; i < R; ++i) {
      std::int32_t four;
      std::memcpy(&four, x + i * p.row_bytes + 4 * g, sizeof(four));
      const __m512i xv = _mm512_set1_epi32(four);
      for (int c = 0; c < 4; ++c) acc[i][c] = int8_dot::dpbusd(acc[i][c], xv, wv[c]);
    }
  }
  store_panel_tile<R>(acc, i0, panel * kPanelColumns, p.n, p.offsets, p.x_scale, p.w_scale, p.bias, p.y);
}
#else
// The same in 256 bits, a quarter of the panel at a time: 16 columns, the
// 64-byte line q of each group (6 x 2 vectors of sums, 2 of the panel's, one
// broadcast activation: 15 of the 16 registers). The lines to fetch ahead
// are shared over the quarters. gemm_s8s8_s32's shapes (an Alder Lake build
// on Emerald Rapids cores, 2 threads, the instruction's peak 374 GMAC/s):
// 280-320 GMAC/s, where the kernel over plain rows (gemm_int8.h) ran 180-245.
// Without VNNI (int8_dot::Broadcast4) each row takes two broadcasts, x and
// |x| from the rows' copy, so tiles of 4 rows fill the registers; the sums
// start from the columns' offsets. Against the kernel over plain rows
// (gemm_int8.h): see the RESULTS section "AVX2 without VNNI on the panels".
template <int R, bool Stream>
void tile(const Product& p, std::int64_t i0, std::int64_t panel, Fetch fetch) {
  const std::uint8_t* x = p.rows + i0 * kRowCopies * p.row_bytes;
  for (int q = 0; q < 4; ++q) {
    const std::int64_t j = panel * kPanelColumns + 16 * q;
    __m256i acc[R][2];
    for (int c = 0; c < 2; ++c) {
      const __m256i start = int8_dot::start_sums(p.offsets + j + 8 * c);
      for (int i = 0; i < R; ++i) acc[i][c] = start;
    }
    const std::int8_t* w = p.packed + panel * p.panel_bytes + 64 * q;
    for (std::int64_t g = 0; g < p.groups; ++g, w += kGroupBytes) {
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
      if constexpr (Stream) {
        int8_dot::prefetch_stream_line(w);
      } else if (g < fetch.ahead_lines && g % 4 == q) {
        _mm_prefetch(fetch.ahead + 64 * g, _MM_HINT_T1);
      }
      for (int i = 0; i < R; ++i) {
        const std::uint8_t* row = x + i * kRowCopies * p.row_bytes + 4 * g;
        std::int32_t four;
        std::memcpy(&four, row, sizeof(four));
#if defined(OCTET_PANELS_AVX2)
        std::int32_t abs_four;
        std::memcpy(&abs_four, row + p.row_bytes, sizeof(abs_four));
        const int8_dot::Broadcast4 xv(four, abs_four);
        acc[i][0] = xv.times(acc[i][0], w0);
        acc[i][1] = xv.times(acc[i][1], w1);
#else
        const __m256i xv = _mm256_set1_epi32(four);  // already x + 128
        acc[i][0] = int8_dot::dpbusd256(acc[i][0], xv, w0);
        acc[i][1] = int8_dot::dpbusd256(acc[i][1], xv, w1);
#endif
      }
    }
    store_panel_tile<R, 2>(acc, i0, j, p.n, p.offsets, p.x_scale, p.w_scale, p.bias, p.y);
  }
}
#endif

// Rows i0 .. i0 + R - 1 against panels [p0, p1), pass `pass` of rows over
// them: the first streams the panels, the others fetch their share of the
// next chunk, split evenly over the panels' tiles.
template <int R>
void pass_of_rows(const Product& p, std::int64_t i0, std::int64_t p0, std::int64_t p1, std::int64_t pass, Fetch fetch) {
  const std::int64_t panels = p1 - p0;
  for (std::int64_t q = 0; q < panels; ++q) {
    if (pass == 0) {
      tile<R, true>(p, i0, p0 + q, {});
    } else {
      const std::int64_t from = fetch.ahead_lines * q / panels, to = fetch.ahead_lines * (q + 1) / panels;
      tile<R, false>(p, i0, p0 + q, {fetch.ahead + 64 * from, to - from});
    }
  }
}

// Rows [i_begin, i_end) against panels [p_begin, p_end), a chunk of panels
// at a time, each chunk's first pass of rows streaming it from memory and
// the other passes fetching the next chunk between them. (The 72 products
// of BERT-base at batch 1, whose 85 MB of weights are never in cache, on
// Emerald Rapids at 2 threads: 21.0-21.7 -> 18.9-19.3 ms, best of 30.)
void rows_over_panels(const Product& p, std::int64_t i_begin, std::int64_t i_end, std::int64_t p_begin,
                      std::int64_t p_end) {
  const std::int64_t most = std::max<std::int64_t>(1, kChunkBytes / p.panel_bytes);
  const std::int64_t passes = (i_end - i_begin + kTileRows - 1) / kTileRows;
  // The first chunk a panel and each next one twice the last, up to `most`:
  // only the first panel waits on memory with nothing fetched ahead (the
  // products above: best 18.97-19.41 -> 18.42-18.75 ms, eight rounds).
  std::int64_t size = 1;
  for (std::int64_t p0 = p_begin, p1; p0 < p_end; p0 = p1, size = std::min(most, 2 * size)) {
    p1 = std::min(p_end, p0 + size);
    const std::int64_t p2 = std::min(p_end, p1 + std::min(most, 2 * size));
    const char* next = reinterpret_cast<const char*>(p.packed + p1 * p.panel_bytes);
    const std::int64_t next_lines = (p2 - p1) * p.panel_bytes / 64;
    // Passes 1 .. passes - 1 share the next chunk's lines.
    const auto fetch = [&](std::int64_t pass) {
      if (pass == 0) return Fetch{};
      const std::int64_t from = next_lines * (pass - 1) / (passes - 1), to = next_lines * pass / (passes - 1);
      return Fetch{next + 64 * from, to - from};
    };
    std::int64_t i = i_begin, pass = 0;
    for (; i + kTileRows <= i_end; i += kTileRows, ++pass) pass_of_rows<kTileRows>(p, i, p0, p1, pass, fetch(pass));
    switch (i_end - i) {
      case 5:
        pass_of_rows<5>(p, i, p0, p1, pass, fetch(pass));
        break;
      case 4:
        pass_of_rows<4>(p, i, p0, p1, pass, fetch(pass));
        break;
      case 3:
        pass_of_rows<3>(p, i, p0, p1, pass, fetch(pass));
        break;
      case 2:
        pass_of_rows<2>(p, i, p0, p1, pass, fetch(pass));
        break;
      case 1:
        pass_of_rows<1>(p, i, p0, p1, pass, fetch(pass));
        break;
      default:
        break;
    }
  }
}

}  // namespace

void gemm_s8s8_f32_panels(const std::int8_t* x, const float* x_scale, const std::int8_t* packed,
                          const std::int32_t* offsets, const float* w_scale, float* y, std::int64_t m, std::int64_t k,
                          std::int64_t n, const float* bias, std::uint8_t* scratch,
                          const std::function<void(std::int64_t, float*)>& then) {
  if (m <= 0 || k <= 0 || n <= 0 || k > kPanelMaxK) fail("gemm_s8s8_f32_panels: {} x {} x {}", m, k, n);
  const std::int64_t row_bytes = padded(k), panels = padded(n) / kPanelColumns;
  const Product p{
      x_scale, packed, offsets, w_scale, bias, y, n, scratch, row_bytes, (k + 3) / 4, row_bytes * kPanelColumns};
  const int threads = m * n * k > (1 << 20) ? omp_get_max_threads() : 1;
  // Rows split where each thread gets enough of them; else the panels, so
  // that each thread streams its own share of a weight that is not in cache
  // (a prompt of 128 tokens on the 1.1B shape's weights: split rows 1.01-1.19x
  // oneDNN's time, split panels 0.99-1.02x).
  const bool split_rows = m >= kSplitRowsFrom * threads;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (split_rows) {
      const std::int64_t tiles = (m + kTileRows - 1) / kTileRows;
      const std::int64_t i_begin = std::min(m, tiles * t / nt * kTileRows);
      const std::int64_t i_end = std::min(m, tiles * (t + 1) / nt * kTileRows);
      shift_rows(x, k, row_bytes, i_begin, i_end, scratch);
      rows_over_panels(p, i_begin, i_end, 0, panels);
      if (then) {
        for (std::int64_t i = i_begin; i < i_end; ++i) then(i, y + i * n);
      }
    } else {
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < m; ++i) shift_rows(x, k, row_bytes, i, i + 1, scratch);
      rows_over_panels(p, 0, m, panels * t / nt, panels * (t + 1) / nt);
      if (then) {
#pragma omp barrier
#pragma omp for schedule(static)
        for (std::int64_t i = 0; i < m; ++i) then(i, y + i * n);
      }
    }
  }
}

#pragma GCC diagnostic pop

#else  // no AVX2 in this build: callers check panels_built() first

void gemm_s8s8_f32_panels(const std::int8_t*, const float*, const std::int8_t*, const std::int32_t*, const float*,
                          float*, std::int64_t, std::int64_t, std::int64_t, const float*, std::uint8_t*,
                          const std::function<void(std::int64_t, float*)>&) {
  fail("gemm_s8s8_f32_panels: this build has no AVX2");
}

#endif

}  // namespace octet::cpu
