// Text generation with a decoder (Llama, Qwen, GPT-2, ... families).
//
// Thread safety: a Generator may be used from many threads at once. Its
// requests share one continuous-batching scheduler: with
// ModelOptions::parallel = N, up to N of them are decoded together and the
// rest wait their turn. A TextStream belongs to one thread at a time.
#pragma once

#include "octet/export.h"

#include "octet/model.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace octet {

// Unset fields take the model's generation_config.json values, else octet's
// defaults (temperature 0.8, top-k 40, top-p 0.95), as on the command line.
struct SamplingOptions {
  std::optional<float> temperature;   // 0 = greedy (always the most likely token)
  std::optional<int> top_k;           // 0 = no limit
  std::optional<float> top_p;         // 1 = no limit
  float repetition_penalty = 1.0f;    // 1 = off
  std::optional<std::uint64_t> seed;  // unset: drawn at random
};

struct GenerateOptions {
  int max_tokens = 256;
  SamplingOptions sampling;
  // Put BOS before the prompt. Unset: tokenizer_config.json's add_bos_token, else the tokenizer's default.
  std::optional<bool> add_bos;
  // Read special tokens spelled in the prompt ("<|im_start|>") as those tokens, not as text.
  bool special_tokens = false;
};

struct GenerationResult {
  std::string text;         // the generated text, without the prompt
  std::string stop_reason;  // "eos", "length", "context_full" or "interrupted"
  int prompt_tokens = 0;
  int generated_tokens = 0;  // EOS not counted
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

struct PerplexityScore {
  double perplexity = 0;
  double standard_error = 0;  // of the perplexity, tokens taken as independent
  std::int64_t tokens = 0;    // next-token predictions scored
  int windows = 0;
};

// The text of one generation, piece by piece, as it is decoded. Destroying
// the stream (or cancel()) stops the generation and frees its place.
class OCTET_EXPORT TextStream {
 public:
  struct State;
  explicit TextStream(std::unique_ptr<State> state);
  ~TextStream();
  TextStream(TextStream&&) noexcept;
  TextStream& operator=(TextStream&&) noexcept;

  // The next piece of text (one or more whole UTF-8 characters), or nullopt
  // once the generation has ended. Blocks while the next token is computed.
  // Throws octet::Error when the generation failed.
  std::optional<std::string> next();
  void cancel();
  // After next() returned nullopt: the whole text, why it stopped, token counts and times.
  const GenerationResult& result() const;

 private:
  std::unique_ptr<State> state_;
};

class OCTET_EXPORT Generator {
 public:
  // Loads the model and its tokenizer. Throws octet::Error naming the file and
  // what is wrong, or the option that is out of range.
  explicit Generator(const ModelOptions& options = {});
  ~Generator();
  Generator(Generator&&) noexcept;
  Generator& operator=(Generator&&) noexcept;

  // Continues `prompt`. `on_text` (optional) receives each piece as it is
  // decoded; returning false stops the generation (stop_reason "interrupted").
  // Throws ContextFullError when the prompt leaves no room to generate.
  GenerationResult generate(std::string_view prompt, const GenerateOptions& options = {},
                            const std::function<bool(std::string_view)>& on_text = {}) const;
  // The same generation, pulled piece by piece.
  TextStream stream(std::string_view prompt, const GenerateOptions& options = {}) const;

  // Perplexity of `text` in windows of `window` tokens (0: the model's
  // context, at most 512), each opened by BOS, as `octet perplexity` scores it.
  // Waits until no generation is running.
  PerplexityScore perplexity(std::string_view text, int window = 0) const;

  const ModelSummary& summary() const;

  struct Impl;

 private:
  friend class Chat;
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet
