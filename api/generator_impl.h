// What a Generator holds (shared with Chat, which borrows it): the loaded
// model, its tokenizer and backend, and the scheduler every request goes through.
#pragma once

#include "api/model_loading.h"
#include "engine/session/batch_scheduler.h"
#include "engine/session/sampler.h"
#include "engine/text/tokenizer_config.h"
#include "octet/generator.h"

#include <memory>
#include <mutex>
#include <vector>

namespace octet {

struct Generator::Impl {
  LoadedLibraryModel loaded;
  TokenizerConfig tokenizer_config;
  SamplerOptions sampling_defaults;  // octet's, overridden by generation_config.json
  std::unique_ptr<BatchScheduler> scheduler;
  // Held while a request is submitted and for the whole of perplexity(),
  // which runs its own executor on the backend once the scheduler is idle.
  mutable std::mutex exclusive;

  // `prompt` (ids, BOS included) generated as `options` say; `at_text_start`:
  // the first generated token begins the text (a leading space is dropped).
  TextStream submit(std::vector<std::int32_t> prompt, const GenerateOptions& options, bool at_text_start) const;
};

// Reads `stream` to its end, passing each piece to `on_text` (a false answer
// cancels the generation) and returns the result.
GenerationResult read_to_end(TextStream stream, const std::function<bool(std::string_view)>& on_text);

}  // namespace octet
