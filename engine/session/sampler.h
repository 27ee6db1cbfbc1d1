// Picks the next token from logits. Composed of small steps applied in order:
// repetition penalty -> temperature (0 = greedy) -> top-k -> top-p -> draw.
// A fixed seed makes a run reproducible; a draw allocates nothing.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace octet {

struct SamplerOptions {
  float temperature = 0.8f;         // 0 picks the most likely token
  int top_k = 40;                   // 0 = no limit
  float top_p = 0.95f;              // 1 = no limit
  float repetition_penalty = 1.0f;  // 1 = off; >1 discourages recent tokens (CTRL paper)
  int repetition_window = 64;       // how many recent tokens the penalty looks at
  std::uint64_t seed = 0;
};

// Throws octet::Error when an option is out of range, naming it.
void validate(const SamplerOptions& options);

// octet's defaults overridden by the temperature, top_p and top_k of the
// model directory's generation_config.json, where it has one.
SamplerOptions model_sampling_defaults(const std::string& model_path);

class Sampler {
 public:
  Sampler(const SamplerOptions& options, std::int64_t vocab_size);
  // `logits` is modified (penalty, temperature). `recent` are the last tokens of the context.
  std::int32_t sample(std::span<float> logits, std::span<const std::int32_t> recent);
  const SamplerOptions& options() const { return options_; }
  // Whether sample() is the argmax of the raw logits (temperature 0, no
  // repetition penalty), which a backend can take itself.
  bool is_greedy() const;

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::int32_t> order_;  // candidate ids, reused per draw
  std::vector<float> probs_;
  std::vector<std::uint64_t> penalised_;  // per id: the draw that last penalised it
  std::uint64_t stamp_ = 0;
};

// Index of the largest value (the first one on ties). A NaN never wins; a
// row of NaNs only gives -1 (a model whose numbers broke: callers refuse it).
// The CUDA backend's Argmax follows the same rule.
std::int32_t argmax(std::span<const float> values);

}  // namespace octet
