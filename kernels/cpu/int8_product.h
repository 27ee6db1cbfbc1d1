// One product of a group of int8 products of the same activations (a layer's
// q, k and v; its gate and up) that a kernel runs in one parallel loop: one
// fork and join instead of one each, the threads' shares balanced over the
// whole (MatmulInt8Dnnl::run_together on the panels GEMV, gemm_s8s8_f32_sparse24
// on packed 2:4 rows).
#pragma once

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

}  // namespace octet::cpu
