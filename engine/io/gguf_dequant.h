// ggml's tensor types that octet reads, and their conversion to float32:
// the arithmetic of the gguf package's (and ggml's) dequantization, value for
// value. Block formats hold 32 values a block:
//   Q8_0: f16 scale d, 32 int8 q             x = q * d
//   Q4_0: f16 scale d, 16 bytes of nibbles   x = (q - 8) * d
//   Q4_1: f16 d, f16 minimum m, 16 bytes     x = q * d + m
//   Q5_0: f16 d, 32 high bits, 16 bytes      x = (q - 16) * d
//   Q5_1: f16 d, f16 m, 32 high bits, 16 bytes x = q * d + m
// where value j < 16 of a block is the low nibble of byte j, value j + 16 its
// high nibble (and bit j of the high bits the fifth bit of value j).
// K-quants hold 256 values a block ("super-block") in sub-blocks of 16 or 32
// values, each with its own 4- to 8-bit scale (and minimum) under the block's
// f16 d (and dmin): Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, the types of llama.cpp's
// Q2_K ... Q6_K and Q4_K_M-style files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace octet {

// Numbers as in ggml.h.
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30
};

// The names of the types octet reads, for error messages.
inline constexpr const char* kGgmlTypesRead = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K ... Q6_K";

// nullopt for a type octet does not read (IQ types, ternary types, ...).
std::optional<GgmlType> ggml_type_from_number(std::uint32_t number);
// ggml's name of a type number ("Q4_K"), or "type N" for one unknown to octet.
std::string ggml_type_name(std::uint32_t number);

struct GgmlBlock {
  std::int64_t values;  // per block
  std::size_t bytes;    // per block
};
GgmlBlock ggml_block(GgmlType type);

// n values (a multiple of the type's block) from `src` into `dst`.
void dequantize_ggml(GgmlType type, const unsigned char* src, std::int64_t n, float* dst);

}  // namespace octet
