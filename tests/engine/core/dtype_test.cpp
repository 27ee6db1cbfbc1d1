#include "engine/core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace octet {
namespace {

// Value of a minifloat from its fields, in float64, straight from the definition.
double minifloat_value(unsigned bits, int exp_bits, int man_bits) {
  const unsigned sign = bits >> (exp_bits + man_bits), exp = (bits >> man_bits) & ((1u << exp_bits) - 1),
                 man = bits & ((1u << man_bits) - 1);
  const int bias = (1 << (exp_bits - 1)) - 1;
  const double m = exp == 0 ? man / std::pow(2.0, man_bits) : 1.0 + man / std::pow(2.0, man_bits);
  const double v = m * std::pow(2.0, exp == 0 ? 1 - bias : static_cast<int>(exp) - bias);
  return sign ? -v : v;
}

TEST(DType, F16AllBitPatterns) {
  for (unsigned b = 0; b < 65536; ++b) {
    const float got = f16_to_f32(static_cast<std::uint16_t>(b));
    const unsigned exp = (b >> 10) & 31, man = b & 1023;
    if (exp == 31) {
      EXPECT_TRUE(man ? std::isnan(got) : std::isinf(got)) << b;
      continue;
    }
    EXPECT_EQ(static_cast<double>(got), minifloat_value(b, 5, 10)) << b;
    // Every finite f16 survives the round trip exactly.
    EXPECT_EQ(f32_to_f16(got), b) << b;
  }
}

TEST(DType, F16RoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);               // rounds to infinity
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);               // largest finite
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // halfway to the smallest subnormal: even is 0
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
}

TEST(DType, BF16RoundTripAndRounding) {
  for (unsigned b = 0; b < 65536; b += 7) {
    const float v = bf16_to_f32(static_cast<std::uint16_t>(b));
    if (std::isnan(v)) continue;
    EXPECT_EQ(f32_to_bf16(v), b);
  }
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, F8E4M3AllBitPatterns) {
  for (unsigned b = 0; b < 256; ++b) {
    const float got = f8e4m3_to_f32(static_cast<std::uint8_t>(b));
    if ((b & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(got)) << b;  // no infinities in E4M3
    } else {
      EXPECT_EQ(static_cast<double>(got), minifloat_value(b, 4, 3)) << b;
    }
  }
  EXPECT_EQ(f8e4m3_to_f32(0x7e), 448.0f);                // the largest finite value
  EXPECT_EQ(f8e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // the smallest subnormal
}

// The float64 definition of "nearest E4M3 value, ties to the even code,
// saturating at 448": search every finite code.
std::uint8_t nearest_e4m3(double x) {
  if (x > 448) x = 448;
  if (x < -448) x = -448;
  int best = -1;
  double best_err = 0;
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) == 0x7f || b == 0x80) continue;  // NaNs, and -0 (x = 0 maps to +0)
    const double err = std::abs(minifloat_value(static_cast<unsigned>(b), 4, 3) - x);
    // Codes of one sign are ordered by magnitude, so "even code" is "even mantissa".
    if (best < 0 || err < best_err || (err == best_err && (b & 1) == 0)) {
      best = b;
      best_err = err;
    }
  }
  return static_cast<std::uint8_t>(best);
}

TEST(DType, F32ToF8E4M3RoundsToNearestEvenAndSaturates) {
  // Every code round-trips; every midpoint between neighbours goes to the even
  // one; points just off the midpoints go to the nearer one; random values
  // across the range match the float64 search.
  for (unsigned b = 0; b < 256; ++b) {
    if ((b & 0x7f) == 0x7f) continue;
    EXPECT_EQ(f32_to_f8e4m3(f8e4m3_to_f32(static_cast<std::uint8_t>(b))), b == 0x80 ? 0x80 : b) << b;
  }
  for (unsigned b = 0; b + 1 < 0x7f; ++b) {
    const double lo = minifloat_value(b, 4, 3), hi = minifloat_value(b + 1, 4, 3), mid = (lo + hi) / 2;
    EXPECT_EQ(f32_to_f8e4m3(static_cast<float>(mid)), (b & 1) ? b + 1 : b) << "tie above code " << b;
    EXPECT_EQ(f32_to_f8e4m3(std::nextafter(static_cast<float>(mid), 0.0f)), b) << b;
    EXPECT_EQ(f32_to_f8e4m3(std::nextafter(static_cast<float>(mid), 1e9f)), b + 1) << b;
    EXPECT_EQ(f32_to_f8e4m3(static_cast<float>(-mid)), 0x80 | ((b & 1) ? b + 1 : b)) << b;
  }
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> exponent(-12.0, 9.5);
  for (int i = 0; i < 20000; ++i) {
    const float x = static_cast<float>((i % 2 ? -1 : 1) * std::exp2(exponent(rng)));
    const std::uint8_t got = f32_to_f8e4m3(x);
    if (x == 0 || (got == 0x80 && nearest_e4m3(x) == 0x00)) continue;  // -0 for tiny negatives is right
    EXPECT_EQ(got, nearest_e4m3(x)) << x;
  }
  EXPECT_EQ(f32_to_f8e4m3(1e6f), 0x7e);   // saturates to 448
  EXPECT_EQ(f32_to_f8e4m3(-1e6f), 0xfe);  // and -448
  EXPECT_EQ(f32_to_f8e4m3(INFINITY), 0x7e);
  EXPECT_EQ(f32_to_f8e4m3(-INFINITY), 0xfe);
  EXPECT_EQ(f32_to_f8e4m3(NAN) & 0x7f, 0x7f);
  EXPECT_EQ(f32_to_f8e4m3(-NAN) & 0x7f, 0x7f);
  // e4m3_round_magnitude is the value of the same code, without its sign.
  for (int i = 0; i < 20000; ++i) {
    const float x = static_cast<float>((i % 2 ? -1 : 1) * std::exp2(exponent(rng)));
    EXPECT_EQ(e4m3_round_magnitude(x), std::fabs(f8e4m3_to_f32(f32_to_f8e4m3(x)))) << x;
  }
}

TEST(DType, F8E5M2AllBitPatterns) {
  for (unsigned b = 0; b < 256; ++b) {
    const float got = f8e5m2_to_f32(static_cast<std::uint8_t>(b));
    if (((b >> 2) & 31) == 31) {
      EXPECT_TRUE((b & 3) ? std::isnan(got) : std::isinf(got)) << b;
    } else {
      EXPECT_EQ(static_cast<double>(got), minifloat_value(b, 5, 2)) << b;
    }
  }
  EXPECT_EQ(f8e5m2_to_f32(0x7b), 57344.0f);
}

TEST(DType, NamesRoundTrip) {
  for (DType d :
       {DType::F32, DType::F16, DType::BF16, DType::I8, DType::U8, DType::I32, DType::F8E4M3, DType::F8E5M2}) {
    EXPECT_EQ(dtype_from_name(dtype_name(d)), d);
  }
  EXPECT_FALSE(dtype_from_name("F64").has_value());
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
}

TEST(DType, ConvertToF32ByValue) {
  const std::int8_t i8[] = {-128, -1, 0, 127};
  float out[4];
  convert_to_f32(DType::I8, i8, out, 4);
  EXPECT_EQ(out[0], -128.0f);
  EXPECT_EQ(out[3], 127.0f);
  const std::uint16_t bf[] = {0x3f80, 0xc000};
  convert_to_f32(DType::BF16, bf, out, 2);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
}

}  // namespace
}  // namespace octet
