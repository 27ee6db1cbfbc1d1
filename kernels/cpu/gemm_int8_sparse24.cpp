#include "kernels/cpu/gemm_int8_sparse24.h"

#include "engine/core/error.h"
#include "kernels/cpu/int8_dot.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <span>
#include <vector>

namespace octet::cpu {

namespace {

// A chunk: 64 columns (16 groups), a mask and 32 values (see the header); a
// step: the chunks of a quad's 4 rows at the same columns, masks first.
constexpr std::int64_t kChunk = 64, kChunkBytes = 8 + 32, kQuad = 4, kStepBytes = kQuad * kChunkBytes;

std::int64_t chunks(std::int64_t k) { return (k + kChunk - 1) / kChunk; }
std::int64_t quads(std::int64_t n) { return (n + kQuad - 1) / kQuad; }
std::int64_t quad_bytes(std::int64_t k) { return chunks(k) * kStepBytes; }

// Row r's mask and values in the step at `step`.
inline std::uint64_t mask_at(const std::uint8_t* step, std::int64_t r) {
  std::uint64_t v;
  std::memcpy(&v, step + 8 * r, 8);
  return v;
}
constexpr std::int64_t values_offset(std::int64_t r) { return 8 * kQuad + 32 * r; }
inline const std::uint8_t* values_at(const std::uint8_t* step, std::int64_t r) { return step + values_offset(r); }

// Where row j's offsets live: after the last quad.
inline const std::int32_t* offsets_of(const std::uint8_t* packed, std::int64_t n, std::int64_t k) {
  return reinterpret_cast<const std::int32_t*>(packed + quads(n) * quad_bytes(k));
}

// A group's 4 mask bits, and the two kept columns they name (lowest first).
inline unsigned group_bits(std::uint64_t mask, std::int64_t g) {
  return static_cast<unsigned>(mask >> (4 * (g % 16))) & 0xfu;
}
inline int first_kept(unsigned bits) { return std::countr_zero(bits); }
inline int second_kept(unsigned bits) { return std::bit_width(bits) - 1; }

// Adds columns [kk, k) of row r of a quad, group by group: what the AVX2 loop
// leaves (a partial last chunk) and everything without AVX2.
template <int MB>
void finish_row(const std::int8_t* x, std::int64_t ldx, const std::uint8_t* quad, std::int64_t r, std::int64_t k,
                std::int64_t kk, std::int32_t (&out)[MB][kQuad]) {
  for (std::int64_t g = kk / 4; g < k / 4; ++g) {
    const std::uint8_t* step = quad + g / 16 * kStepBytes;
    const unsigned bits = group_bits(mask_at(step, r), g);
    const int c0 = first_kept(bits), c1 = second_kept(bits);
    const auto* values = reinterpret_cast<const std::int8_t*>(values_at(step, r) + 2 * (g % 16));
    for (int i = 0; i < MB; ++i) {
      const std::int8_t* xg = x + i * ldx + 4 * g;
      out[i][r] += static_cast<std::int32_t>(xg[c0]) * values[0] + static_cast<std::int32_t>(xg[c1]) * values[1];
    }
  }
}

#if defined(__AVX512VBMI2__) && defined(__AVX512VNNI__)
// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -W(maybe-)uninitialized takes for a read of an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// Row r's 64 columns of a step: its 32 values put in place by the mask, zeros
// between. (From memory: with a separate load of the values, the 1-row
// product streamed 1-2% slower and the 4-row one 8% slower.)
inline __m512i expand_chunk(const std::uint8_t* step, std::int64_t r) {
  return _mm512_maskz_expandloadu_epi8(_cvtu64_mask64(mask_at(step, r)), values_at(step, r));
}

// The 16 lanes of a, b, c, d summed: {sum a, sum b, sum c, sum d}.
inline __m128i sum_lanes(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  const __m512i abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
  const __m256i half = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64(abcd, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256(half, 1));
}

// The dot products of MB activation rows with a quad's 4 rows, step by step:
// each row's chunk expanded once, each load of 64 activations used for the 4
// rows. vpdpbusd takes unsigned activations, so `xu` is x offset by 128 (x ^
// 0x80, made once per call) and the rows' offsets (128 * sum(w)) are taken
// off: exact. A partial last chunk reads its activations under a mask (the
// weights there are zero). Streaming weights from memory on 2 Sapphire Rapids
// cores, against the one-row-at-a-time layout before it (same harness, same
// run): at 4 activation rows, where the kernel's work is the limit,
// 1.07-1.35x as fast (1.20-1.28x for the FFN shapes); at 1 row 7% faster for 2048 x 2048, 1-5% slower for 5632 x 2048
// and 2048 x 5632 (31-33 GB/s; the dense panels GEMV 33-35, a plain read of the same bytes 38-39).
template <int MB>
void quad_dots_avx512(const std::uint8_t* xu, std::int64_t ldx, const std::uint8_t* quad, const std::int32_t* offsets,
                      std::int64_t k, std::int32_t (&out)[MB][kQuad]) {
  __m512i acc[MB][kQuad];
  for (int i = 0; i < MB; ++i)
    for (int r = 0; r < kQuad; ++r) acc[i][r] = _mm512_setzero_si512();
  const auto add_step = [&](const std::uint8_t* step, std::int64_t column, __mmask64 columns) {
    __m512i w[kQuad];
    for (int r = 0; r < kQuad; ++r) w[r] = expand_chunk(step, r);
    for (int i = 0; i < MB; ++i) {
      const __m512i a = _mm512_maskz_loadu_epi8(columns, xu + i * ldx + column);
      for (int r = 0; r < kQuad; ++r) acc[i][r] = _mm512_dpbusd_epi32(acc[i][r], a, w[r]);
    }
  };
  const std::uint8_t* step = quad;
  std::int64_t kk = 0;
  for (; kk + 2 * kChunk <= k; kk += 2 * kChunk, step += 2 * kStepBytes) {
    for (int line = 0; line < 5; ++line) int8_dot::prefetch_stream_line(step + 64 * line);  // 2 steps: 5 lines
    add_step(step, kk, ~__mmask64{0});
    add_step(step + kStepBytes, kk + kChunk, ~__mmask64{0});
  }
  for (; kk + kChunk <= k; kk += kChunk, step += kStepBytes) add_step(step, kk, ~__mmask64{0});
  if (kk < k) add_step(step, kk, (__mmask64{1} << (k - kk)) - 1);
  const __m128i offset = _mm_loadu_si128(reinterpret_cast<const __m128i*>(offsets));
  for (int i = 0; i < MB; ++i) {
    const __m128i sums = _mm_sub_epi32(sum_lanes(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), offset);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[i]), sums);
  }
}
#pragma GCC diagnostic pop
#endif

#if defined(__AVX2__)
// A group's 4 mask bits -> its first and second kept column (for the 6 masks
// with 2 bits; the packer writes no other).
constexpr std::array<std::uint8_t, 16> kept_column_table(bool second) {
  std::array<std::uint8_t, 16> t{};
  for (unsigned bits = 1; bits < 16; ++bits) {
    t[bits] = static_cast<std::uint8_t>(second ? std::bit_width(bits) - 1 : std::countr_zero(bits));
  }
  return t;
}
alignas(16) constexpr std::array<std::uint8_t, 16> kFirstKept = kept_column_table(false);
alignas(16) constexpr std::array<std::uint8_t, 16> kSecondKept = kept_column_table(true);

// The byte shuffle controls that gather a chunk's 32 activations facing its
// values, from the mask. Value v (group v / 2) sits in column 4 * (g % 4) + its
// position of the 16-column lane its group is in: values 0..7 face columns
// 0..15, 8..15 columns 16..31, 16..23 columns 32..47, 24..31 columns 48..63.
// control0 applied to columns 0..31 puts values 0..7 in bytes 0..7 of lane 0
// and 8..15 in bytes 8..15 of lane 1; control1 applied to columns 32..63
// puts 16..23 in bytes 8..15 of lane 0 and 24..31 in bytes 0..7 of lane 1.
struct GatherControls {
  __m256i control0, control1;
};
inline GatherControls gather_controls(std::uint64_t mask) {
  const __m256i both = _mm256_set1_epi64x(static_cast<long long>(mask));  // the mask in both lanes
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bits =  // group g's 4 bits in byte g of each lane
      _mm256_unpacklo_epi8(_mm256_and_si256(both, low4), _mm256_and_si256(_mm256_srli_epi16(both, 4), low4));
  const __m256i lane_column = _mm256_set1_epi32(0x0c080400);
  const __m256i first = _mm256_add_epi8(
      _mm256_shuffle_epi8(
          _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kFirstKept.data()))), bits),
      lane_column);
  const __m256i second = _mm256_add_epi8(
      _mm256_shuffle_epi8(
          _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kSecondKept.data()))), bits),
      lane_column);
  return {_mm256_unpacklo_epi8(first, second), _mm256_shuffle_epi32(_mm256_unpackhi_epi8(first, second), 0x4e)};
}

// A chunk's 32 values in the order the gathered activations come in:
// 0..7, 16..23 | 24..31, 8..15.
inline __m256i values_in_gather_order(const std::uint8_t* values) {
  return _mm256_permute4x64_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(values)), 0x78);
}

// A quad's 4 rows against MB activation rows, one pass over its steps (so
// that the stream from memory overlaps the work). Returns the columns done;
// finish_row does the rest.
template <int MB>
std::int64_t quad_dots_avx2(const std::int8_t* x, std::int64_t ldx, const std::uint8_t* quad, std::int64_t k,
                            std::int32_t (&out)[MB][kQuad]) {
  __m256i acc[MB][kQuad];
  for (int i = 0; i < MB; ++i)
    for (int r = 0; r < kQuad; ++r) acc[i][r] = _mm256_setzero_si256();
  std::int64_t kk = 0;
  const std::uint8_t* step = quad;
  for (; kk + kChunk <= k; kk += kChunk, step += kStepBytes) {
    for (int line = 0; line < 3; ++line) int8_dot::prefetch_ahead(step + 64 * line);  // 160 bytes: 2.5 lines
    for (int r = 0; r < kQuad; ++r) {
      const GatherControls controls = gather_controls(mask_at(step, r));
      const __m256i w = values_in_gather_order(values_at(step, r));
      for (int i = 0; i < MB; ++i) {
        const std::int8_t* xi = x + i * ldx + kk;
        const __m256i low =
            _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi)), controls.control0);
        const __m256i high =
            _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi + 32)), controls.control1);
        const __m256i xv = _mm256_blend_epi32(low, high, 0x3c);
        acc[i][r] = int8_dot::dot32(_mm256_sign_epi8(xv, xv), xv, w, acc[i][r]);
      }
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int r = 0; r < kQuad; ++r) out[i][r] = int8_dot::hsum(acc[i][r]);
  return kk;
}
#endif

// The dot products of MB activation rows with a quad's 4 rows into out.
// `xu`: x ^ 0x80 where the AVX-512 product runs, else null.
template <int MB>
void quad_dots(const std::int8_t* x, const std::uint8_t* xu, std::int64_t ldx, const std::uint8_t* quad,
               const std::int32_t* offsets, std::int64_t k, std::int32_t (&out)[MB][kQuad]) {
#if defined(__AVX512VBMI2__) && defined(__AVX512VNNI__)
  if (xu != nullptr) {
    quad_dots_avx512<MB>(xu, ldx, quad, offsets, k, out);
    return;
  }
#else
  (void)xu;
  (void)offsets;
#endif
  std::int64_t kk = 0;
#if defined(__AVX2__)
  kk = quad_dots_avx2<MB>(x, ldx, quad, k, out);
#else
  for (int i = 0; i < MB; ++i)
    for (int r = 0; r < kQuad; ++r) out[i][r] = 0;
#endif
  for (std::int64_t r = 0; r < kQuad; ++r) finish_row<MB>(x, ldx, quad, r, k, kk, out);
}

// A packed weight and its row count, as for_each_dot reads it.
struct PackedWeight {
  const std::uint8_t* w;
  std::int64_t n;
};

// Runs `emit(p, m, n, int32 dot)` for every output of x times each packed
// weight p (all of k columns): the quads of every weight spread over threads
// in one loop (each thread streams its contiguous share), the activation rows
// in register blocks of kRowBlock sharing each expanded step (a quad's rows,
// 14 KiB at k = 5632, are read again from L1 for the blocks after the first).
// At most kMaxInt8Products weights.
template <typename Emit>
void for_each_dot(const std::int8_t* x, std::span<const PackedWeight> weights, std::int64_t m, std::int64_t k,
                  Sparse24Kernel kernel, const Emit& emit) {
  // first[p]: weight p's first quad in the loop over every weight's quads.
  std::array<std::int64_t, kMaxInt8Products + 1> first{};
  std::int64_t outputs = 0;
  for (std::size_t p = 0; p < weights.size(); ++p) {
    first[p + 1] = first[p] + quads(weights[p].n);
    outputs += weights[p].n;
  }
  // Per thread and kept between calls: a decode step makes ~100 of them.
  // Aligned to 64 bytes, so that each load of 64 activations is one line.
  thread_local std::vector<std::uint8_t> flipped;
  const std::uint8_t* xu = nullptr;
  if (kernel == Sparse24Kernel::Best && sparse24_has_avx512()) {
    const auto size = static_cast<std::size_t>(m * k);
    if (flipped.size() < size + 64) flipped.resize(size + 64);
    const auto misalignment = reinterpret_cast<std::uintptr_t>(flipped.data()) % 64;
    std::uint8_t* aligned = flipped.data() + (misalignment == 0 ? 0 : 64 - misalignment);
    for (std::size_t i = 0; i < size; ++i) aligned[i] = static_cast<std::uint8_t>(x[i]) ^ 0x80u;
    xu = aligned;
  }
  const std::int64_t stride = quad_bytes(k), all = first[weights.size()];
#pragma omp parallel for schedule(static) if (all > 1 && m * outputs * k > 32768)
  for (std::int64_t q = 0; q < all; ++q) {
    std::size_t p = 0;
    while (q >= first[p + 1]) ++p;
    const auto [w, n] = weights[p];
    const std::uint8_t* quad = w + (q - first[p]) * stride;
    const std::int64_t j0 = kQuad * (q - first[p]), rows = std::min(kQuad, n - j0);
    const std::int32_t* offsets = offsets_of(w, n, k) + j0;
    for (std::int64_t m0 = 0; m0 < m; m0 += int8_dot::kRowBlock) {
      int8_dot::with_row_block(m - m0, [&]<int MB>() {
        std::int32_t out[MB][kQuad];
        quad_dots<MB>(x + m0 * k, xu != nullptr ? xu + m0 * k : nullptr, k, quad, offsets, k, out);
        for (int i = 0; i < MB; ++i)
          for (std::int64_t r = 0; r < rows; ++r) emit(p, m0 + i, j0 + r, out[i][r]);
      });
    }
  }
}

#if defined(__AVX2__)
// 8 mask bits -> the byte shuffle that moves the 8 columns' values (counted
// from the byte's first) into place, 0x80 (a zero) where none goes.
struct ExpandTable {
  alignas(64) std::array<std::uint64_t, 256> control{};
  ExpandTable() {
    for (unsigned bits = 0; bits < 256; ++bits) {
      std::uint64_t c = 0;
      unsigned next = 0;
      for (unsigned column = 0; column < 8; ++column) {
        const std::uint64_t byte = (bits >> column & 1u) != 0 ? next++ : 0x80u;
        c |= byte << (8 * column);
      }
      control[bits] = c;
    }
  }
};
const ExpandTable kExpand;
#endif

// Columns [0, k) of row r of a quad into `out`.
void unpack_row(const std::uint8_t* quad, std::int64_t r, std::int64_t k, std::int8_t* out, bool avx512) {
  std::int64_t kk = 0;
  const std::uint8_t* step = quad;
#if defined(__AVX512VBMI2__) && defined(__AVX512VNNI__)
  if (avx512) {
    for (; kk + kChunk <= k; kk += kChunk, step += kStepBytes) _mm512_storeu_si512(out + kk, expand_chunk(step, r));
  }
#else
  (void)avx512;
#endif
#if defined(__AVX2__)
  for (; kk + kChunk <= k; kk += kChunk, step += kStepBytes) {
    const std::uint64_t mask = mask_at(step, r);
    const std::uint8_t* values = values_at(step, r);
    for (std::int64_t q = 0; q < 4; ++q) {  // 16 columns (2 mask bytes, 8 values) a turn
      // Each mask byte holds 4 groups' 8 bits, so 4 values: the second byte's start at value 4.
      const auto low = static_cast<std::uint8_t>(mask >> (16 * q)),
                 high = static_cast<std::uint8_t>(mask >> (16 * q + 8));
      const __m128i control = _mm_set_epi64x(static_cast<long long>(kExpand.control[high] + 0x0404040404040404u),
                                             static_cast<long long>(kExpand.control[low]));
      const __m128i kept = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(values + 8 * q));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + kk + 16 * q), _mm_shuffle_epi8(kept, control));
    }
  }
#endif
  std::memset(out + kk, 0, static_cast<std::size_t>(k - kk));
  for (std::int64_t g = kk / 4; g < k / 4; ++g) {
    const std::uint8_t* at = quad + g / 16 * kStepBytes;
    const unsigned bits = group_bits(mask_at(at, r), g);
    const std::uint8_t* values = values_at(at, r) + 2 * (g % 16);
    out[4 * g + first_kept(bits)] = static_cast<std::int8_t>(values[0]);
    out[4 * g + second_kept(bits)] = static_cast<std::int8_t>(values[1]);
  }
}

}  // namespace

std::int64_t sparse24_row_bytes(std::int64_t k) { return chunks(k) * kChunkBytes; }

std::int64_t sparse24_packed_bytes(std::int64_t n, std::int64_t k) {
  return quads(n) * (quad_bytes(k) + kQuad * static_cast<std::int64_t>(sizeof(std::int32_t)));
}

bool pack_sparse24(const std::int8_t* w, std::int64_t n, std::int64_t k, std::uint8_t* packed) {
  if (k % 4 != 0 || k > kSparse24MaxK) return false;
  std::memset(packed, 0, static_cast<std::size_t>(sparse24_packed_bytes(n, k)));
  auto* offsets = reinterpret_cast<std::int32_t*>(packed + quads(n) * quad_bytes(k));
  for (std::int64_t j = 0; j < kQuad * quads(n); ++j) {  // rows past n are padding: zeros
    const std::int8_t* src = j < n ? w + j * k : nullptr;
    std::uint8_t* quad = packed + j / kQuad * quad_bytes(k);
    const std::int64_t r = j % kQuad;
    std::int32_t sum = 0;
    for (std::int64_t c = 0; c < chunks(k); ++c) {
      std::uint8_t* step = quad + c * kStepBytes;
      std::uint8_t* values = step + values_offset(r);
      std::uint64_t mask = 0;
      for (std::int64_t group = 0; group < 16; ++group) {
        const std::int64_t g = 16 * c + group;
        const bool real = src != nullptr && g < k / 4;
        unsigned bits = 0;
        if (real) {
          for (unsigned column = 0; column < 4; ++column) bits |= (src[4 * g + column] != 0 ? 1u : 0u) << column;
          if (std::popcount(bits) > 2) return false;
        }
        // Zeros kept to make 2: the lowest columns not yet kept (padding groups keep 0 and 1).
        for (unsigned column = 0; std::popcount(bits) < 2; ++column) bits |= 1u << column;
        mask |= std::uint64_t{bits} << (4 * group);
        if (real) {
          const std::int8_t v0 = src[4 * g + first_kept(bits)], v1 = src[4 * g + second_kept(bits)];
          values[2 * group] = static_cast<std::uint8_t>(v0);
          values[2 * group + 1] = static_cast<std::uint8_t>(v1);
          sum += v0 + v1;
        }
      }
      std::memcpy(step + 8 * r, &mask, 8);
    }
    offsets[j] = 128 * sum;
  }
  return true;
}

void unpack_sparse24(const std::uint8_t* packed, std::int64_t k, std::int64_t n0, std::int64_t rows, std::int8_t* dense,
                     Sparse24Kernel kernel) {
  const bool avx512 = kernel == Sparse24Kernel::Best;
  const std::int64_t stride = quad_bytes(k);
#pragma omp parallel for schedule(static) if (rows * k > 65536)
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t j = n0 + i;
    unpack_row(packed + j / kQuad * stride, j % kQuad, k, dense + i * k, avx512);
  }
}

bool sparse24_has_avx512() {
#if defined(__AVX512VBMI2__) && defined(__AVX512VNNI__)
  return true;
#else
  return false;
#endif
}

void gemm_s8s8_s32_sparse24(const std::int8_t* x, const std::uint8_t* w, std::int32_t* acc, std::int64_t m,
                            std::int64_t k, std::int64_t n, Sparse24Kernel kernel) {
  const PackedWeight weight{w, n};
  for_each_dot(x, std::span(&weight, 1), m, k, kernel,
               [&](std::size_t, std::int64_t i, std::int64_t j, std::int32_t v) { acc[i * n + j] = v; });
}

void gemm_s8s8_f32_sparse24(const std::int8_t* x, const float* x_scale, std::span<const Int8Product> products,
                            std::int64_t m, std::int64_t k) {
  if (products.size() > kMaxInt8Products)
    fail("gemm_s8s8_f32_sparse24: {} products, at most {}", products.size(), kMaxInt8Products);
  std::array<PackedWeight, kMaxInt8Products> weights{};
  for (std::size_t p = 0; p < products.size(); ++p) {
    weights[p] = {reinterpret_cast<const std::uint8_t*>(products[p].w), products[p].n};
  }
  for_each_dot(x, std::span(weights).first(products.size()), m, k, Sparse24Kernel::Best,
               [&](std::size_t p, std::int64_t i, std::int64_t j, std::int32_t v) {
                 const Int8Product& product = products[p];
                 const float scale = x_scale[i] * product.w_scale[j];
                 product.y[i * product.n + j] =
                     product.bias != nullptr ? scaled_sum(v, scale, product.bias[j]) : static_cast<float>(v) * scale;
               });
}

void gemm_s8s8_f32_sparse24(const std::int8_t* x, const float* x_scale, const std::uint8_t* w, const float* w_scale,
                            float* y, std::int64_t m, std::int64_t k, std::int64_t n, const float* bias) {
  const Int8Product product{reinterpret_cast<const std::int8_t*>(w), w_scale, y, n, bias};
  gemm_s8s8_f32_sparse24(x, x_scale, std::span(&product, 1), m, k);
}

}  // namespace octet::cpu
