#include "kernels/cpu/ops.h"

#include "engine/core/error.h"

#include <cmath>

namespace octet::cpu {

void rope(const float* x, std::int64_t rows, std::int64_t seq_len, int n_heads, int head_dim,
          std::span<const SequenceStep> sequences, const RopeFrequencies& freqs, RopeLayout layout, float* out) {
  std::int64_t total = 0;
  for (std::size_t b = 0; b < sequences.size(); ++b) {
    const SequenceRows r = rows_of(sequences, b, seq_len);
    if (r.count <= 0 || r.first != total) fail("rope: sequence {} has rows {}..+{}", b, r.first, r.count);
    total += r.count;
  }
  if (sequences.empty() || total != rows) fail("rope: {} rows are not the {} sequences' {}", rows, sequences.size(), total);
  // The sequence row r belongs to: the last whose first row is at or before it.
  const auto position_of = [&](std::int64_t r) {
    std::size_t lo = 0, hi = sequences.size();
    while (hi - lo > 1) {
      const std::size_t mid = (lo + hi) / 2;
      (rows_of(sequences, mid, seq_len).first <= r ? lo : hi) = mid;
    }
    return sequences[lo].pos + static_cast<double>(r - rows_of(sequences, lo, seq_len).first);
  };
  const int half = head_dim / 2;
  const std::int64_t row_len = static_cast<std::int64_t>(n_heads) * head_dim;
#pragma omp parallel for if (rows > 1)
  for (std::int64_t r = 0; r < rows; ++r) {
    const double pos = position_of(r);
    for (int i = 0; i < half; ++i) {
      // Angles in double, as both reference implementations agree to float precision.
      const double freq = rope_inv_freq(freqs, i, head_dim);
      const auto c = static_cast<float>(std::cos(pos * freq));
      const auto s = static_cast<float>(std::sin(pos * freq));
      // The two elements this frequency rotates, per layout.
      const int a = layout == RopeLayout::HalfSplit ? i : 2 * i;
      const int b = layout == RopeLayout::HalfSplit ? i + half : 2 * i + 1;
      for (int h = 0; h < n_heads; ++h) {
        const float* xh = x + r * row_len + static_cast<std::int64_t>(h) * head_dim;
        float* yh = out + r * row_len + static_cast<std::int64_t>(h) * head_dim;
        const float x0 = xh[a];
        const float x1 = xh[b];
        yh[a] = x0 * c - x1 * s;
        yh[b] = x0 * s + x1 * c;
      }
    }
  }
}

}  // namespace octet::cpu
