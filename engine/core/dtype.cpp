#include "engine/core/dtype.h"

#include "engine/core/error.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace octet {

namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr DTypeRow kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},      {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::I32, "I32", 4}, {DType::F8E4M3, "F8_E4M3", 1}, {DType::F8E5M2, "F8_E5M2", 1},
};

const DTypeRow& row(DType dtype) {
  for (const auto& r : kDTypes) {
    if (r.dtype == dtype) return r;
  }
  fail("unknown dtype enum value {}", static_cast<int>(dtype));
}

// Decodes a small float with `exp_bits` exponent bits and `man_bits` mantissa bits.
float decode_minifloat(std::uint32_t bits, int exp_bits, int man_bits, bool has_inf) {
  const std::uint32_t sign = bits >> (exp_bits + man_bits);
  const std::uint32_t exp = (bits >> man_bits) & ((1u << exp_bits) - 1);
  const std::uint32_t man = bits & ((1u << man_bits) - 1);
  const int bias = (1 << (exp_bits - 1)) - 1;
  const std::uint32_t exp_max = (1u << exp_bits) - 1;
  float magnitude;
  if (exp == exp_max && has_inf) {
    magnitude = man == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  } else if (exp == exp_max && !has_inf && man == (1u << man_bits) - 1) {
    magnitude = std::numeric_limits<float>::quiet_NaN();  // E4M3: S.1111.111 is NaN
  } else if (exp == 0) {
    magnitude = std::ldexp(static_cast<float>(man), 1 - bias - man_bits);
  } else {
    magnitude = std::ldexp(static_cast<float>(man + (1u << man_bits)), static_cast<int>(exp) - bias - man_bits);
  }
  return sign ? -magnitude : magnitude;
}

}  // namespace

std::size_t dtype_size(DType dtype) { return row(dtype).size; }
std::string_view dtype_name(DType dtype) { return row(dtype).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& r : kDTypes) {
    if (r.name == name) return r.dtype;
  }
  return std::nullopt;
}

float f16_to_f32(std::uint16_t bits) { return decode_minifloat(bits, 5, 10, true); }
float bf16_to_f32(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }
float f8e4m3_to_f32(std::uint8_t bits) { return decode_minifloat(bits, 4, 3, false); }
float f8e5m2_to_f32(std::uint8_t bits) { return decode_minifloat(bits, 5, 2, true); }

const std::array<float, 256>& f8e4m3_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int b = 0; b < 256; ++b) t[static_cast<std::size_t>(b)] = f8e4m3_to_f32(static_cast<std::uint8_t>(b));
    return t;
  }();
  return table;
}

std::uint16_t f32_to_f16(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const float magnitude = std::fabs(value);
  if (std::isnan(value)) return sign | 0x7e00;
  if (magnitude >= 65520.0f) return sign | 0x7c00;  // rounds to infinity
  if (magnitude < std::ldexp(1.0f, -14)) {
    // Subnormal: the value in units of 2^-24, rounded to nearest even by nearbyint.
    return sign | static_cast<std::uint16_t>(std::nearbyint(std::ldexp(magnitude, 24)));
  }
  const std::uint32_t m = std::bit_cast<std::uint32_t>(magnitude);
  const std::uint32_t rounded = m + 0xfff + ((m >> 13) & 1);
  return sign | static_cast<std::uint16_t>((rounded - (112u << 23)) >> 13);
}

void convert_to_f32(DType dtype, const void* src, float* dst, std::size_t count) {
  if (count == 0) return;  // an empty tensor has no storage: memcpy must not see its null pointer
  const auto* bytes = static_cast<const unsigned char*>(src);
  auto load16 = [&](std::size_t i) {
    std::uint16_t v;
    std::memcpy(&v, bytes + 2 * i, 2);
    return v;
  };
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::F16:
      for (std::size_t i = 0; i < count; ++i) dst[i] = f16_to_f32(load16(i));
      return;
    case DType::BF16:
      for (std::size_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(load16(i));
      return;
    case DType::I8:
      for (std::size_t i = 0; i < count; ++i) dst[i] = static_cast<std::int8_t>(bytes[i]);
      return;
    case DType::U8:
      for (std::size_t i = 0; i < count; ++i) dst[i] = bytes[i];
      return;
    case DType::I32:
      for (std::size_t i = 0; i < count; ++i) {
        std::int32_t v;
        std::memcpy(&v, bytes + 4 * i, 4);
        dst[i] = static_cast<float>(v);
      }
      return;
    case DType::F8E4M3:
      for (std::size_t i = 0; i < count; ++i) dst[i] = f8e4m3_to_f32(bytes[i]);
      return;
    case DType::F8E5M2:
      for (std::size_t i = 0; i < count; ++i) dst[i] = f8e5m2_to_f32(bytes[i]);
      return;
  }
  fail("convert_to_f32: unknown dtype {}", static_cast<int>(dtype));
}

}  // namespace octet
