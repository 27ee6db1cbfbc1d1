// Random inputs, a float64 comparison and the int8 product reference shared by the kernel tests.
#pragma once

#include "engine/core/tensor.h"
#include "engine/quant/quant.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// Rows first_row.. first_row + n_rows - 1 of x (rows of `heads` heads of
// head_dim values) as quantize_values (values_int16.h) quantizes each head's
// values over those rows: each row to +-511 against its absmax / 511, round
// half to even, and back. scale[row * heads + head] (sized by the caller)
// gets that row's scale: a query's int16 weights are its e_j * scale_j in
// units of at most (the largest of them) / (32767 * 2^-0.011), each rounded
// by at most half a unit (weight_rounding_bound).
inline void int16_value_heads(std::vector<float>& x, std::size_t first_row, std::size_t n_rows, int heads, int head_dim,
                              std::vector<double>& scale) {
  const auto dim = static_cast<std::size_t>(heads * head_dim);
  for (std::size_t h = 0; h < static_cast<std::size_t>(heads); ++h) {
    for (std::size_t r = 0; r < n_rows; ++r) {
      float* row = x.data() + (first_row + r) * dim + h * static_cast<std::size_t>(head_dim);
      float absmax = 0.0f;
      for (int d = 0; d < head_dim; ++d) absmax = std::fmax(absmax, std::fabs(row[d]));
      const float s = absmax / 511.0f, inv = s > 0.0f ? 1.0f / s : 0.0f;
      for (int d = 0; d < head_dim; ++d) {
        const float q = std::fmax(-511.0f, std::fmin(511.0f, std::nearbyint(row[d] * inv)));
        row[d] = static_cast<float>(static_cast<double>(q) * s);
      }
      scale[(first_row + r) * static_cast<std::size_t>(heads) + h] = s;
    }
  }
}

// How far a query's weights . v (over keys with softmax numerators e_j, sum
// `sum`, and value `value_j` of one dim) may move when each e_j * scale_j is
// rounded to a unit of the row's int16 weights: half a unit per key,
// unit <= max_j(e_j * scale_j) / (32767 * 2^-0.011), so each key's weight
// e_j / sum moves by at most 0.5 * unit / scale_j / sum.
inline double weight_rounding_bound(const std::vector<double>& e, const std::vector<double>& scale,
                                    const std::vector<double>& value, double sum) {
  double top = 0.0, bound = 0.0;
  for (std::size_t j = 0; j < e.size(); ++j) top = std::max(top, e[j] * scale[j]);
  const double unit = top / (32767.0 * std::exp2(-0.011));
  for (std::size_t j = 0; j < e.size(); ++j) {
    if (scale[j] > 0.0) bound += 0.5 * unit / scale[j] / sum * std::abs(value[j]);
  }
  return bound;
}

// Largest amount by which |got - want| exceeds rel * (the largest |want|) +
// bound[i] (0 where every element is within).
inline double excess_over_bound(const std::vector<float>& got, const std::vector<double>& want,
                                const std::vector<double>& bound, double rel) {
  EXPECT_EQ(got.size(), want.size());
  EXPECT_EQ(bound.size(), want.size());
  double scale = 1e-30, excess = 0.0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (std::size_t i = 0; i < want.size() && i < got.size() && i < bound.size(); ++i) {
    excess = std::max(excess, std::abs(static_cast<double>(got[i]) - want[i]) - rel * scale - bound[i]);
  }
  return excess;
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

// With unit scales every float y[i, j] of an int8 product is its int32 sum
// rounded to float: equal to the int64 sum of x [m, k] and w [n, k] rounded
// the same way.
inline ::testing::AssertionResult exact_sums(const std::vector<float>& y, const std::vector<std::int8_t>& x,
                                             const std::vector<std::int8_t>& w, std::int64_t m, std::int64_t k,
                                             std::int64_t n) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int64_t want = 0;
      for (std::int64_t p = 0; p < k; ++p)
        want += std::int64_t{x[static_cast<std::size_t>(i * k + p)]} * w[static_cast<std::size_t>(j * k + p)];
      if (y[static_cast<std::size_t>(i * n + j)] != static_cast<float>(want)) {
        return ::testing::AssertionFailure()
               << "at " << i << ", " << j << ": " << y[static_cast<std::size_t>(i * n + j)] << " for the sum " << want;
      }
    }
  return ::testing::AssertionSuccess();
}

// Int8 rows x [m, k] times an int8 weight w [n, k] with their scales, in
// float64: x_scale[i] * w_scale[j] * sum_k x[i, k] w[j, k] (+ bias[j], when
// not empty).
inline std::vector<double> scaled_int8_product(const std::vector<std::int8_t>& x, const std::vector<float>& x_scale,
                                               const std::vector<std::int8_t>& w, const std::vector<float>& w_scale,
                                               const std::vector<float>& bias, std::int64_t m, std::int64_t k,
                                               std::int64_t n) {
  std::vector<double> y(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int64_t acc = 0;
      for (std::int64_t p = 0; p < k; ++p)
        acc += std::int64_t{x[static_cast<std::size_t>(i * k + p)]} * w[static_cast<std::size_t>(j * k + p)];
      y[static_cast<std::size_t>(i * n + j)] =
          static_cast<double>(acc) * x_scale[static_cast<std::size_t>(i)] * w_scale[static_cast<std::size_t>(j)] +
          (bias.empty() ? 0.0 : bias[static_cast<std::size_t>(j)]);
    }
  return y;
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
