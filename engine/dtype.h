// Element types and the one place where they convert to and from float.
#pragma once

#include <array>
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
// Round to nearest even.
std::uint16_t f32_to_bf16(float value);
std::uint16_t f32_to_f16(float value);
// Round to nearest even, saturating to +-448 (what CUDA's __NV_SATFINITE
// conversion does: FP8 scaling never wants a NaN for a large value). NaN stays NaN.
std::uint8_t f32_to_f8e4m3(float value);

// Converts `count` elements of `dtype` at `src` to float. Integer types convert by value.
void convert_to_f32(DType dtype, const void* src, float* dst, std::size_t count);

}  // namespace octet
