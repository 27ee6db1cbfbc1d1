#include "octet/generator.h"

#include "api/generator_impl.h"
#include "engine/core/error.h"
#include "engine/session/perplexity.h"
#include "engine/text/utf8.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace octet {

// One request's stream, turned from token ids into text.
struct TextStream::State {
  std::shared_ptr<RequestStream> events;
  StreamDecoder decoder;
  GenerationResult result;
  bool finished = false;
  bool cancelled = false;
};

TextStream::TextStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
TextStream::~TextStream() {
  if (state_ && !state_->finished) state_->events->cancel();
}
TextStream::TextStream(TextStream&&) noexcept = default;
TextStream& TextStream::operator=(TextStream&& other) noexcept {
  if (this != &other) {
    if (state_ && !state_->finished) state_->events->cancel();
    state_ = std::move(other.state_);
  }
  return *this;
}

void TextStream::cancel() {
  if (!state_->finished) {
    state_->cancelled = true;
    state_->events->cancel();
  }
}

std::optional<std::string> TextStream::next() {
  State& s = *state_;
  while (!s.finished) {
    // A day per wait: a deadline of time_point::max() overflows inside wait_until.
    auto event = s.events->next(std::chrono::steady_clock::now() + std::chrono::hours(24));
    if (!event) continue;
    if (event->kind == StreamEvent::Kind::Token) {
      if (s.cancelled) continue;  // computed before the cancel arrived: not shown
      std::string piece = s.decoder.push(event->id);
      if (piece.empty()) continue;  // part of a character
      s.result.text += piece;
      return piece;
    }
    s.finished = true;
    if (!event->error.empty()) throw Error(event->error);
    const GenerationStats& stats = event->stats;
    s.result.stop_reason = std::string(stop_reason_name(s.cancelled ? StopReason::Interrupted : stats.reason));
    s.result.prompt_tokens = stats.prompt_tokens;
    s.result.generated_tokens = stats.generated_tokens;
    s.result.prefill_seconds = stats.prefill_seconds;
    s.result.decode_seconds = stats.decode_seconds;
    if (!s.cancelled) {
      std::string rest = s.decoder.flush();
      if (!rest.empty()) {
        s.result.text += rest;
        return rest;
      }
    }
  }
  return std::nullopt;
}

const GenerationResult& TextStream::result() const {
  if (!state_->finished) fail("the generation has not ended: read the stream until next() gives nothing");
  return state_->result;
}

GenerationResult read_to_end(TextStream stream, const std::function<bool(std::string_view)>& on_text) {
  while (auto piece = stream.next()) {
    if (on_text && !on_text(*piece)) stream.cancel();
  }
  return stream.result();
}

namespace {

SamplerOptions resolve_sampling(const SamplerOptions& defaults, const SamplingOptions& asked) {
  SamplerOptions o = defaults;
  if (asked.temperature) o.temperature = *asked.temperature;
  if (asked.top_k) o.top_k = *asked.top_k;
  if (asked.top_p) o.top_p = *asked.top_p;
  o.repetition_penalty = asked.repetition_penalty;
  o.seed = asked.seed ? *asked.seed : std::random_device{}();
  validate(o);
  return o;
}

}  // namespace

TextStream Generator::Impl::submit(std::vector<std::int32_t> prompt, const GenerateOptions& options,
                                   bool at_text_start) const {
  if (options.max_tokens < 1) fail("max_tokens must be at least 1, got {}", options.max_tokens);
  GenerationRequest request{std::move(prompt), options.max_tokens,
                            resolve_sampling(sampling_defaults, options.sampling)};
  std::shared_ptr<RequestStream> events;
  {
    std::lock_guard lock(exclusive);
    events = scheduler->submit(std::move(request));
  }
  return TextStream(std::unique_ptr<TextStream::State>(
      new TextStream::State{std::move(events), StreamDecoder(*loaded.tokenizer, at_text_start), {}, false, false}));
}

Generator::Generator(const ModelOptions& options) : impl_(std::make_unique<Impl>()) {
  if (options.parallel < 1) fail("parallel must be at least 1, got {}", options.parallel);
  if (options.context < 0) fail("context must be >= 0 (0 = the model's maximum), got {}", options.context);
  impl_->loaded = load_library_model(options, ModelKind::Decoder);
  const std::string& path = impl_->loaded.summary.path;
  impl_->tokenizer_config = read_tokenizer_config(path);
  impl_->sampling_defaults = model_sampling_defaults(path);
  SchedulerOptions scheduling;
  scheduling.parallel = options.parallel;
  scheduling.n_ctx = options.context;
  // A library's callers queue as much as they like; they wait, they are never refused.
  scheduling.max_queue = 1 << 20;
  impl_->scheduler =
      std::make_unique<BatchScheduler>(*impl_->loaded.model, Placement(*impl_->loaded.backend), scheduling);
}

Generator::~Generator() = default;
Generator::Generator(Generator&&) noexcept = default;
Generator& Generator::operator=(Generator&&) noexcept = default;

TextStream Generator::stream(std::string_view prompt, const GenerateOptions& options) const {
  require_utf8(prompt, "the prompt");
  const Model& model = *impl_->loaded.model;
  const Tokenizer& tokenizer = *impl_->loaded.tokenizer;
  std::vector<std::int32_t> ids;
  const bool add_bos = options.add_bos.value_or(impl_->tokenizer_config.add_bos.value_or(tokenizer.default_add_bos()));
  if (add_bos && model.info().bos_id >= 0) ids.push_back(model.info().bos_id);
  const auto text_ids = options.special_tokens ? tokenizer.encode_with_specials(prompt) : tokenizer.encode(prompt);
  ids.insert(ids.end(), text_ids.begin(), text_ids.end());
  if (ids.empty()) fail("the prompt is empty and no BOS is put before it: nothing to start from");
  return impl_->submit(std::move(ids), options, text_ids.empty());
}

GenerationResult Generator::generate(std::string_view prompt, const GenerateOptions& options,
                                     const std::function<bool(std::string_view)>& on_text) const {
  return read_to_end(stream(prompt, options), on_text);
}

PerplexityScore Generator::perplexity(std::string_view text, int window) const {
  require_utf8(text, "the text");
  const Model& model = *impl_->loaded.model;
  const auto tokens = impl_->loaded.tokenizer->encode(text);
  const std::int64_t max = model.info().context_length;
  if (window < 0) fail("window must be >= 0 (0 = the model's context, at most 512), got {}", window);
  if (window > max) fail("window of {} tokens exceeds the model's context of {}", window, max);
  const int n_ctx = window > 0 ? window : static_cast<int>(std::min<std::int64_t>(max, 512));
  std::lock_guard lock(impl_->exclusive);
  impl_->scheduler->wait_idle(std::chrono::steady_clock::now() + std::chrono::hours(24 * 365));
  const PerplexityResult r = measure_perplexity(model, Placement(*impl_->loaded.backend), tokens,
                                                {n_ctx, 0, model.info().bos_id}, nullptr, nullptr);
  return {r.perplexity, r.ppl_stderr, r.tokens, r.windows};
}

const ModelSummary& Generator::summary() const { return impl_->loaded.summary; }

}  // namespace octet
