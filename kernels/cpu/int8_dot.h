// The AVX2 pieces the int8 kernels share (gemm_int8.cpp, gemm_int8_sparse24.cpp):
// the exact int8 dot product (vpdpbusd in 256 bits where the build has VNNI,
// which the panels kernels' 256-bit form uses too), its horizontal sum and
// the weight prefetch; the weight-streaming GEMVs' prefetch; and the 512-bit
// VNNI dot products the panels kernels and the attention's integer kernels
// accumulate with (scores_int8.cpp, values_int16.cpp).
#pragma once

#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace octet::cpu::int8_dot {

constexpr int kRowBlock = 4;  // activation rows in a register block

// Calls f.template operator()<R>() with R = min(rows, kRowBlock): a register
// block of activation rows, its size a template argument so the block's
// accumulators stay in registers.
template <typename F>
void with_row_block(std::int64_t rows, const F& f) {
  static_assert(kRowBlock == 4, "the cases below");
  switch (rows < kRowBlock ? rows : kRowBlock) {
    case 4:
      f.template operator()<4>();
      break;
    case 3:
      f.template operator()<3>();
      break;
    case 2:
      f.template operator()<2>();
      break;
    default:
      f.template operator()<1>();
      break;
  }
}

// How far ahead a single weight stream (decode) asks for its bytes: the
// hardware prefetcher alone left one row stream at 8-9 GB/s per core; with
// this, int8 GEMV of 4096 x 4096 went 1.0 -> 0.73 ms (1024: 0.84, 4096: 0.71).
constexpr std::uintptr_t kPrefetchBytes = 2048;

#if defined(__AVX2__)
#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
#define OCTET_VNNI_256 1
// acc[i] + the sum of the 4 products u8[4i + t] * s8[4i + t], in 256 bits:
// AVX-VNNI (Intel's client CPUs from Alder Lake, which have no AVX-512; the
// VEX form) or AVX-512 VNNI's VL form. Written as the instruction, for the
// reason dpbusd below gives (GCC 12 copied each accumulator of the 256-bit
// intrinsics through the stack inside the loop), with s8 in a register (as a
// memory operand GCC loaded it again for each use).
inline __m256i dpbusd256(__m256i acc, __m256i u8, __m256i s8) {
#if defined(__AVXVNNI__)
  asm("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u8), "x"(s8));
#else
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
#endif
  return acc;
}
// acc[i] + a[2i] * b[2i] + a[2i + 1] * b[2i + 1] (signed 16-bit words), in
// 256 bits, written as the instruction for the same reason.
inline __m256i dpwssd256(__m256i acc, __m256i a, __m256i b) {
#if defined(__AVXVNNI__)
  asm("%{vex%} vpdpwssd %2, %1, %0" : "+x"(acc) : "x"(a), "xm"(b));
#else
  asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "vm"(b));
#endif
  return acc;
}
#endif

// A row's 4 activations facing one group of a panel (gemv_int8_panels.h),
// broadcast to 8 lanes, and their products with 8 columns' 4 weights each
// (32 bytes) added into 8 int32 sums of x + 128 times w: the sums vpdpbusd
// makes of the shifted activations, offsets included, in either 256-bit
// form of the panels kernels. With VNNI, x + 128 (x ^ 0x80) and one
// vpdpbusd. Without, vpmaddubsw would saturate on x + 128 (up to 255 * 127 *
// 2 a pair), so the products are x * w (|x| by w with x's sign, as dot32
// below: every pair fits) and the sum starts from the column's offset
// (start_sums): the same int32s, so the epilogue that takes the offsets off
// is the VNNI form's.
struct Broadcast4 {
  Broadcast4() = default;
#if defined(OCTET_VNNI_256)
  __m256i u8;  // x + 128
  explicit Broadcast4(std::int32_t four) : u8(_mm256_set1_epi32(four ^ static_cast<std::int32_t>(0x80808080u))) {}
#else
  __m256i x, abs_x;
  explicit Broadcast4(std::int32_t four) : x(_mm256_set1_epi32(four)), abs_x(_mm256_sign_epi8(x, x)) {}
  // From x's four bytes and their magnitudes' (where the caller keeps |x| at hand).
  Broadcast4(std::int32_t four, std::int32_t abs_four)
      : x(_mm256_set1_epi32(four)), abs_x(_mm256_set1_epi32(abs_four)) {}
#endif
  __m256i times(__m256i acc, __m256i w) const {
#if defined(OCTET_VNNI_256)
    return dpbusd256(acc, u8, w);
#else
    const __m256i pairs = _mm256_maddubs_epi16(abs_x, _mm256_sign_epi8(w, x));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
  }
};

// Where a panel tile's sums of 8 columns start: zero with VNNI (x + 128 goes
// in), the columns' offsets without (x goes in: Broadcast4).
inline __m256i start_sums(const std::int32_t* offsets) {
#if defined(OCTET_VNNI_256)
  (void)offsets;
  return _mm256_setzero_si256();
#else
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offsets));
#endif
}

// 128 * the sum of each column's 4 weights in 32 bytes of a group, added to
// acc: the panels' column offsets. vpmaddubsw does not saturate here (128 *
// 127 * 2 < 2^15).
inline __m256i add_offsets4(__m256i acc, __m256i w) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
#if defined(OCTET_VNNI_256)
  return dpbusd256(acc, flip, w);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(flip, w), _mm256_set1_epi16(1)));
#endif
}

// acc += dot products of 32 int8 lanes, as 8 int32 partial sums. `abs_x` is
// |x| (computed once per activation load), the sign moves onto the weight:
// |x| * sign(w, x) = x * w, unsigned bytes by signed ones. With VNNI in 256
// bits one vpdpbusd adds the four products of each int32 lane; else
// vpmaddubsw (pairs into int16: with |x|, |w| <= 127 every pair sum fits, so
// nothing saturates) and vpmaddwd. Both exact: the same sums.
inline __m256i dot32(__m256i abs_x, __m256i x, __m256i w, __m256i acc) {
#if defined(OCTET_VNNI_256)
  return dpbusd256(acc, abs_x, _mm256_sign_epi8(w, x));
#else
  const __m256i pairs = _mm256_maddubs_epi16(abs_x, _mm256_sign_epi8(w, x));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

// Asks for the bytes kPrefetchBytes after `p`. Near the end of a row this
// reaches into the next one; past the matrix the prefetch is dropped (never a
// fault). Integer arithmetic, since a pointer may not point beyond its array.
inline void prefetch_ahead(const void* p) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(p) + kPrefetchBytes), _MM_HINT_T0);
}

// How far ahead the weight-streaming GEMVs (gemv_int8_panels.h in 512 and
// 256 bits, gemv_f32.h, the 2:4 product) ask for the line of their weight
// stream at `p`: into L1 1 KiB ahead and into L2 4 KiB ahead. Measured on a
// Sapphire Rapids host (2 threads, 24 int8 weights of 2048 x 5632 on huge
// pages, against a plain sum of the same bytes in the same run): the
// hardware prefetcher alone 80%, L1 only (1 to 4 KiB ahead) 82-86%, both
// 92-96%; NTA hints 0.6x. Dropped past the matrix, as above.
inline void prefetch_stream_line(const void* p) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  _mm_prefetch(reinterpret_cast<const char*>(at + 1024), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(at + 4096), _MM_HINT_T1);
}

inline std::int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// The sums of the 8 lanes of each of a0..a3, as the 4 lanes of the result.
inline __m128i hsum4(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
  const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}
#endif

#if defined(__AVX512VNNI__)
// acc += the VNNI dot products, written as the instructions themselves: for
// _mm512_dpbusd_epi32 and _mm512_dpwssd_epi32, GCC 12 copies each
// accumulator into a fresh register and back around every instruction (92
// register moves for 40 vpdpbusd in the int8 scores' kernel), which halved
// the int16 values' kernel's speed.
// acc[i] + the sum of the 4 products u8[4i + t] * s8[4i + t] (unsigned by signed bytes).
inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "vm"(s8));
  return acc;
}
// acc[i] + a[2i] * b[2i] + a[2i + 1] * b[2i + 1] (signed 16-bit words).
inline __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "vm"(b));
  return acc;
}
#endif

}  // namespace octet::cpu::int8_dot
