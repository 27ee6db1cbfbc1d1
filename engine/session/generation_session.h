// Room engine/session: the jobs users run (generation, chat, encoder sessions,
// perplexity, benchmarks). The top room: it may include every other room of engine/.
//
// One conversation with a decoder: the token history, the executor with its
// KV cache, and the loop that feeds a prompt in one batched forward pass
// (prefill) and then decodes token by token.
#pragma once

#include "engine/core/executor.h"
#include "engine/core/model.h"
#include "engine/session/sampler.h"

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace octet {

enum class StopReason { Eos, Length, ContextFull, Interrupted };
std::string_view stop_reason_name(StopReason reason);

// `n_ctx`, or the model's context length when `n_ctx` <= 0; throws octet::Error when it exceeds the model's.
int resolve_context_length(const Model& model, int n_ctx);

struct GenerationStats {
  StopReason reason = StopReason::Length;
  int prompt_tokens = 0;
  int generated_tokens = 0;  // shown to the caller (EOS not counted)
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
};

// Called with each new token; return false to stop instead (Ctrl-C): that
// token is then dropped, neither shown nor kept in the context.
using TokenCallback = std::function<bool(std::int32_t)>;

class GenerationSession {
 public:
  // `n_ctx` <= 0 uses the model's context length; larger values are refused.
  GenerationSession(const Model& model, const Placement& placement, int n_ctx);

  int n_ctx() const { return executor_.n_ctx(); }
  int n_past() const { return static_cast<int>(history_.size()); }
  std::span<const std::int32_t> history() const { return history_; }
  const Model& model() const { return model_; }
  void reset();

  // Feeds `ids` (after any token generated but not yet fed) in one forward
  // pass and returns the logits of the last one. Throws octet::Error, before
  // touching the cache, when they do not fit in the context.
  std::span<float> append(std::span<const std::int32_t> ids);
  // Like append, but returns the most likely next token (the first on ties),
  // which the backend finds where the logits are.
  std::int32_t append_greedy(std::span<const std::int32_t> ids);
  // Like append, but returns logits [n, vocab] for every fed token (no pending token allowed).
  const Tensor& append_all_logits(std::span<const std::int32_t> ids);

  // Appends `prompt`, then samples up to `max_tokens`, calling `on_token`
  // for each. The last sampled token is kept and fed by the next append, so
  // the cache always holds everything the model said.
  GenerationStats generate(std::span<const std::int32_t> prompt, int max_tokens, Sampler& sampler,
                           const TokenCallback& on_token);

 private:
  void check_fits(std::size_t n) const;
  void stage(std::span<const std::int32_t> ids);  // feed_ = pending token + ids, checked against the context
  void commit();                                  // feed_ joins the history
  bool is_eos(std::int32_t id) const;

  const Model& model_;
  Executor executor_;
  std::vector<std::int32_t> history_;  // tokens in the KV cache
  std::vector<std::int32_t> feed_;     // reused buffer: pending token + new ids
  std::vector<float> logits_;          // [vocab] of the last fed token
  std::int32_t pending_ = -1;          // sampled but not yet fed
};

}  // namespace octet
