#include "kernels/cpu/ops.h"

#include "engine/quant/quant.h"

#include <cmath>

namespace octet::cpu {

void layer_norm(const float* x, const float* w, const float* b, std::int64_t rows, std::int64_t dim, float eps,
                float* out, std::int8_t* q, float* q_scale, const float* x2) {
#pragma omp parallel for if (rows > 1)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* yr = out + r * dim;
    const float* xr = x + r * dim;
    if (x2 != nullptr) {  // the sum goes where the output row will be, and is normalized in place
      const float* x2r = x2 + r * dim;
#pragma omp simd
      for (std::int64_t i = 0; i < dim; ++i) yr[i] = xr[i] + x2r[i];
      xr = yr;
    }
    // Two passes in double: the mean first, then squares of deviations, so
    // rows with a large mean lose nothing to cancellation (BERT's eps is 1e-12).
    // The sums run in vector lanes (omp simd: another order of additions, in
    // double, where a float row's sums lose nothing that matters); in order,
    // their add latency made this the slowest pass of an int8 encoder layer.
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < dim; ++i) sum += xr[i];
    const double mean = sum / static_cast<double>(dim);
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (std::int64_t i = 0; i < dim; ++i) ss += (xr[i] - mean) * (xr[i] - mean);
    const auto inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
    const auto m = static_cast<float>(mean);
    for (std::int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] - m) * inv * w[i] + b[i];
    if (q != nullptr) q_scale[r] = quantize_row_int8(yr, dim, q + r * dim);
  }
}

}  // namespace octet::cpu
