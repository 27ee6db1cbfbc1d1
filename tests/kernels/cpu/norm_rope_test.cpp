#include "kernels/cpu/ops.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <complex>

namespace octet::cpu {
namespace {

TEST(RmsNorm, MatchesFloat64Reference) {
  for (auto [rows, dim] : {std::pair{1, 1}, {3, 7}, {5, 128}, {2, 1001}}) {
    const auto x = test::random_floats(static_cast<std::size_t>(rows * dim), 8, 3.0f);
    const auto w = test::random_floats(static_cast<std::size_t>(dim), 9);
    std::vector<float> y(x.size());
    rms_norm(x.data(), w.data(), rows, dim, 1e-5f, y.data());
    std::vector<double> ref(x.size());
    for (int r = 0; r < rows; ++r) {
      double ss = 0;
      for (int i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
      const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int i = 0; i < dim; ++i) ref[static_cast<std::size_t>(r * dim + i)] = x[r * dim + i] * inv * w[i];
    }
    EXPECT_LT(test::max_relative_error(y, ref), 1e-6) << rows << "x" << dim;
  }
}

// Rotary embedding written as complex multiplication, the way Meta's code
// states it, with the pairs chosen by layout.
std::vector<double> rope_reference(const std::vector<float>& x, int rows, int heads, int hd, int pos0, double theta,
                                   RopeLayout layout) {
  std::vector<double> out(x.begin(), x.end());
  for (int r = 0; r < rows; ++r)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const int a = layout == RopeLayout::HalfSplit ? i : 2 * i;
        const int b = layout == RopeLayout::HalfSplit ? i + hd / 2 : 2 * i + 1;
        const std::size_t base = static_cast<std::size_t>((r * heads + h) * hd);
        const std::complex<double> z(x[base + static_cast<std::size_t>(a)], x[base + static_cast<std::size_t>(b)]);
        const double angle = (pos0 + r) * std::pow(theta, -2.0 * i / hd);
        const auto rotated = z * std::polar(1.0, angle);
        out[base + static_cast<std::size_t>(a)] = rotated.real();
        out[base + static_cast<std::size_t>(b)] = rotated.imag();
      }
  return out;
}

// One RopeAngles through every case: it grows (positions 0 .. 4001) and starts
// afresh for each head_dim, as a backend's does.
TEST(Rope, BothLayoutsMatchFloat64Reference) {
  RopeAngles angles;
  for (auto layout : {RopeLayout::HalfSplit, RopeLayout::Interleaved}) {
    for (auto [rows, heads, hd, pos0] : {std::tuple{1, 1, 2, 0}, {3, 4, 8, 5}, {5, 3, 18, 250}, {2, 2, 128, 4000}}) {
      const auto x = test::random_floats(static_cast<std::size_t>(rows * heads * hd), 10);
      std::vector<float> y(x.size());
      const SequenceStep sequence[] = {{0, pos0}};
      rope(x.data(), rows, rows, heads, hd, sequence, RopeFrequencies{10000.0}, angles, layout, y.data());
      // Angles are computed in double, then cos/sin rounded to float: a few ulps.
      EXPECT_LT(test::max_relative_error(y, rope_reference(x, rows, heads, hd, pos0, 10000.0, layout)), 1e-6);
    }
  }
}

// Three sequences of 4 rows each: every sequence's rows sit at its own
// position.., as if each were rotated alone.
TEST(Rope, BatchedSequencesEachStartAtTheirPosition) {
  const int seqs = 3, seq_len = 4, heads = 2, hd = 6;
  const SequenceStep sequences[] = {{0, 9}, {1, 0}, {2, 301}};
  const auto x = test::random_floats(static_cast<std::size_t>(seqs * seq_len * heads * hd), 12);
  std::vector<float> y(x.size());
  RopeAngles angles;
  rope(x.data(), seqs * seq_len, seq_len, heads, hd, sequences, RopeFrequencies{10000.0}, angles, RopeLayout::HalfSplit,
       y.data());
  const std::size_t per_seq = static_cast<std::size_t>(seq_len * heads * hd);
  for (std::size_t b = 0; b < seqs; ++b) {
    const std::vector<float> xb(x.begin() + static_cast<std::ptrdiff_t>(b * per_seq),
                                x.begin() + static_cast<std::ptrdiff_t>((b + 1) * per_seq));
    const std::vector<float> yb(y.begin() + static_cast<std::ptrdiff_t>(b * per_seq),
                                y.begin() + static_cast<std::ptrdiff_t>((b + 1) * per_seq));
    EXPECT_LT(test::max_relative_error(
                  yb, rope_reference(xb, seq_len, heads, hd, sequences[b].pos, 10000.0, RopeLayout::HalfSplit)),
              1e-6)
        << "sequence " << b;
  }
}

// A table made for one theta gives way to another's: the angles follow the
// frequencies asked for, not the first ones the table held.
TEST(Rope, AnglesFollowTheFrequenciesAskedFor) {
  const int rows = 3, heads = 2, hd = 16, pos0 = 40;
  const auto x = test::random_floats(static_cast<std::size_t>(rows * heads * hd), 13);
  const SequenceStep sequence[] = {{0, pos0}};
  RopeAngles angles;
  for (const double theta : {10000.0, 500000.0, 10000.0}) {
    std::vector<float> y(x.size());
    rope(x.data(), rows, rows, heads, hd, sequence, RopeFrequencies{theta}, angles, RopeLayout::HalfSplit, y.data());
    EXPECT_LT(test::max_relative_error(y, rope_reference(x, rows, heads, hd, pos0, theta, RopeLayout::HalfSplit)), 1e-6)
        << "theta " << theta;
  }
}

TEST(Rope, LayoutsDifferAndPositionZeroIsIdentity) {
  const auto x = test::random_floats(8, 11);
  std::vector<float> a(8), b(8), z(8);
  const SequenceStep at3[] = {{0, 3}}, at0[] = {{0, 0}};
  RopeAngles angles;
  rope(x.data(), 1, 1, 1, 8, at3, RopeFrequencies{10000.0}, angles, RopeLayout::HalfSplit, a.data());
  rope(x.data(), 1, 1, 1, 8, at3, RopeFrequencies{10000.0}, angles, RopeLayout::Interleaved, b.data());
  EXPECT_NE(a, b);
  rope(x.data(), 1, 1, 1, 8, at0, RopeFrequencies{10000.0}, angles, RopeLayout::Interleaved, z.data());
  EXPECT_EQ(z, x);
}

}  // namespace
}  // namespace octet::cpu
