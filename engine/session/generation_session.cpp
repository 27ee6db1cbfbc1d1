#include "engine/session/generation_session.h"

#include "engine/core/error.h"

#include <algorithm>
#include <chrono>

namespace octet {

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::Eos:
      return "eos";
    case StopReason::Length:
      return "length";
    case StopReason::ContextFull:
      return "context_full";
    case StopReason::Interrupted:
      return "interrupted";
  }
  return "unknown";
}

int resolve_context_length(const Model& model, int n_ctx) {
  const auto max = model.info().context_length;
  if (n_ctx <= 0) return static_cast<int>(max);
  if (n_ctx > max) fail("context of {} tokens exceeds the model's maximum of {}", n_ctx, max);
  return n_ctx;
}

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

GenerationSession::GenerationSession(const Model& model, const Placement& placement, int n_ctx)
    : model_(model), executor_(model, placement, resolve_context_length(model, n_ctx)) {
  history_.reserve(static_cast<std::size_t>(executor_.n_ctx()));
  feed_.reserve(static_cast<std::size_t>(executor_.n_ctx()));
  logits_.resize(static_cast<std::size_t>(model.info().vocab_size));
}

void GenerationSession::reset() {
  history_.clear();
  pending_ = -1;
}

void GenerationSession::check_fits(std::size_t n) const {
  const std::size_t total = history_.size() + n;
  if (total > static_cast<std::size_t>(n_ctx())) {
    throw ContextFullError(fmt::format("{} tokens do not fit the context: {} of {} positions are used, {} free", n,
                                       history_.size(), n_ctx(), static_cast<std::size_t>(n_ctx()) - history_.size()));
  }
}

bool GenerationSession::is_eos(std::int32_t id) const {
  const auto& eos = model_.info().eos_ids;
  return std::find(eos.begin(), eos.end(), id) != eos.end();
}

void GenerationSession::stage(std::span<const std::int32_t> ids) {
  feed_.clear();
  if (pending_ >= 0) feed_.push_back(pending_);
  feed_.insert(feed_.end(), ids.begin(), ids.end());
  if (feed_.empty()) fail("nothing to feed: give at least one token");
  check_fits(feed_.size());
}

void GenerationSession::commit() {
  history_.insert(history_.end(), feed_.begin(), feed_.end());
  pending_ = -1;
}

std::span<float> GenerationSession::append(std::span<const std::int32_t> ids) {
  stage(ids);
  const Tensor& out = executor_.forward(feed_, n_past(), false);
  commit();
  std::copy_n(out.data<float>(), logits_.size(), logits_.begin());
  return logits_;
}

std::int32_t GenerationSession::append_greedy(std::span<const std::int32_t> ids) {
  stage(ids);
  const std::int32_t id = executor_.forward_greedy(feed_, n_past()).front();
  if (id < 0) fail("the model's logits are all NaN: its weights or activations are not finite numbers");
  commit();
  return id;
}

const Tensor& GenerationSession::append_all_logits(std::span<const std::int32_t> ids) {
  if (pending_ >= 0) fail("append_all_logits: a generated token is still pending");
  if (ids.empty()) fail("nothing to feed: give at least one token");
  check_fits(ids.size());
  const Tensor& out = executor_.forward(ids, n_past(), true);
  history_.insert(history_.end(), ids.begin(), ids.end());
  return out;
}

GenerationStats GenerationSession::generate(std::span<const std::int32_t> prompt, int max_tokens, Sampler& sampler,
                                            const TokenCallback& on_token) {
  GenerationStats stats;
  stats.prompt_tokens = static_cast<int>(prompt.size());
  // Greedy decoding without a penalty needs no logits here: the backend picks
  // the token where the logits are, and from a GPU only its id comes back.
  const bool greedy = sampler.is_greedy();
  const auto next = [&](std::span<const std::int32_t> ids) {
    return greedy ? append_greedy(ids) : sampler.sample(append(ids), history_);
  };
  auto t0 = std::chrono::steady_clock::now();
  std::int32_t id = next(prompt);
  stats.prefill_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < max_tokens; ++i) {
    pending_ = id;
    if (is_eos(id)) {
      stats.reason = StopReason::Eos;
      break;
    }
    if (!on_token(id)) {
      pending_ = -1;
      stats.reason = StopReason::Interrupted;
      break;
    }
    ++stats.generated_tokens;
    if (n_past() >= n_ctx()) {  // no position left to feed the pending token
      stats.reason = StopReason::ContextFull;
      break;
    }
    if (i + 1 == max_tokens) break;  // Length
    id = next({});
  }
  stats.decode_seconds = seconds_since(t0);
  return stats;
}

}  // namespace octet
