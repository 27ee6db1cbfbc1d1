// The JSON bodies `octet serve` accepts, parsed and checked before any work
// starts: OpenAI's chat completions, completions and embeddings, and octet's
// own classify. Anything wrong is an ApiError whose message names the field,
// answered as an OpenAI-style error object. Fields octet does not implement
// are refused by name when they would change the answer (n > 1, logprobs,
// tools, penalties); fields that change nothing here (model, user) are ignored.
#pragma once

#include "engine/session/sampler.h"
#include "engine/text/chat_format.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace octet::serve {

// An error answered to the client: its HTTP status, OpenAI's error type and
// the offending field ("" when none).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "", std::string type = "invalid_request_error")
      : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)), type_(std::move(type)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& type() const { return type_; }
  // {"error": {"message", "type", "param", "code"}}
  std::string body() const;

 private:
  int status_;
  std::string param_;
  std::string type_;
};

// What a generation request asks of the sampler and the stream.
struct GenerationFields {
  std::optional<int> max_tokens;  // absent: until EOS or the context is full
  SamplerOptions sampling;        // the server's defaults, overridden by the request
  bool seeded = false;            // the request gave "seed"
  std::vector<std::string> stop;  // up to 4 non-empty strings that end the answer (not included)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the token counts
  bool ignore_eos = false;     // EOS never sampled: the answer runs to max_tokens (as vLLM and llama.cpp's server)
};

struct ChatCompletionRequest {
  std::vector<ChatMessage> messages;
  GenerationFields fields;
};

struct CompletionRequest {
  std::string prompt;
  GenerationFields fields;
};

struct EmbeddingsRequest {
  std::vector<std::string> input;  // one or more texts
};

struct ClassifyRequest {
  std::vector<std::string> texts;
  int top_k = 0;  // > 0: also the k most likely labels with their probabilities
};

// Each throws ApiError (status 400) naming the field that is wrong.
ChatCompletionRequest parse_chat_completion(std::string_view body, const SamplerOptions& defaults);
CompletionRequest parse_completion(std::string_view body, const SamplerOptions& defaults);
EmbeddingsRequest parse_embeddings(std::string_view body);
ClassifyRequest parse_classify(std::string_view body);

}  // namespace octet::serve
