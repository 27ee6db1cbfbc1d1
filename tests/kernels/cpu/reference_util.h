// Random inputs and a float64 comparison shared by the kernel tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace octet::test {

inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Uniform integers in [-limit, limit].
inline std::vector<std::int8_t> random_int8(std::size_t n, std::uint32_t seed, int limit = 127) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-limit, limit);
  std::vector<std::int8_t> v(n);
  for (auto& x : v) x = static_cast<std::int8_t>(dist(rng));
  return v;
}

// Largest |got - want| relative to the largest |want| (the scale of the output).
inline double max_relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  EXPECT_EQ(got.size(), want.size());
  double max_err = 0.0, scale = 1e-30;
  for (std::size_t i = 0; i < want.size() && i < got.size(); ++i) {
    max_err = std::max(max_err, std::abs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return max_err / scale;
}

}  // namespace octet::test
