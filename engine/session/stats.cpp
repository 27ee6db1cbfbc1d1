#include "engine/session/stats.h"

#include "engine/core/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace octet {

double mean(std::span<const double> s) {
  if (s.empty()) fail("mean of an empty sample");
  return std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
}

double stddev(std::span<const double> s) {
  if (s.size() < 2) return 0.0;
  const double m = mean(s);
  double ss = 0;
  for (double x : s) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(s.size() - 1));
}

double percentile(std::span<const double> s, double p) {
  if (s.empty()) fail("percentile of an empty sample");
  if (!(p >= 0 && p <= 100)) fail("percentile {} is outside [0, 100]", p);
  std::vector<double> v(s.begin(), s.end());
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (rank - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace octet
