#include "engine/perplexity.h"

#include "engine/error.h"
#include "engine/executor.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace octet {

namespace {

// log_softmax of one row, in double.
void log_softmax(const float* logits, std::size_t n, std::vector<double>& out) {
  const double mx = *std::max_element(logits, logits + n);
  double sum = 0;
  for (std::size_t j = 0; j < n; ++j) sum += std::exp(logits[j] - mx);
  const double log_z = mx + std::log(sum);
  for (std::size_t j = 0; j < n; ++j) out[j] = logits[j] - log_z;
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
      log_softmax(logits.data<float>() + t * vocab, vocab, lp);
      nll.add(-lp[next]);
      if (logits_other == nullptr) continue;
      log_softmax(logits_other->data<float>() + t * vocab, vocab, lq);
      nll_other.add(-lq[next]);
      double kl = 0;
      for (std::size_t j = 0; j < vocab; ++j) kl += std::exp(lp[j]) * (lp[j] - lq[j]);
      kld.add(std::max(kl, 0.0));  // a tiny negative is rounding
      agree +=
          std::max_element(lp.begin(), lp.end()) - lp.begin() == std::max_element(lq.begin(), lq.end()) - lq.begin();
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
