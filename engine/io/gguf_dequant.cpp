#include "engine/io/gguf_dequant.h"

#include "engine/core/dtype.h"

#include <cstring>
#include <string>

namespace octet {

namespace {

std::uint16_t load_u16(const unsigned char* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

constexpr std::int64_t kBlockValues = 32;

}  // namespace

std::optional<GgmlType> ggml_type_from_number(std::uint32_t number) {
  switch (number) {
    case 0:
      return GgmlType::F32;
    case 1:
      return GgmlType::F16;
    case 2:
      return GgmlType::Q4_0;
    case 3:
      return GgmlType::Q4_1;
    case 8:
      return GgmlType::Q8_0;
    case 30:
      return GgmlType::BF16;
    default:
      return std::nullopt;
  }
}

std::string ggml_type_name(std::uint32_t number) {
  // ggml.h's names, so that an error about a type octet does not read names it as llama.cpp does.
  static constexpr const char* kNames[] = {
      "F32",     "F16",   "Q4_0",   "Q4_1",  "Q4_2",     "Q4_3",     "Q5_0",     "Q5_1",    "Q8_0",
      "Q8_1",    "Q2_K",  "Q3_K",   "Q4_K",  "Q5_K",     "Q6_K",     "Q8_K",     "IQ2_XXS", "IQ2_XS",
      "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S",    "IQ4_XS",   "I8",       "I16",     "I32",
      "I64",     "F64",   "IQ1_M",  "BF16",  "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",   "TQ2_0"};
  if (number < std::size(kNames)) return kNames[number];
  return "type " + std::to_string(number);
}

GgmlBlock ggml_block(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return {1, 4};
    case GgmlType::F16:
    case GgmlType::BF16:
      return {1, 2};
    case GgmlType::Q4_0:
      return {kBlockValues, 2 + kBlockValues / 2};
    case GgmlType::Q4_1:
      return {kBlockValues, 4 + kBlockValues / 2};
    case GgmlType::Q8_0:
      return {kBlockValues, 2 + kBlockValues};
  }
  return {1, 1};
}

// Built with -ffp-contract=off (engine/CMakeLists.txt): Q4_1's q * d + m is
// two roundings in the gguf package, and must not become one fused multiply-add.
void dequantize_ggml(GgmlType type, const unsigned char* src, std::int64_t n, float* dst) {
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
      return;
    case GgmlType::F16:
      for (std::int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(src + 2 * i));
      return;
    case GgmlType::BF16:
      for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src + 2 * i));
      return;
    case GgmlType::Q8_0:
      for (std::int64_t b = 0; b < n / kBlockValues; ++b, src += 34, dst += kBlockValues) {
        const float d = f16_to_f32(load_u16(src));
        const auto* q = reinterpret_cast<const std::int8_t*>(src + 2);
        for (int j = 0; j < kBlockValues; ++j) dst[j] = static_cast<float>(q[j]) * d;
      }
      return;
    case GgmlType::Q4_0:
      for (std::int64_t b = 0; b < n / kBlockValues; ++b, src += 18, dst += kBlockValues) {
        const float d = f16_to_f32(load_u16(src));
        const unsigned char* q = src + 2;
        for (int j = 0; j < kBlockValues / 2; ++j) {
          dst[j] = d * static_cast<float>((q[j] & 0x0F) - 8);
          dst[j + kBlockValues / 2] = d * static_cast<float>((q[j] >> 4) - 8);
        }
      }
      return;
    case GgmlType::Q4_1:
      for (std::int64_t b = 0; b < n / kBlockValues; ++b, src += 20, dst += kBlockValues) {
        const float d = f16_to_f32(load_u16(src)), m = f16_to_f32(load_u16(src + 2));
        const unsigned char* q = src + 4;
        for (int j = 0; j < kBlockValues / 2; ++j) {
          dst[j] = d * static_cast<float>(q[j] & 0x0F) + m;
          dst[j + kBlockValues / 2] = d * static_cast<float>(q[j] >> 4) + m;
        }
      }
      return;
  }
}

}  // namespace octet
