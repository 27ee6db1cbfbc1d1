// Random inputs, a float64 comparison and the int8 product reference shared by the kernel tests.
#pragma once

#include "engine/core/tensor.h"
#include "engine/quant/quant.h"

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

// Each head_dim values of x (each head of each row) as quantize_row_int8
// quantizes them, back in float: what int8 attention scores multiply (of the
// keys, once centred: centre_heads).
inline std::vector<float> dequantized_heads(const std::vector<float>& x, int head_dim) {
  std::vector<float> out(x.size());
  std::vector<std::int8_t> q(static_cast<std::size_t>(head_dim));
  for (std::size_t at = 0; at < x.size(); at += static_cast<std::size_t>(head_dim)) {
    const float scale = quantize_row_int8(x.data() + at, head_dim, q.data());
    for (int d = 0; d < head_dim; ++d) out[at + static_cast<std::size_t>(d)] = q[static_cast<std::size_t>(d)] * scale;
  }
  return out;
}

// Rows first_row.. first_row + n_rows - 1 of x (rows of `heads` heads of
// head_dim values), each head less its mean over those rows, summed in float
// in row order and divided by n_rows, as quantize_keys centres the keys it
// quantizes.
inline void centre_heads(std::vector<float>& x, std::size_t first_row, std::size_t n_rows, int heads, int head_dim) {
  const auto dim = static_cast<std::size_t>(heads * head_dim);
  for (std::size_t h = 0; h < static_cast<std::size_t>(heads); ++h) {
    for (std::size_t d = 0; d < static_cast<std::size_t>(head_dim); ++d) {
      const std::size_t at = first_row * dim + h * static_cast<std::size_t>(head_dim) + d;
      float mean = 0.0f;
      for (std::size_t r = 0; r < n_rows; ++r) mean += x[at + r * dim];
      mean /= static_cast<float>(n_rows);
      for (std::size_t r = 0; r < n_rows; ++r) x[at + r * dim] -= mean;
    }
  }
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

// x quantized per row as the CPU backend does, times the int8 weight w [n,
// k] with its scales, in float64 (+ bias, when not empty).
inline std::vector<double> int8_product_reference(const std::vector<float>& x, std::int64_t m, std::int64_t k,
                                                  const Tensor& w, const std::vector<float>& bias) {
  const std::int64_t n = w.dim(0);
  std::vector<double> y(static_cast<std::size_t>(m * n));
  std::vector<std::int8_t> xq(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < m; ++i) {
    const float xs = quantize_row_int8(x.data() + i * k, k, xq.data());
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (std::int64_t c = 0; c < k; ++c)
        acc += static_cast<double>(xq[static_cast<std::size_t>(c)]) * w.data<std::int8_t>()[j * k + c];
      y[static_cast<std::size_t>(i * n + j)] =
          acc * xs * w.quant()->scale.data<float>()[j] + (bias.empty() ? 0.0 : bias[static_cast<std::size_t>(j)]);
    }
  }
  return y;
}

}  // namespace octet::test
