// Pooling a sequence's rows into one vector, and normalizing that vector.
#include "engine/core/error.h"
#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>

namespace octet::cpu {

void mean_rows(const float* x, const std::int32_t* lengths, std::int64_t batch, std::int64_t seq_len, std::int64_t dim,
               float* out) {
  for (std::int64_t b = 0; b < batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > seq_len) {
      fail("mean pooling: sequence {} has length {}, outside 1..{}", b, lengths[b], seq_len);
    }
  }
  // Sums in double: a few hundred rows of float would lose digits the
  // embedding's users compare (cosine similarities near 1).
#pragma omp parallel for collapse(2) if (batch * dim > 4096)
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t c = 0; c < dim; ++c) {
      const float* column = x + b * seq_len * dim + c;
      double sum = 0.0;
      for (std::int64_t r = 0; r < lengths[b]; ++r) sum += column[r * dim];
      out[b * dim + c] = static_cast<float>(sum / lengths[b]);
    }
  }
}

void l2_normalize(const float* x, std::int64_t rows, std::int64_t dim, float* out) {
  for (std::int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (std::int64_t c = 0; c < dim; ++c) sum += static_cast<double>(x[r * dim + c]) * x[r * dim + c];
    // As torch.nn.functional.normalize: a zero vector stays zero.
    const double inv = 1.0 / std::max(std::sqrt(sum), 1e-12);
    for (std::int64_t c = 0; c < dim; ++c) out[r * dim + c] = static_cast<float>(x[r * dim + c] * inv);
  }
}

}  // namespace octet::cpu
