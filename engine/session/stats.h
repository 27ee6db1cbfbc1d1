// Summary statistics for benchmark samples.
#pragma once

#include <span>

namespace octet {

double mean(std::span<const double> samples);
// Sample standard deviation (n - 1); 0 for fewer than two samples.
double stddev(std::span<const double> samples);
// Percentile p in [0, 100] by linear interpolation between order statistics
// (NumPy's default). Throws octet::Error on an empty sample or p out of range.
double percentile(std::span<const double> samples, double p);

}  // namespace octet
