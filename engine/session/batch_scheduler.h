// Continuous batching: many generation requests share one executor whose KV
// cache has `parallel` slots. A worker thread admits queued requests into free
// slots, prefills each new prompt in chunks (one chunk per turn of its loop,
// so that running sequences keep decoding while a long prompt is read), and
// decodes every running sequence in one step, one token each, each at its own
// position in its own slot. A sequence that finishes or is cancelled leaves at
// once and frees its slot for the next request; the others never wait for it.
//
// A sequence's tokens are the same whether it runs alone or beside others:
// every kernel treats sequences independently (Executor.MixedPositionsAndSlots-
// EqualEachSequenceAlone); only float rounding in matmuls of other shapes differs.
#pragma once

#include "engine/core/error.h"
#include "engine/core/executor.h"
#include "engine/core/model.h"
#include "engine/core/placement.h"
#include "engine/session/generation_session.h"
#include "engine/session/sampler.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace octet {

struct GenerationRequest {
  std::vector<std::int32_t> prompt;  // BOS and chat template already applied
  int max_tokens = 16;               // at most this many tokens generated (EOS not counted)
  SamplerOptions sampling;
  bool ignore_eos = false;  // EOS is never sampled: the answer runs to max_tokens (fixed-length load tests)
};

// What a request's stream yields: its tokens, then one Done.
struct StreamEvent {
  enum class Kind { Token, Done } kind = Kind::Token;
  std::int32_t id = -1;   // Token: the generated token
  GenerationStats stats;  // Done: why it stopped, token counts, prefill and decode seconds
  std::string error;      // Done: what went wrong when the step failed ("" otherwise)
};

// One request's side of the scheduler: the caller reads events and may cancel.
class RequestStream {
 public:
  // The next event, or nullopt when none came before `deadline`.
  std::optional<StreamEvent> next(std::chrono::steady_clock::time_point deadline);
  // Stops the sequence: the scheduler frees its slot at its next turn and ends
  // the stream with Done (reason Interrupted).
  void cancel();
  bool cancelled() const;

 private:
  friend class BatchScheduler;
  void push(StreamEvent event);
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamEvent> events_;
  bool cancelled_ = false;
};

struct SchedulerOptions {
  int parallel = 4;    // KV-cache slots: sequences decoded together
  int n_ctx = 0;       // tokens per slot; <= 0: the model's context length
  int max_queue = 64;  // requests that may wait for a slot; more are refused
  // Prompt tokens fed per turn of the loop (in the decode step, where the backend runs ragged steps).
  int prefill_chunk = 256;
};

// submit() when max_queue requests already wait (an HTTP server answers 503).
class QueueFullError : public Error {
 public:
  using Error::Error;
};

class BatchScheduler {
 public:
  // Throws octet::Error when an option is out of range, or when `parallel` > 1
  // on a placement that cannot decode sequences at different positions.
  BatchScheduler(const Model& model, const Placement& placement, SchedulerOptions options);
  ~BatchScheduler();  // cancels what is queued or running, then joins the worker
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // Queues a request. Throws octet::Error when the prompt is empty, holds an id
  // outside the vocabulary, or leaves no room in the context to generate; and
  // QueueFullError when the queue is full.
  std::shared_ptr<RequestStream> submit(GenerationRequest request);

  int n_ctx() const { return n_ctx_; }
  int parallel() const { return options_.parallel; }
  int queued() const;  // waiting for a slot
  int active() const;  // in a slot (prefilling or decoding)
  // Blocks until nothing is queued or running, or `deadline`; true when idle.
  bool wait_idle(std::chrono::steady_clock::time_point deadline) const;

 private:
  struct Sequence;
  void work();
  void admit(std::unique_lock<std::mutex>& lock);
  void retire_cancelled();
  void run_step(bool decode, bool prefill);
  void take_token(Sequence& seq, std::span<const float> logits);
  void finish(std::size_t index, StopReason reason, const std::string& error = "");
  void fail_running(const std::string& error);

  const Model& model_;
  SchedulerOptions options_;
  int n_ctx_;
  Executor executor_;  // used by the worker thread only

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;  // a request queued, a sequence finished, or stopping
  std::deque<std::unique_ptr<Sequence>> queue_;
  int active_count_ = 0;  // running_.size(), readable under mutex_
  bool stopping_ = false;

  // The worker's own: the sequences in slots, their slots, step buffers.
  std::vector<std::unique_ptr<Sequence>> running_;
  std::vector<bool> slot_used_;
  std::vector<std::int32_t> step_tokens_;
  std::vector<SequenceStep> step_sequences_;
  std::vector<Sequence*> reading_;  // the step's prefilling sequences, after the decoding ones
  std::vector<float> logits_;       // one row, for the sampler to modify
  std::thread worker_;
};

}  // namespace octet
