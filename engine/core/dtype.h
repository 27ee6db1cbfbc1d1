// Element types and the one place where they convert to and from float.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace octet {

enum class DType { F32, F16, BF16, I8, U8, I32, F8E4M3, F8E5M2 };

std::size_t dtype_size(DType dtype);
// Names as safetensors writes them ("F32", "BF16", "F8_E4M3", ...).
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);

// Scalar conversions. The narrow float formats follow IEEE 754 (f16), the
// truncated-f32 layout (bf16) and the OCP FP8 spec (E4M3 without infinities,
// 0x7f/0xff are NaN; E5M2 with infinities).
float f16_to_f32(std::uint16_t bits);
float bf16_to_f32(std::uint16_t bits);
float f8e4m3_to_f32(std::uint8_t bits);
// f8e4m3_to_f32 of every byte, for decoding many values in a loop.
const std::array<float, 256>& f8e4m3_table();
float f8e5m2_to_f32(std::uint8_t bits);
// Round to nearest even; a NaN stays NaN. Inline and branch-free, so that a
// loop converting rows vectorizes (the bf16 attention's inputs).
inline std::uint16_t f32_to_bf16(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
  return static_cast<std::uint16_t>(nan ? (bits >> 16) | 0x40u : rounded);
}
std::uint16_t f32_to_f16(float value);

// |x| rounded to the nearest E4M3 magnitude, ties to even, saturating at 448
// (x not NaN). Bit arithmetic, both roundings (normal and subnormal) computed
// and one picked by a mask: with a branch on floats GCC vectorizes no loop
// (its default -ftrapping-math), and FP8 weight scales round every weight 32
// times (quantize_weight).
inline float e4m3_round_magnitude(float x) {
  constexpr std::uint32_t kMax = std::bit_cast<std::uint32_t>(448.0f);
  constexpr std::uint32_t kSmallestNormal = std::bit_cast<std::uint32_t>(0x1p-6f);
  const std::uint32_t bits = std::min(std::bit_cast<std::uint32_t>(x) & 0x7fffffffu, kMax);  // |x|, at most 448
  const std::uint32_t normal = (bits + 0x7ffffu + ((bits >> 20) & 1u)) & ~0xfffffu;          // 3 mantissa bits kept
  const float a = std::bit_cast<float>(bits);
  const std::uint32_t subnormal = std::bit_cast<std::uint32_t>((a + 0x1p14f) - 0x1p14f);  // to multiples of 2^-9
  const std::uint32_t is_subnormal = 0u - static_cast<std::uint32_t>(bits < kSmallestNormal);
  return std::bit_cast<float>((subnormal & is_subnormal) | (normal & ~is_subnormal));
}

// Round to nearest even, saturating to +-448 (what CUDA's __NV_SATFINITE
// conversion does: FP8 scaling never wants a NaN for a large value). NaN stays
// NaN. Inline and branch-free, like e4m3_round_magnitude, so that loops over it vectorize.
inline std::uint8_t f32_to_f8e4m3(float value) {
  constexpr std::uint32_t kSmallestNormal = std::bit_cast<std::uint32_t>(0x1p-6f);
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t r = std::bit_cast<std::uint32_t>(e4m3_round_magnitude(value));
  // Normal: E4M3's exponent field is float's minus 127 - 7. Subnormal: r is
  // k * 2^-9, k <= 8, and adding 2^23 to r * 512 puts k in the low mantissa bits.
  const std::uint32_t normal = (((r >> 23) - 120u) << 3) | ((r >> 20) & 7u);
  const std::uint32_t subnormal =
      std::bit_cast<std::uint32_t>(std::bit_cast<float>(r) * 512.0f + 0x1p23f) - std::bit_cast<std::uint32_t>(0x1p23f);
  const std::uint32_t is_subnormal = 0u - static_cast<std::uint32_t>(r < kSmallestNormal);
  const std::uint32_t is_nan = 0u - static_cast<std::uint32_t>((bits & 0x7fffffffu) > 0x7f800000u);
  const std::uint32_t code = ((bits >> 24) & 0x80u) | (subnormal & is_subnormal) | (normal & ~is_subnormal);
  return static_cast<std::uint8_t>((0x7fu & is_nan) | (code & ~is_nan));
}

// Converts `count` elements of `dtype` at `src` to float. Integer types convert by value.
void convert_to_f32(DType dtype, const void* src, float* dst, std::size_t count);

}  // namespace octet
