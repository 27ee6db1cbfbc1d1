#include "kernels/cpu/ops.h"

#include "engine/quant/quant.h"

#include <cmath>

namespace octet::cpu {

void rms_norm(const float* x, const float* w, std::int64_t rows, std::int64_t dim, float eps, float* out,
              std::int8_t* q, float* q_scale) {
#pragma omp parallel for if (rows > 1)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    // Sum of squares in double: rows are short and this removes any doubt about
    // cancellation-free but long float accumulations. In vector lanes (omp
    // simd), as layer_norm's sums.
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (std::int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
    for (std::int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * w[i];
    if (q != nullptr) q_scale[r] = quantize_row_int8(yr, dim, q + r * dim);
  }
}

}  // namespace octet::cpu
