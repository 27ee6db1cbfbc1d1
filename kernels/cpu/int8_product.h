// One product of a group of int8 products of the same activations (a layer's
// q, k and v; its gate and up) that a kernel runs in one parallel loop: one
// fork and join instead of one each, the threads' shares balanced over the
// whole (MatmulInt8Dnnl::run_together on the panels GEMV, gemm_s8s8_f32_sparse24
// on packed 2:4 rows).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace octet::cpu {

struct Int8Product {
  const std::int8_t* w;  // the weight, as the kernel that runs the group holds it
  const float* w_scale;  // per output column
  float* y;              // [m, n]
  std::int64_t n;
  const float* bias = nullptr;
};

constexpr std::size_t kMaxInt8Products = 8;  // products in one group

// An int8 product's float with a bias: sum * scale + bias (scale = x_scale *
// w_scale) with one rounding, as the AVX-512 kernels' fused multiply-add
// gives it, in every kernel: an unoptimized build does not fuse a * b + c by
// itself, and the kernels must give the same floats in every build.
inline float scaled_sum(std::int32_t sum, float scale, float bias) {
  return std::fma(static_cast<float>(sum), scale, bias);
}

}  // namespace octet::cpu
