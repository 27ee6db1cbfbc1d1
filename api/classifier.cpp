#include "octet/classifier.h"

#include "api/model_loading.h"
#include "engine/core/error.h"
#include "engine/session/encoder_session.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <optional>

namespace octet {

struct Classifier::Impl {
  LoadedLibraryModel loaded;
  std::optional<EncoderSession> session;
  mutable std::mutex running;  // one call at a time uses the session
};

Classifier::Classifier(const ModelOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->loaded = load_library_model(options, ModelKind::Encoder);
  impl_->session.emplace(*impl_->loaded.model, Placement(*impl_->loaded.backend), *impl_->loaded.tokenizer,
                         read_tokenizer_config(impl_->loaded.summary.path));
}

Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

bool Classifier::has_head() const { return !impl_->loaded.summary.labels.empty(); }

const ModelSummary& Classifier::summary() const { return impl_->loaded.summary; }

std::vector<std::vector<float>> Classifier::outputs(const std::vector<std::string>& texts, int batch) const {
  if (batch < 1) fail("batch must be at least 1 text, got {}", batch);
  std::lock_guard lock(impl_->running);
  EncoderSession& session = *impl_->session;
  std::vector<FramedText> framed;
  framed.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    try {
      framed.push_back(session.frame(texts[i]));
    } catch (const Error& e) {
      fail("text {}: {}", i, e.what());
    }
  }
  auto rows = session.run(framed, batch);
  // As `octet classify`: a NaN or infinity (a broken checkpoint) is refused, never reported as a result.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto bad = std::find_if(rows[i].begin(), rows[i].end(), [](float v) { return !std::isfinite(v); });
    if (bad != rows[i].end()) {
      fail("text {}: the model's output {} is {}: its weights or activations are not finite numbers", i,
           bad - rows[i].begin(), *bad);
    }
  }
  return rows;
}

std::vector<Classification> Classifier::classify(const std::vector<std::string>& texts, int batch) const {
  const std::vector<std::string>& labels = impl_->loaded.summary.labels;
  if (labels.empty()) {
    fail("{}: this encoder has no classification head; outputs() gives its embeddings", impl_->loaded.summary.path);
  }
  std::vector<Classification> results;
  results.reserve(texts.size());
  for (const auto& row : outputs(texts, batch)) {
    const std::vector<double> p = softmax(row);
    std::vector<std::size_t> order(p.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    // Stable: on a tie the first class wins, as in `octet classify`.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
    Classification c{labels[order[0]], p[order[0]], {}};
    for (const std::size_t k : order) c.probabilities.emplace_back(labels[k], p[k]);
    results.push_back(std::move(c));
  }
  return results;
}

}  // namespace octet
