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
constexpr std::int64_t kSuperBlock = 256;  // ggml's QK_K

// Value j of a 32-value block of nibbles: low nibble of byte j, then high nibbles.
unsigned nibble32(const unsigned char* q, int j) { return j < 16 ? q[j] & 0x0F : q[j - 16] >> 4; }

// Q4_K and Q5_K pack 8 six-bit scales and 8 six-bit minimums in 12 bytes:
// bytes 0-3 hold scales 0-3 (low 6 bits) and the top 2 bits of scales 4-7,
// bytes 4-7 the same for the minimums, bytes 8-11 the low 4 bits of scale
// (low nibble) and minimum (high nibble) 4-7.
void unpack_scales_mins(const unsigned char* p, int* scale, int* min) {
  for (int j = 0; j < 4; ++j) {
    scale[j] = p[j] & 0x3F;
    min[j] = p[j + 4] & 0x3F;
    scale[j + 4] = (p[j + 8] & 0x0F) | ((p[j] >> 2) & 0x30);
    min[j + 4] = (p[j + 8] >> 4) | ((p[j + 4] >> 2) & 0x30);
  }
}

// Q4_K and Q5_K: 8 sub-blocks of 32 values, x = (d * scale) * q - dmin * min.
// The low 4 bits of value l of sub-block s are nibble (s % 2) of byte
// 32 * (s / 2) + l; Q5_K's fifth bit is bit s of high-bit byte l.
void dequantize_k4_k5(const unsigned char* src, std::int64_t n, float* dst, bool five_bits) {
  const std::size_t bytes = five_bits ? 176 : 144;
  for (std::int64_t b = 0; b < n / kSuperBlock; ++b, src += bytes, dst += kSuperBlock) {
    const float d = f16_to_f32(load_u16(src)), dmin = f16_to_f32(load_u16(src + 2));
    int scale[8], min[8];
    unpack_scales_mins(src + 4, scale, min);
    const unsigned char* high = src + 16;
    const unsigned char* low = five_bits ? src + 48 : src + 16;
    for (int s = 0; s < 8; ++s) {
      const float ds = d * static_cast<float>(scale[s]), dm = dmin * static_cast<float>(min[s]);
      for (int l = 0; l < 32; ++l) {
        unsigned q = (low[32 * (s / 2) + l] >> (4 * (s % 2))) & 0x0F;
        if (five_bits) q |= ((high[l] >> s) & 1u) << 4;
        dst[32 * s + l] = ds * static_cast<float>(q) - dm;
      }
    }
  }
}

// Q2_K and Q3_K store their 2 low bits alike: value i = 128 h + 32 s + l
// (h < 2, s < 4, l < 32) is bits 2s..2s+1 of byte 32 h + l.
unsigned low_two_bits(const unsigned char* qs, int i) {
  return (qs[32 * (i / 128) + i % 32] >> (2 * ((i / 32) % 4))) & 3u;
}

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
    case 6:
      return GgmlType::Q5_0;
    case 7:
      return GgmlType::Q5_1;
    case 8:
      return GgmlType::Q8_0;
    case 10:
      return GgmlType::Q2_K;
    case 11:
      return GgmlType::Q3_K;
    case 12:
      return GgmlType::Q4_K;
    case 13:
      return GgmlType::Q5_K;
    case 14:
      return GgmlType::Q6_K;
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
    case GgmlType::Q5_0:
      return {kBlockValues, 6 + kBlockValues / 2};
    case GgmlType::Q5_1:
      return {kBlockValues, 8 + kBlockValues / 2};
    case GgmlType::Q8_0:
      return {kBlockValues, 2 + kBlockValues};
    case GgmlType::Q2_K:
      return {kSuperBlock, 84};  // 16 scale bytes, 64 of 2-bit values, d, dmin
    case GgmlType::Q3_K:
      return {kSuperBlock, 110};  // 32 high-bit bytes, 64 of 2-bit values, 12 scale bytes, d
    case GgmlType::Q4_K:
      return {kSuperBlock, 144};  // d, dmin, 12 scale bytes, 128 of nibbles
    case GgmlType::Q5_K:
      return {kSuperBlock, 176};  // d, dmin, 12 scale bytes, 32 high-bit bytes, 128 of nibbles
    case GgmlType::Q6_K:
      return {kSuperBlock, 210};  // 128 of low nibbles, 64 of 2 high bits, 16 int8 scales, d
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
    case GgmlType::Q5_0:
    case GgmlType::Q5_1: {
      const bool with_min = type == GgmlType::Q5_1;
      const std::size_t bytes = ggml_block(type).bytes;
      for (std::int64_t b = 0; b < n / kBlockValues; ++b, src += bytes, dst += kBlockValues) {
        const float d = f16_to_f32(load_u16(src)), m = with_min ? f16_to_f32(load_u16(src + 2)) : 0.0f;
        const unsigned char* p = src + (with_min ? 4 : 2);
        std::uint32_t high;
        std::memcpy(&high, p, 4);
        const unsigned char* q = p + 4;
        for (int j = 0; j < kBlockValues; ++j) {
          const unsigned v = nibble32(q, j) | (((high >> j) & 1u) << 4);
          dst[j] = with_min ? d * static_cast<float>(v) + m : d * static_cast<float>(static_cast<int>(v) - 16);
        }
      }
      return;
    }
    case GgmlType::Q2_K:
      // 16 sub-blocks of 16: x = (d * (scale & 15)) * q - dmin * (scale >> 4).
      for (std::int64_t b = 0; b < n / kSuperBlock; ++b, src += 84, dst += kSuperBlock) {
        const unsigned char* scales = src;
        const unsigned char* qs = src + 16;
        const float d = f16_to_f32(load_u16(src + 80)), dmin = f16_to_f32(load_u16(src + 82));
        for (int i = 0; i < kSuperBlock; ++i) {
          const float dl = d * static_cast<float>(scales[i / 16] & 0x0F);
          const float ml = dmin * static_cast<float>(scales[i / 16] >> 4);
          dst[i] = dl * static_cast<float>(low_two_bits(qs, i)) - ml;
        }
      }
      return;
    case GgmlType::Q3_K:
      // 16 sub-blocks of 16 with signed 6-bit scales: low nibbles in bytes
      // 0-7 (scales 0-7, then 8-15 in the high nibbles), the 2 top bits of
      // scale i in bits 2 (i / 4) of byte 8 + i % 4. A value is its 2 low bits
      // minus 4 where its high-mask bit (bit i / 32 of byte i % 32) is clear.
      for (std::int64_t b = 0; b < n / kSuperBlock; ++b, src += 110, dst += kSuperBlock) {
        const unsigned char* hmask = src;
        const unsigned char* qs = src + 32;
        const unsigned char* sc = src + 96;
        const float d = f16_to_f32(load_u16(src + 108));
        for (int i = 0; i < kSuperBlock; ++i) {
          const int s = i / 16;
          const int low = s < 8 ? sc[s] & 0x0F : sc[s - 8] >> 4;
          const int top = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
          const float dl = d * static_cast<float>((low | (top << 4)) - 32);
          const int q = static_cast<int>(low_two_bits(qs, i)) - (((hmask[i % 32] >> (i / 32)) & 1) ? 0 : 4);
          dst[i] = dl * static_cast<float>(q);
        }
      }
      return;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      dequantize_k4_k5(src, n, dst, type == GgmlType::Q5_K);
      return;
    case GgmlType::Q6_K:
      // 16 sub-blocks of 16 with int8 scales: value i = 128 h + r (r < 128)
      // has its low nibble in nibble r / 64 of byte 64 h + r % 64 and its two
      // high bits in bits 2 (r / 32) of byte 128 + 32 h + r % 32; x = (d * scale) * (q - 32).
      for (std::int64_t b = 0; b < n / kSuperBlock; ++b, src += 210, dst += kSuperBlock) {
        const unsigned char* ql = src;
        const unsigned char* qh = src + 128;
        const auto* scales = reinterpret_cast<const std::int8_t*>(src + 192);
        const float d = f16_to_f32(load_u16(src + 208));
        for (int i = 0; i < kSuperBlock; ++i) {
          const int h = i / 128, r = i % 128;
          const unsigned low = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
          const unsigned top = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3u;
          const float dl = d * static_cast<float>(scales[i / 16]);
          dst[i] = dl * static_cast<float>(static_cast<int>(low | (top << 4)) - 32);
        }
      }
      return;
  }
}

}  // namespace octet
