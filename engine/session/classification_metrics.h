// What a classifier got right: accuracy, per-class precision, recall and F1,
// and the confusion matrix, from (gold, predicted) class pairs.
#pragma once

#include <cstddef>
#include <vector>

namespace octet {

struct ClassMetrics {
  double precision = 0.0;   // of the texts predicted as this class, the fraction that are (0 when none)
  double recall = 0.0;      // of the texts of this class, the fraction found (0 when none)
  double f1 = 0.0;          // their harmonic mean (0 when both are 0)
  std::size_t support = 0;  // texts of this class
};

struct ClassificationMetrics {
  std::size_t count = 0;
  double accuracy = 0.0;
  std::vector<ClassMetrics> classes;
  std::vector<std::vector<std::size_t>> confusion;  // [gold][predicted]
};

// Throws octet::Error when a class is outside 0..n_classes-1 or the lists differ in length.
ClassificationMetrics classification_metrics(const std::vector<int>& gold, const std::vector<int>& predicted,
                                             int n_classes);

}  // namespace octet
