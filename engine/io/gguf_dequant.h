// ggml's tensor types that octet reads, and their conversion to float32:
// the arithmetic of the gguf package's (and ggml's) dequantization, value for
// value. Block formats hold 32 values a block:
//   Q8_0: f16 scale d, 32 int8 q             x = q * d
//   Q4_0: f16 scale d, 16 bytes of nibbles   x = (q - 8) * d
//   Q4_1: f16 d, f16 minimum m, 16 bytes     x = q * d + m
// where value j < 16 of a block is the low nibble of byte j, value j + 16 its high nibble.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace octet {

// Numbers as in ggml.h.
enum class GgmlType : std::uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, BF16 = 30 };

// nullopt for a type octet does not read (K-quants, IQ types, ...).
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
