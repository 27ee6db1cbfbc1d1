#include "kernels/cpu/ops.h"

namespace octet::cpu {

// `if (parallel : ...)`: a bare `if` on a combined `parallel for simd` applies
// to the simd construct too, and GCC then runs every short array scalar.

void add(const float* a, const float* b, std::int64_t n, float* out) {
#pragma omp parallel for simd if (parallel : n > 65536)
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void relu(const float* x, std::int64_t n, float* out) {
#pragma omp parallel for simd if (parallel : n > 65536)
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void add_bias(float* y, const float* bias, std::int64_t rows, std::int64_t cols) {
#pragma omp parallel for if (rows * cols > 65536)
  for (std::int64_t r = 0; r < rows; ++r) {
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c) y[r * cols + c] += bias[c];
  }
}

}  // namespace octet::cpu
