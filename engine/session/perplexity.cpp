#include "engine/session/perplexity.h"

#include "engine/core/error.h"
#include "engine/core/executor.h"
#include "engine/session/sampler.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

namespace octet {

namespace {

// log_softmax of one row, in double. A NaN or infinite logit (a broken
// checkpoint, or activations that overflowed) would turn every figure into
// NaN; it stops the run instead, naming the model, window and position.
void log_softmax(std::span<const float> logits, std::vector<double>& out, const char* model, int window,
                 std::size_t position) {
  const auto bad = std::find_if(logits.begin(), logits.end(), [](float v) { return !std::isfinite(v); });
  if (bad != logits.end()) {
    fail(
        "perplexity: the {}'s logit {} at window {}, position {} is {}: its weights or activations are not finite "
        "numbers",
        model, bad - logits.begin(), window + 1, position, *bad);
  }
  const double mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float v : logits) sum += std::exp(v - mx);
  const double log_z = mx + std::log(sum);
  for (std::size_t j = 0; j < logits.size(); ++j) out[j] = logits[j] - log_z;
}

// Running mean and variance (Welford), for the standard errors.
struct Moments {
  std::int64_t n = 0;
  double mean = 0, m2 = 0;
  void add(double x) {
    ++n;
    const double d = x - mean;
    mean += d / static_cast<double>(n);
    m2 += d * (x - mean);
  }
  double stderr_of_mean() const {
    return n > 1 ? std::sqrt(m2 / static_cast<double>(n - 1) / static_cast<double>(n)) : 0.0;
  }
};

}  // namespace

PerplexityResult measure_perplexity(const Model& model, const Placement& placement, std::span<const std::int32_t> text,
                                    const PerplexityRequest& request, const Model* compared,
                                    const Placement* compared_placement, const ProgressCallback& progress) {
  const int n_ctx = request.n_ctx;
  if (n_ctx < 2) fail("perplexity needs a context of at least 2 tokens, got {}", n_ctx);
  const std::size_t per_window = static_cast<std::size_t>(n_ctx - 1);
  int windows = static_cast<int>(text.size() / per_window);
  if (request.max_windows > 0) windows = std::min(windows, request.max_windows);
  if (windows == 0) {
    fail("the text has {} tokens, fewer than one window of {} (lower --ctx)", text.size(), per_window);
  }
  const auto vocab = static_cast<std::size_t>(model.info().vocab_size);
  if (compared != nullptr && static_cast<std::size_t>(compared->info().vocab_size) != vocab) {
    fail("the compared model's vocabulary differs");
  }

  Executor base(model, placement, n_ctx);
  std::optional<Executor> other;
  if (compared != nullptr) other.emplace(*compared, *compared_placement, n_ctx);
  std::vector<std::int32_t> window(static_cast<std::size_t>(n_ctx));
  std::vector<double> lp(vocab), lq(vocab);
  Moments nll, nll_other, kld;
  std::int64_t agree = 0;
  for (int w = 0; w < windows; ++w) {
    window[0] = request.bos_id;
    std::copy_n(text.begin() + static_cast<std::ptrdiff_t>(w * per_window), per_window, window.begin() + 1);
    const Tensor& logits = base.forward(window, 0, true);
    const Tensor* logits_other = other ? &other->forward(window, 0, true) : nullptr;
    for (std::size_t t = 0; t + 1 < window.size(); ++t) {
      const auto next = static_cast<std::size_t>(window[t + 1]);
      const std::span<const float> row(logits.data<float>() + t * vocab, vocab);
      log_softmax(row, lp, compared != nullptr ? "reference model" : "model", w, t);
      nll.add(-lp[next]);
      if (logits_other == nullptr) continue;
      const std::span<const float> row_other(logits_other->data<float>() + t * vocab, vocab);
      log_softmax(row_other, lq, "compared model", w, t);
      nll_other.add(-lq[next]);
      double kl = 0;
      for (std::size_t j = 0; j < vocab; ++j) kl += std::exp(lp[j]) * (lp[j] - lq[j]);
      kld.add(std::max(kl, 0.0));                 // a tiny negative is rounding
      agree += argmax(row) == argmax(row_other);  // greedy decoding's rule: the first of equal largest
    }
    if (progress) progress(w + 1, windows);
  }
  PerplexityResult r;
  r.tokens = nll.n;
  r.windows = windows;
  r.nll_mean = nll.mean;
  r.perplexity = std::exp(nll.mean);
  r.ppl_stderr = r.perplexity * nll.stderr_of_mean();  // delta method
  if (other) {
    ComparisonStats c;
    c.perplexity = std::exp(nll_other.mean);
    c.ppl_stderr = c.perplexity * nll_other.stderr_of_mean();
    c.kld_mean = kld.mean;
    c.kld_stderr = kld.stderr_of_mean();
    c.top1_agreement = static_cast<double>(agree) / static_cast<double>(nll.n);
    r.compare = c;
  }
  return r;
}

}  // namespace octet
