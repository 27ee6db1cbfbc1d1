#include "engine/session/sampler.h"

#include "engine/core/error.h"
#include "engine/io/json_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>

namespace octet {

SamplerOptions model_sampling_defaults(const std::string& model_path) {
  SamplerOptions o;
  const auto config = std::filesystem::path(model_path) / "generation_config.json";
  std::error_code ec;
  if (!std::filesystem::is_directory(model_path, ec) || !std::filesystem::exists(config, ec)) return o;
  const Json j = read_json_file(config.string());
  o.temperature = json_optional<float>(j, "temperature", o.temperature, config.string());
  o.top_p = json_optional<float>(j, "top_p", o.top_p, config.string());
  o.top_k = json_optional<int>(j, "top_k", o.top_k, config.string());
  return o;
}

void validate(const SamplerOptions& o) {
  if (!(o.temperature >= 0.0f)) fail("temperature must be >= 0, got {}", o.temperature);
  if (o.top_k < 0) fail("top-k must be >= 0, got {}", o.top_k);
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) fail("top-p must be in (0, 1], got {}", o.top_p);
  if (!(o.repetition_penalty > 0.0f)) fail("repetition penalty must be > 0, got {}", o.repetition_penalty);
  if (o.repetition_window < 0) fail("repetition window must be >= 0, got {}", o.repetition_window);
}

bool Sampler::is_greedy() const {
  return options_.temperature == 0.0f && (options_.repetition_penalty == 1.0f || options_.repetition_window == 0);
}

std::int32_t argmax(std::span<const float> values) {
  // Two passes, the first vectorized: the largest value (a NaN fails every
  // comparison, so it never wins), then its first position. One branchy pass
  // took 0.6 ms per step for 8 rows of SmolLM2's 49152 logits.
  const float* v = values.data();
  const std::size_t n = values.size();
  float best = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : best)
  for (std::size_t i = 0; i < n; ++i) best = v[i] > best ? v[i] : best;
  const auto at = std::find(values.begin(), values.end(), best);  // none: only NaNs
  return at != values.end() ? static_cast<std::int32_t>(at - values.begin()) : -1;
}

Sampler::Sampler(const SamplerOptions& options, std::int64_t vocab_size) : options_(options), rng_(options.seed) {
  validate(options);
  order_.resize(static_cast<std::size_t>(vocab_size));
  probs_.resize(static_cast<std::size_t>(vocab_size));
  penalised_.resize(static_cast<std::size_t>(vocab_size));
}

std::int32_t Sampler::sample(std::span<float> logits, std::span<const std::int32_t> recent) {
  if (logits.size() != order_.size()) fail("sampler: {} logits for a vocabulary of {}", logits.size(), order_.size());
  // A NaN would also break the sort's ordering below (undefined behaviour).
  const auto broken = std::find_if(logits.begin(), logits.end(), [](float v) {
    return std::isnan(v) || v == std::numeric_limits<float>::infinity();
  });
  if (broken != logits.end()) {
    fail("sampler: logit {} is {}: the model's weights or activations are not finite numbers", broken - logits.begin(),
         *broken);
  }
  if (options_.repetition_penalty != 1.0f) {
    const std::size_t window = std::min(recent.size(), static_cast<std::size_t>(options_.repetition_window));
    ++stamp_;
    for (auto id : recent.last(window)) {
      if (id < 0 || static_cast<std::size_t>(id) >= logits.size()) continue;
      auto& seen = penalised_[static_cast<std::size_t>(id)];
      if (seen == stamp_) continue;  // once per distinct token
      seen = stamp_;
      // As in CTRL and llama.cpp: shrink positive logits, push negative ones further down.
      float& l = logits[static_cast<std::size_t>(id)];
      l = l > 0 ? l / options_.repetition_penalty : l * options_.repetition_penalty;
    }
  }
  if (options_.temperature == 0.0f) return argmax(logits);

  // Candidates sorted by logit, cut to top-k.
  std::iota(order_.begin(), order_.end(), 0);
  const std::size_t k = options_.top_k > 0
                            ? std::min<std::size_t>(static_cast<std::size_t>(options_.top_k), order_.size())
                            : order_.size();
  const auto by_logit = [&](std::int32_t a, std::int32_t b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)] ||
           (logits[static_cast<std::size_t>(a)] == logits[static_cast<std::size_t>(b)] && a < b);
  };
  std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k), order_.end(), by_logit);

  // Softmax over the candidates at this temperature, in double for the sum.
  const float max_logit = logits[static_cast<std::size_t>(order_[0])];
  if (max_logit == -std::numeric_limits<float>::infinity()) fail("sampler: every logit is -inf: nothing can be drawn");
  double total = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    probs_[i] = std::exp((logits[static_cast<std::size_t>(order_[i])] - max_logit) / options_.temperature);
    total += probs_[i];
  }
  // Top-p: the smallest prefix whose probability reaches top_p.
  std::size_t n = k;
  if (options_.top_p < 1.0f) {
    double cumulative = 0.0;
    for (std::size_t i = 0; i < k; ++i) {
      cumulative += probs_[i] / total;
      if (cumulative >= options_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  double kept = 0.0;
  for (std::size_t i = 0; i < n; ++i) kept += probs_[i];
  // A uniform draw in [0, kept) with 53 random bits, portable across standard libraries
  // (std::uniform_real_distribution's algorithm is not fixed by the standard).
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * kept;
  double acc = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    acc += probs_[i];
    if (u < acc) return order_[i];
  }
  return order_[n - 1];
}

}  // namespace octet
