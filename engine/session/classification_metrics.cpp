#include "engine/session/classification_metrics.h"

#include "engine/core/error.h"

namespace octet {

ClassificationMetrics classification_metrics(const std::vector<int>& gold, const std::vector<int>& predicted,
                                             int n_classes) {
  if (gold.size() != predicted.size())
    fail("metrics: {} gold labels for {} predictions", gold.size(), predicted.size());
  if (n_classes <= 0) fail("metrics: {} classes", n_classes);
  const auto n = static_cast<std::size_t>(n_classes);
  ClassificationMetrics m;
  m.count = gold.size();
  m.confusion.assign(n, std::vector<std::size_t>(n, 0));
  std::size_t right = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] < 0 || gold[i] >= n_classes || predicted[i] < 0 || predicted[i] >= n_classes) {
      fail("metrics: class {} or {} is outside 0..{}", gold[i], predicted[i], n_classes - 1);
    }
    ++m.confusion[static_cast<std::size_t>(gold[i])][static_cast<std::size_t>(predicted[i])];
    right += gold[i] == predicted[i];
  }
  m.accuracy = m.count == 0 ? 0.0 : static_cast<double>(right) / static_cast<double>(m.count);
  m.classes.resize(n);
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t predicted_c = 0, gold_c = 0;
    for (std::size_t o = 0; o < n; ++o) {
      predicted_c += m.confusion[o][c];
      gold_c += m.confusion[c][o];
    }
    const double tp = static_cast<double>(m.confusion[c][c]);
    ClassMetrics& k = m.classes[c];
    k.support = gold_c;
    k.precision = predicted_c == 0 ? 0.0 : tp / static_cast<double>(predicted_c);
    k.recall = gold_c == 0 ? 0.0 : tp / static_cast<double>(gold_c);
    k.f1 = k.precision + k.recall == 0.0 ? 0.0 : 2.0 * k.precision * k.recall / (k.precision + k.recall);
  }
  return m;
}

}  // namespace octet
