#include "kernels/cpu/gemm_int8_sparse24.h"

#include "kernels/cpu/int8_dot.h"

#include <array>
#include <bit>
#include <cstring>
#include <vector>

namespace octet::cpu {

namespace {

// A chunk: 64 columns (16 groups) as kChunkBytes bytes, the mask then the
// 32 values (see the header).
constexpr std::int64_t kChunk = 64, kChunkBytes = 8 + 32;

std::int64_t chunks(std::int64_t k) { return (k + kChunk - 1) / kChunk; }

// The mask of the chunk at `p` (little-endian, maybe unaligned).
inline std::uint64_t mask_at(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// A group's 4 mask bits, and the two kept columns they name (lowest first).
inline unsigned group_bits(const std::uint8_t* chunk, std::int64_t g) {
  return static_cast<unsigned>(mask_at(chunk) >> (4 * (g % 16))) & 0xfu;
}
inline int first_kept(unsigned bits) { return std::countr_zero(bits); }
inline int second_kept(unsigned bits) { return std::bit_width(bits) - 1; }

// Adds columns [kk, k) of a packed row, group by group: what the vector
// loops leave (a partial last chunk) and everything without AVX2.
template <int MB>
void finish_sparse24(const std::int8_t* x, std::int64_t ldx, const std::uint8_t* row, std::int64_t k, std::int64_t kk,
                     std::int32_t (&out)[MB]) {
  for (std::int64_t g = kk / 4; g < k / 4; ++g) {
    const std::uint8_t* chunk = row + g / 16 * kChunkBytes;
    const unsigned bits = group_bits(chunk, g);
    const int c0 = first_kept(bits), c1 = second_kept(bits);
    const auto* values = reinterpret_cast<const std::int8_t*>(chunk + 8 + 2 * (g % 16));
    for (int i = 0; i < MB; ++i) {
      const std::int8_t* xg = x + i * ldx + 4 * g;
      out[i] += static_cast<std::int32_t>(xg[c0]) * values[0] + static_cast<std::int32_t>(xg[c1]) * values[1];
    }
  }
}

#if defined(__AVX512VBMI2__) && defined(__AVX512VNNI__)
// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -Wmaybe-uninitialized takes for a read of an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// A chunk's 64 columns: its 32 values put in place by the mask, zeros between.
inline __m512i expand_chunk(const std::uint8_t* chunk) {
  return _mm512_maskz_expandloadu_epi8(mask_at(chunk), chunk + 8);
}

// The dot products of MB activation rows with one packed row, two chunks a
// turn (two accumulators each, so that vpdpbusd's latency overlaps), one
// chunk more if k leaves one. vpdpbusd takes unsigned activations, so `xu` is
// x offset by 128 (x ^ 0x80, made once per call: 1.27x in cache at 4 rows
// against flipping each load) and 128 * sum(w) is taken off at the end: exact.
// Streaming a 2048 x 5632 weight from memory on 2 Sapphire Rapids cores this
// reads 32.6 GB/s against 27.5 for a gather of the activations instead (the
// format before this one). Returns the columns done; the caller does the rest.
template <int MB>
std::int64_t block_sparse24_avx512(const std::uint8_t* xu, std::int64_t ldx, const std::uint8_t* row, std::int64_t k,
                                   std::int32_t (&out)[MB]) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i acc0[MB], acc1[MB];
  for (int i = 0; i < MB; ++i) acc0[i] = acc1[i] = _mm512_setzero_si512();
  __m512i weight_sum0 = _mm512_setzero_si512(), weight_sum1 = weight_sum0;  // 128 * sum(w), as the offset adds it
  const auto activations = [&](int i, std::int64_t column) { return _mm512_loadu_si512(xu + i * ldx + column); };
  std::int64_t kk = 0;
  const std::uint8_t* chunk = row;
  for (; kk + 2 * kChunk <= k; kk += 2 * kChunk, chunk += 2 * kChunkBytes) {
    int8_dot::prefetch_stream_line(chunk);
    int8_dot::prefetch_stream_line(chunk + 64);
    const __m512i w0 = expand_chunk(chunk), w1 = expand_chunk(chunk + kChunkBytes);
    weight_sum0 = _mm512_dpbusd_epi32(weight_sum0, flip, w0);
    weight_sum1 = _mm512_dpbusd_epi32(weight_sum1, flip, w1);
    for (int i = 0; i < MB; ++i) {
      acc0[i] = _mm512_dpbusd_epi32(acc0[i], activations(i, kk), w0);
      acc1[i] = _mm512_dpbusd_epi32(acc1[i], activations(i, kk + kChunk), w1);
    }
  }
  if (kk + kChunk <= k) {
    const __m512i w = expand_chunk(chunk);
    weight_sum0 = _mm512_dpbusd_epi32(weight_sum0, flip, w);
    for (int i = 0; i < MB; ++i) acc0[i] = _mm512_dpbusd_epi32(acc0[i], activations(i, kk), w);
    kk += kChunk;
  }
  const std::int32_t offset = _mm512_reduce_add_epi32(_mm512_add_epi32(weight_sum0, weight_sum1));
  for (int i = 0; i < MB; ++i) out[i] = _mm512_reduce_add_epi32(_mm512_add_epi32(acc0[i], acc1[i])) - offset;
  return kk;
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
inline GatherControls gather_controls(const std::uint8_t* chunk) {
  std::uint64_t mask;
  std::memcpy(&mask, chunk, 8);
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
inline __m256i values_in_gather_order(const std::uint8_t* chunk) {
  return _mm256_permute4x64_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk + 8)), 0x78);
}
#endif

// `xu`: x ^ 0x80 where the AVX-512 product runs, else null.
template <int MB>
void block_sparse24(const std::int8_t* x, const std::uint8_t* xu, std::int64_t ldx, const std::uint8_t* row,
                    std::int64_t k, std::int32_t (&out)[MB]) {
  std::int64_t kk = 0;
#if defined(__AVX512VBMI2__) && defined(__AVX512VNNI__)
  if (xu != nullptr) {
    kk = block_sparse24_avx512<MB>(xu, ldx, row, k, out);
    finish_sparse24<MB>(x, ldx, row, k, kk, out);
    return;
  }
#else
  (void)xu;
#endif
#if defined(__AVX2__)
  // One chunk into `sums`: the controls first, then each row's gathered activations.
  const auto step = [&](const std::uint8_t* chunk, std::int64_t column, __m256i(&sums)[MB]) {
    const GatherControls controls = gather_controls(chunk);
    const __m256i w = values_in_gather_order(chunk);
    for (int i = 0; i < MB; ++i) {
      const std::int8_t* xi = x + i * ldx + column;
      const __m256i low =
          _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi)), controls.control0);
      const __m256i high =
          _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi + 32)), controls.control1);
      const __m256i xv = _mm256_blend_epi32(low, high, 0x3c);
      sums[i] = int8_dot::dot32(_mm256_sign_epi8(xv, xv), xv, w, sums[i]);
    }
  };
  // Two chunks a turn into two sums: the second's loads and shuffles overlap the first's multiplies.
  __m256i acc[MB], acc2[MB];
  for (int i = 0; i < MB; ++i) acc[i] = acc2[i] = _mm256_setzero_si256();
  const std::uint8_t* chunk = row;
  for (; kk + 2 * kChunk <= k; kk += 2 * kChunk, chunk += 2 * kChunkBytes) {
    int8_dot::prefetch_ahead(chunk);
    int8_dot::prefetch_ahead(chunk + 64);
    step(chunk, kk, acc);
    step(chunk + kChunkBytes, kk + kChunk, acc2);
  }
  for (; kk + kChunk <= k; kk += kChunk, chunk += kChunkBytes) step(chunk, kk, acc);
  for (int i = 0; i < MB; ++i) out[i] = int8_dot::hsum(_mm256_add_epi32(acc[i], acc2[i]));
#else
  for (int i = 0; i < MB; ++i) out[i] = 0;
#endif
  finish_sparse24<MB>(x, ldx, row, k, kk, out);
}

// Runs `emit(m, n, int32 dot)` for every output: weight rows spread over
// threads, one row stream at a time (as the dense decode kernel), the
// activation rows in register blocks of kRowBlock sharing each expanded chunk.
template <typename Emit>
void for_each_dot(const std::int8_t* x, const std::uint8_t* w, std::int64_t m, std::int64_t k, std::int64_t n,
                  Sparse24Kernel kernel, const Emit& emit) {
  // Per thread and kept between calls: a decode step makes ~150 of them.
  thread_local std::vector<std::uint8_t> flipped;
  const std::uint8_t* xu = nullptr;
  if (kernel == Sparse24Kernel::Best && sparse24_has_avx512()) {
    const auto size = static_cast<std::size_t>(m * k);
    if (flipped.size() < size) flipped.resize(size);
    for (std::size_t i = 0; i < size; ++i) flipped[i] = static_cast<std::uint8_t>(x[i]) ^ 0x80u;
    xu = flipped.data();
  }
  const std::int64_t row_bytes = sparse24_row_bytes(k);
#pragma omp parallel for schedule(static) if (n > 1 && m * n * k > 32768)
  for (std::int64_t j = 0; j < n; ++j) {
    const std::uint8_t* row = w + j * row_bytes;
    for (std::int64_t m0 = 0; m0 < m; m0 += int8_dot::kRowBlock) {
      const auto emit_block = [&]<int MB>() {
        std::int32_t out[MB];
        block_sparse24<MB>(x + m0 * k, xu != nullptr ? xu + m0 * k : nullptr, k, row, k, out);
        for (int i = 0; i < MB; ++i) emit(m0 + i, j, out[i]);
      };
      int8_dot::with_row_block(m - m0, emit_block);
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

// Columns [0, k) of one packed row into `out`.
void unpack_row(const std::uint8_t* row, std::int64_t k, std::int8_t* out, bool avx512) {
  std::int64_t kk = 0;
#if defined(__AVX512VBMI2__) && defined(__AVX512VNNI__)
  if (avx512) {
    for (const std::uint8_t* chunk = row; kk + kChunk <= k; kk += kChunk, chunk += kChunkBytes) {
      _mm512_storeu_si512(out + kk, expand_chunk(chunk));
    }
  }
#else
  (void)avx512;
#endif
#if defined(__AVX2__)
  for (const std::uint8_t* chunk = row + kk / kChunk * kChunkBytes; kk + kChunk <= k;
       kk += kChunk, chunk += kChunkBytes) {
    for (std::int64_t q = 0; q < 4; ++q) {  // 16 columns (2 mask bytes, 8 values) a turn
      // Each mask byte holds 4 groups' 8 bits, so 4 values: the second byte's start at value 4.
      const __m128i control =
          _mm_set_epi64x(static_cast<long long>(kExpand.control[chunk[2 * q + 1]] + 0x0404040404040404u),
                         static_cast<long long>(kExpand.control[chunk[2 * q]]));
      const __m128i kept = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(chunk + 8 + 8 * q));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + kk + 16 * q), _mm_shuffle_epi8(kept, control));
    }
  }
#endif
  std::memset(out + kk, 0, static_cast<std::size_t>(k - kk));
  for (std::int64_t g = kk / 4; g < k / 4; ++g) {
    const std::uint8_t* chunk = row + g / 16 * kChunkBytes;
    const unsigned bits = group_bits(chunk, g);
    const std::uint8_t* values = chunk + 8 + 2 * (g % 16);
    out[4 * g + first_kept(bits)] = static_cast<std::int8_t>(values[0]);
    out[4 * g + second_kept(bits)] = static_cast<std::int8_t>(values[1]);
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
    std::memset(row, 0, static_cast<std::size_t>(row_bytes));
    for (std::int64_t c = 0; c < chunks(k); ++c) {
      std::uint8_t* chunk = row + c * kChunkBytes;
      std::uint64_t mask = 0;
      for (std::int64_t group = 0; group < 16; ++group) {
        const std::int64_t g = 16 * c + group;
        unsigned bits = 0;
        if (g < k / 4) {
          for (unsigned column = 0; column < 4; ++column) bits |= (src[4 * g + column] != 0 ? 1u : 0u) << column;
          if (std::popcount(bits) > 2) return false;
        }
        // Zeros kept to make 2: the lowest columns not yet kept (padding groups keep 0 and 1).
        for (unsigned column = 0; std::popcount(bits) < 2; ++column) bits |= 1u << column;
        mask |= std::uint64_t{bits} << (4 * group);
        if (g < k / 4) {
          chunk[8 + 2 * group] = static_cast<std::uint8_t>(src[4 * g + first_kept(bits)]);
          chunk[8 + 2 * group + 1] = static_cast<std::uint8_t>(src[4 * g + second_kept(bits)]);
        }
      }
      std::memcpy(chunk, &mask, 8);
    }
  }
  return true;
}

void unpack_sparse24(const std::uint8_t* packed, std::int64_t k, std::int64_t n0, std::int64_t rows, std::int8_t* dense,
                     Sparse24Kernel kernel) {
  const std::int64_t row_bytes = sparse24_row_bytes(k);
  const bool avx512 = kernel == Sparse24Kernel::Best;
#pragma omp parallel for schedule(static) if (rows * k > 65536)
  for (std::int64_t r = 0; r < rows; ++r) unpack_row(packed + (n0 + r) * row_bytes, k, dense + r * k, avx512);
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
  for_each_dot(x, w, m, k, n, kernel, [&](std::int64_t i, std::int64_t j, std::int32_t v) { acc[i * n + j] = v; });
}

void gemm_s8s8_f32_sparse24(const std::int8_t* x, const float* x_scale, const std::uint8_t* w, const float* w_scale,
                            float* y, std::int64_t m, std::int64_t k, std::int64_t n, const float* bias) {
  for_each_dot(x, w, m, k, n, Sparse24Kernel::Best, [&](std::int64_t i, std::int64_t j, std::int32_t v) {
    y[i * n + j] = static_cast<float>(v) * (x_scale[i] * w_scale[j]) + (bias != nullptr ? bias[j] : 0.0f);
  });
}

}  // namespace octet::cpu
