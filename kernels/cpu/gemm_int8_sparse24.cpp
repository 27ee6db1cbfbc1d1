#include "kernels/cpu/gemm_int8_sparse24.h"

#include "kernels/cpu/int8_dot.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace octet::cpu {

namespace {

using int8_dot::kRowBlock;  // activation rows sharing each gather control

// The 6 ways to keep 2 of a group's 4 columns: pattern digit -> (first, second).
constexpr std::array<std::array<int, 2>, 6> kPairs = {{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}}};
constexpr std::array<int, 4> kDigitWeight = {1, 6, 36, 216};  // group g of 4 is digit g in base 6
constexpr std::size_t kPatterns = 6 * 6 * 6 * 6;

// A chunk: 64 columns (16 groups, 4 patterns) as kChunkBytes bytes, the 4
// patterns then the 32 values (see the header).
constexpr std::int64_t kChunk = 64, kChunkBytes = 8 + 32;
// Values of pattern p sit at 8-byte slot kSlotOfPattern[p] of the chunk's 32:
// patterns 0, 2, 1, 3, so that lane 0 of a register holds the values of
// patterns 0 and 2 and lane 1 those of 1 and 3, as the product gathers them.
constexpr std::array<std::int64_t, 4> kSlotOfPattern = {0, 2, 1, 3};

std::int64_t chunks(std::int64_t k) { return (k + kChunk - 1) / kChunk; }

// The 16-bit pattern of 4 groups at `p` (little-endian, maybe unaligned).
inline unsigned pattern_at(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Where in a packed row group g's pattern and first value are.
inline std::int64_t pattern_offset(std::int64_t g) { return g / 16 * kChunkBytes + 2 * (g % 16 / 4); }
inline std::int64_t value_offset(std::int64_t g) {
  return g / 16 * kChunkBytes + 8 + 8 * kSlotOfPattern[static_cast<std::size_t>(g % 16 / 4)] + 2 * (g % 4);
}

// The (first, second) columns of group g of a packed row.
inline const std::array<int, 2>& group_pair(const std::uint8_t* row, std::int64_t g) {
  return kPairs[pattern_at(row + pattern_offset(g)) /
                static_cast<unsigned>(kDigitWeight[static_cast<std::size_t>(g % 4)]) % 6];
}

// For each pattern of 4 groups (16 columns):
//   gather: the columns of its 8 kept values, in value order: the byte
//           shuffle that picks them out of the 16 activations;
//   expand: the shuffle that moves the 8 values to their 16 columns, 0x80
//           (a zero) where no value goes.
struct PatternTables {
  alignas(64) std::array<std::array<std::uint8_t, 8>, kPatterns> gather{};
  alignas(64) std::array<std::array<std::uint8_t, 16>, kPatterns> expand{};
  PatternTables() {
    for (std::size_t p = 0; p < kPatterns; ++p) {
      expand[p].fill(0x80);
      for (std::size_t g = 0; g < 4; ++g) {
        const auto& pair = kPairs[p / static_cast<std::size_t>(kDigitWeight[g]) % 6];
        for (std::size_t v = 0; v < 2; ++v) {
          const auto column = static_cast<std::uint8_t>(4 * g + static_cast<std::size_t>(pair[v]));
          gather[p][2 * g + v] = column;
          expand[p][column] = static_cast<std::uint8_t>(2 * g + v);
        }
      }
    }
  }
};
const PatternTables kTables;

// The dot products of MB activation rows with one packed weight row. Rather
// than expanding the weights to 64 columns, each activation row's 32 values
// facing the kept weights are gathered, so the multiplies (the busiest
// port) run on 32 lanes, not 64.
// Adds columns [kk, k) of a packed row, group by group: what the vector
// loops leave (a partial last chunk) and everything without AVX2.
template <int MB>
void finish_sparse24(const std::int8_t* x, std::int64_t ldx, const std::uint8_t* row, std::int64_t k, std::int64_t kk,
                     std::int32_t (&out)[MB]) {
  const auto* values = reinterpret_cast<const std::int8_t*>(row);
  for (std::int64_t g = kk / 4; g < k / 4; ++g) {
    const auto& [c0, c1] = group_pair(row, g);
    const std::int64_t v = value_offset(g);
    for (int i = 0; i < MB; ++i) {
      const std::int8_t* xg = x + i * ldx + 4 * g;
      out[i] += static_cast<std::int32_t>(xg[c0]) * values[v] + static_cast<std::int32_t>(xg[c1]) * values[v + 1];
    }
  }
}

#if defined(__AVX512VBMI__) && defined(__AVX512VNNI__)
// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -Wmaybe-uninitialized takes for a read of an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same with AVX-512 VBMI and VNNI, two chunks (128 columns, 64 values) a
// turn: one gather of the 8 patterns' controls, one two-table byte permute
// (vpermi2b) per activation row picks the 64 activations out of 128, and
// vpdpbusd multiplies them. vpdpbusd takes unsigned activations, so they are
// offset by 128 (x ^ 0x80) and 128 * sum(w) is taken off at the end: exact.
// Returns the columns done (whole pairs of chunks); the caller does the rest.
template <int MB>
std::int64_t block_sparse24_avx512(const std::int8_t* x, std::int64_t ldx, const std::uint8_t* row, std::int64_t k,
                                   std::int32_t (&out)[MB]) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  // A control's 8 bytes index the 16 columns of its pattern; each 8-byte slot
  // (values of patterns 0, 2, 1, 3, then the same for the second chunk) is
  // moved to its pattern's columns in the 128.
  const __m512i offsets =
      _mm512_set_epi64(0x7070707070707070, 0x5050505050505050, 0x6060606060606060, 0x4040404040404040,
                       0x3030303030303030, 0x1010101010101010, 0x2020202020202020, 0);
  // The 8 patterns (words 0..3 of each chunk) in slot order: 0, 2, 1, 3, 4, 6, 5, 7.
  const __m128i slot_order = _mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15);
  __m512i acc[MB];
  for (auto& a : acc) a = _mm512_setzero_si512();
  __m512i weight_sum = _mm512_setzero_si512();  // 128 * sum(w), as the offset adds it
  std::int64_t kk = 0;
  for (const std::uint8_t* chunk = row; kk + 2 * kChunk <= k; kk += 2 * kChunk, chunk += 2 * kChunkBytes) {
    int8_dot::prefetch_stream_line(chunk);
    int8_dot::prefetch_stream_line(chunk + 64);
    const __m128i patterns =
        _mm_shuffle_epi8(_mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(chunk)),
                                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(chunk + kChunkBytes))),
                         slot_order);
    const __m512i control =
        _mm512_add_epi8(_mm512_i64gather_epi64(_mm512_cvtepu16_epi64(patterns), kTables.gather.data(), 8), offsets);
    const __m512i w =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk + 8))),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk + kChunkBytes + 8)), 1);
    weight_sum = _mm512_dpbusd_epi32(weight_sum, flip, w);
    for (int i = 0; i < MB; ++i) {
      const std::int8_t* xi = x + i * ldx + kk;
      const __m512i picked = _mm512_permutex2var_epi8(_mm512_loadu_si512(xi), control, _mm512_loadu_si512(xi + 64));
      acc[i] = _mm512_dpbusd_epi32(acc[i], _mm512_xor_si512(picked, flip), w);
    }
  }
  const std::int32_t offset = _mm512_reduce_add_epi32(weight_sum);
  for (int i = 0; i < MB; ++i) out[i] = _mm512_reduce_add_epi32(acc[i]) - offset;
  return kk;
}
#pragma GCC diagnostic pop
#endif

template <int MB>
void block_sparse24(const std::int8_t* x, std::int64_t ldx, const std::uint8_t* row, std::int64_t k,
                    std::int32_t (&out)[MB], bool avx512) {
  std::int64_t kk = 0;
#if defined(__AVX512VBMI__) && defined(__AVX512VNNI__)
  if (avx512) {
    kk = block_sparse24_avx512<MB>(x, ldx, row, k, out);
    finish_sparse24<MB>(x, ldx, row, k, kk, out);
    return;
  }
#else
  (void)avx512;
#endif
#if defined(__AVX2__)
  __m256i acc[MB];
  for (auto& a : acc) a = _mm256_setzero_si256();
  // One chunk into `sums`: the control first, then each row's gathered activations.
  const auto step = [&](const std::uint8_t* chunk, std::int64_t column, __m256i(&sums)[MB]) {
    // Two patterns' gathers in one 16-byte lane (a load into each half):
    // lane 0 gathers with patterns 0 (bytes 0..7) and 2 (8..15), lane 1 with 1 and 3.
    const auto gather_pair = [&](int low, int high) {
      const auto at = [&](int p) {
        return reinterpret_cast<const double*>(kTables.gather[pattern_at(chunk + 2 * p)].data());
      };
      return _mm_castpd_si128(_mm_loadh_pd(_mm_load_sd(at(low)), at(high)));
    };
    const __m256i control = _mm256_inserti128_si256(_mm256_castsi128_si256(gather_pair(0, 2)), gather_pair(1, 3), 1);
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk + 8));
    for (int i = 0; i < MB; ++i) {
      const std::int8_t* xi = x + i * ldx + column;
      // Columns 0..31 answer patterns 0 and 1 in the low 8 bytes of each lane,
      // columns 32..63 patterns 2 and 3 in the high 8.
      const __m256i first = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi)), control);
      const __m256i second =
          _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi + 32)), control);
      const __m256i xv = _mm256_blend_epi32(first, second, 0xcc);
      sums[i] = int8_dot::dot32(_mm256_sign_epi8(xv, xv), xv, w, sums[i]);
    }
  };
  // Two chunks a turn into two sums: the second's loads and shuffles overlap the first's multiplies.
  __m256i acc2[MB];
  for (auto& a : acc2) a = _mm256_setzero_si256();
  const std::uint8_t* chunk = row;
  for (; kk + 2 * kChunk <= k; kk += 2 * kChunk, chunk += 2 * kChunkBytes) {
    int8_dot::prefetch_ahead(chunk);
    int8_dot::prefetch_ahead(chunk + 64);
    step(chunk, kk, acc);
    step(chunk + kChunkBytes, kk + kChunk, acc2);
  }
  for (; kk + kChunk <= k; kk += kChunk, chunk += kChunkBytes) step(chunk, kk, acc);
  for (int i = 0; i < MB; ++i) acc[i] = _mm256_add_epi32(acc[i], acc2[i]);
  for (int i = 0; i < MB; ++i) out[i] = int8_dot::hsum(acc[i]);
#else
  for (int i = 0; i < MB; ++i) out[i] = 0;
#endif
  finish_sparse24<MB>(x, ldx, row, k, kk, out);
}

// Runs `emit(m, n, int32 dot)` for every output: weight rows spread over
// threads, one row stream at a time (as the dense decode kernel), the
// activation rows in register blocks of kRowBlock sharing each gather control.
template <typename Emit>
void for_each_dot(const std::int8_t* x, const std::uint8_t* w, std::int64_t m, std::int64_t k, std::int64_t n,
                  Sparse24Kernel kernel, const Emit& emit) {
  const bool avx512 = kernel == Sparse24Kernel::Best;
  const std::int64_t row_bytes = sparse24_row_bytes(k);
#pragma omp parallel for schedule(static) if (n > 1 && m * n * k > 32768)
  for (std::int64_t j = 0; j < n; ++j) {
    const std::uint8_t* row = w + j * row_bytes;
    for (std::int64_t m0 = 0; m0 < m; m0 += kRowBlock) {
      const auto emit_block = [&]<int MB>() {
        std::int32_t out[MB];
        block_sparse24<MB>(x + m0 * k, k, row, k, out, avx512);
        for (int i = 0; i < MB; ++i) emit(m0 + i, j, out[i]);
      };
      int8_dot::with_row_block(m - m0, emit_block);
    }
  }
}

}  // namespace

std::int64_t sparse24_row_bytes(std::int64_t k) { return chunks(k) * kChunkBytes; }

bool pack_sparse24(const std::int8_t* w, std::int64_t n, std::int64_t k, std::uint8_t* packed) {
  if (k % 4 != 0) return false;
  const std::int64_t row_bytes = sparse24_row_bytes(k);
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int8_t* src = w + j * k;
    std::uint8_t* row = packed + j * row_bytes;
    std::memset(row, 0, static_cast<std::size_t>(row_bytes));  // padding groups: zeros kept at (0, 1)
    for (std::int64_t g = 0; g < k / 4; ++g) {
      const std::int8_t* group = src + 4 * g;
      // The nonzero columns, then zero ones to make 2: the first such pair in kPairs' order.
      int digit = -1;
      for (int d = 0; d < 6 && digit < 0; ++d) {
        const auto& [c0, c1] = kPairs[static_cast<std::size_t>(d)];
        int outside = 0;
        for (int c = 0; c < 4; ++c) outside += c != c0 && c != c1 && group[c] != 0;
        if (outside == 0) digit = d;
      }
      if (digit < 0) return false;  // 3 or 4 nonzeros
      const auto& [c0, c1] = kPairs[static_cast<std::size_t>(digit)];
      const std::int64_t v = value_offset(g);
      row[v] = static_cast<std::uint8_t>(group[c0]);
      row[v + 1] = static_cast<std::uint8_t>(group[c1]);
      std::uint8_t* pattern = row + pattern_offset(g);
      const unsigned p =
          pattern_at(pattern) + static_cast<unsigned>(digit * kDigitWeight[static_cast<std::size_t>(g % 4)]);
      pattern[0] = static_cast<std::uint8_t>(p & 0xff);
      pattern[1] = static_cast<std::uint8_t>(p >> 8);
    }
  }
  return true;
}

void unpack_sparse24(const std::uint8_t* packed, std::int64_t k, std::int64_t n0, std::int64_t rows,
                     std::int8_t* dense) {
  const std::int64_t row_bytes = sparse24_row_bytes(k);
#pragma omp parallel for schedule(static) if (rows * k > 65536)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint8_t* row = packed + (n0 + r) * row_bytes;
    std::int8_t* out = dense + r * k;
    std::int64_t kk = 0;
#if defined(__AVX2__)
    for (const std::uint8_t* chunk = row; kk + kChunk <= k; kk += kChunk, chunk += kChunkBytes) {
      for (std::size_t p = 0; p < 4; ++p) {  // 16 columns from each pattern's 8 values
        const __m128i control =
            _mm_load_si128(reinterpret_cast<const __m128i*>(kTables.expand[pattern_at(chunk + 2 * p)].data()));
        const __m128i kept = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(chunk + 8 + 8 * kSlotOfPattern[p]));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + kk + 16 * static_cast<std::int64_t>(p)),
                         _mm_shuffle_epi8(kept, control));
      }
    }
#endif
    std::memset(out + kk, 0, static_cast<std::size_t>(k - kk));
    for (std::int64_t g = kk / 4; g < k / 4; ++g) {
      const auto& [c0, c1] = group_pair(row, g);
      const std::int64_t v = value_offset(g);
      out[4 * g + c0] = static_cast<std::int8_t>(row[v]);
      out[4 * g + c1] = static_cast<std::int8_t>(row[v + 1]);
    }
  }
}

bool sparse24_has_avx512() {
#if defined(__AVX512VBMI__) && defined(__AVX512VNNI__)
  return true;
#else
  return false;
#endif
}

void gemm_s8s8_s32_sparse24(const std::int8_t* x, const std::uint8_t* w, std::int32_t* acc, std::int64_t m,
                            std::int64_t k, std::int64_t n, Sparse24Kernel kernel) {
  for_each_dot(x, w, m, k, n, kernel, [&](std::int64_t i, std::int64_t j, std::int32_t v) { acc[i * n + j] = v; });
}

void gemm_s8s8_f32_sparse24(const std::int8_t* x, const float* x_scale, const std::uint8_t* w, const float* w_scale,
                            float* y, std::int64_t m, std::int64_t k, std::int64_t n, const float* bias) {
  for_each_dot(x, w, m, k, n, Sparse24Kernel::Best, [&](std::int64_t i, std::int64_t j, std::int32_t v) {
    y[i * n + j] = static_cast<float>(v) * (x_scale[i] * w_scale[j]) + (bias != nullptr ? bias[j] : 0.0f);
  });
}

}  // namespace octet::cpu
