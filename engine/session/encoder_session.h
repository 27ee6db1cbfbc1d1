// Runs an encoder over many texts: frames each one as the model expects
// ([CLS] a [SEP] (b [SEP]), token types, truncation), then runs them in
// batches of similar length (padding is masked out, so it never changes a
// result) and gives back one output row per text, in input order.
#pragma once

#include "engine/core/executor.h"
#include "engine/core/model.h"
#include "engine/core/placement.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace octet {

struct FramedText {
  std::vector<std::int32_t> ids;    // [CLS] ... [SEP]
  std::vector<std::int32_t> types;  // 0 for the first text, 1 for the second
};

class EncoderSession {
 public:
  // Throws octet::Error when the model is not an encoder or the tokenizer
  // lacks the special tokens the framing needs.
  EncoderSession(const Model& model, const Placement& placement, const Tokenizer& tokenizer,
                 const TokenizerConfig& config);

  // Throws on invalid UTF-8 or an empty text. Pairs are truncated longest
  // first, as Hugging Face's tokenizers do, to the model's positions.
  FramedText frame(std::string_view a, std::optional<std::string_view> b = std::nullopt) const;

  // One output row (class logits, or the embedding) per text, in the order
  // given. `progress(done)` is called after each batch.
  using Progress = std::function<void(std::size_t done)>;
  std::vector<std::vector<float>> run(std::span<const FramedText> texts, int batch_size, const Progress& progress = {});

  int max_tokens() const { return max_tokens_; }

 private:
  const Model& model_;
  const Tokenizer& tokenizer_;
  Executor executor_;
  bool lower_case_;
  std::int32_t cls_ = -1, sep_ = -1;
  int max_tokens_;
};

// Probabilities from logits (a numerically stable softmax, in double).
std::vector<double> softmax(std::span<const float> logits);

}  // namespace octet
