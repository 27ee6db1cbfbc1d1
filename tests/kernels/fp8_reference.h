// The float64 meaning of an FP8 matmul, shared by the CPU and CUDA tests:
// activations quantized per token exactly as the backends do it
// (quantize_row_fp8), weights per channel (quantize_weight), then
// sum_k e4m3(x)[m, k] * e4m3(w)[n, k] in float64, times both scales.
#pragma once

#include "engine/core/dtype.h"
#include "engine/quant/quant.h"

#include <vector>

namespace octet::test {

inline std::vector<double> fp8_reference_product(const std::vector<float>& x, std::int64_t m, std::int64_t k,
                                                 const Tensor& w_fp8) {
  const std::int64_t n = w_fp8.dim(0);
  std::vector<std::uint8_t> xq(static_cast<std::size_t>(m * k));
  std::vector<float> xs(static_cast<std::size_t>(m));
  for (std::int64_t i = 0; i < m; ++i)
    xs[static_cast<std::size_t>(i)] = quantize_row_fp8(x.data() + i * k, k, xq.data() + i * k);
  const auto* wq = w_fp8.data<std::uint8_t>();
  const float* ws = w_fp8.quant()->scale.data<float>();
  std::vector<double> y(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (std::int64_t p = 0; p < k; ++p) {
        acc +=
            static_cast<double>(f8e4m3_to_f32(xq[static_cast<std::size_t>(i * k + p)])) * f8e4m3_to_f32(wq[j * k + p]);
      }
      y[static_cast<std::size_t>(i * n + j)] = acc * xs[static_cast<std::size_t>(i)] * ws[j];
    }
  return y;
}

}  // namespace octet::test
