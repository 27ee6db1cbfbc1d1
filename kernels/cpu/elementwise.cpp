#include "kernels/cpu/ops.h"

#include <cmath>

namespace octet::cpu {

void silu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
#pragma omp parallel for simd if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add(const float* a, const float* b, std::int64_t n, float* out) {
#pragma omp parallel for simd if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace octet::cpu
