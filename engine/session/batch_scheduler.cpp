#include "engine/session/batch_scheduler.h"

#include <algorithm>
#include <limits>

namespace octet {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

std::optional<StreamEvent> RequestStream::next(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_until(lock, deadline, [&] { return !events_.empty(); })) return std::nullopt;
  StreamEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

void RequestStream::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
}

bool RequestStream::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

void RequestStream::push(StreamEvent event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  ready_.notify_one();
}

struct BatchScheduler::Sequence {
  std::shared_ptr<RequestStream> stream;
  GenerationRequest request;
  Sampler sampler;
  int slot = -1;
  std::vector<std::int32_t> history;  // tokens in the slot's cache
  std::size_t prefilled = 0;          // prompt tokens fed so far
  std::int32_t pending = -1;          // sampled and shown, not yet fed
  GenerationStats stats;
  Clock::time_point admitted, first_token;
};

BatchScheduler::BatchScheduler(const Model& model, const Placement& placement, SchedulerOptions options)
    : model_(model),
      options_(options),
      n_ctx_(resolve_context_length(model, options.n_ctx)),
      executor_(model, placement, n_ctx_, std::max(options.parallel, 1)) {
  if (model.info().kind != ModelKind::Decoder) fail("continuous batching needs a decoder; this model is an encoder");
  if (options.parallel < 1) fail("parallel must be at least 1 sequence, got {}", options.parallel);
  if (options.max_queue < 0) fail("the queue limit must be >= 0, got {}", options.max_queue);
  if (options.prefill_chunk < 1) fail("the prefill chunk must be at least 1 token, got {}", options.prefill_chunk);
  if (options.parallel > 1 && !executor_.runs_mixed_steps()) {
    fail("this backend cannot yet decode sequences at different positions in one step: use 1 parallel sequence");
  }
  slot_used_.assign(static_cast<std::size_t>(options.parallel), false);
  logits_.resize(static_cast<std::size_t>(model.info().vocab_size));
  worker_ = std::thread([this] { work(); });
}

BatchScheduler::~BatchScheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

std::shared_ptr<RequestStream> BatchScheduler::submit(GenerationRequest request) {
  if (request.prompt.empty()) fail("the prompt has no tokens");
  const std::int64_t vocab = model_.info().vocab_size;
  for (std::size_t i = 0; i < request.prompt.size(); ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= vocab) {
      fail("prompt token {} is id {}, outside the vocabulary of {}", i, request.prompt[i], vocab);
    }
  }
  if (request.prompt.size() >= static_cast<std::size_t>(n_ctx_)) {
    throw ContextFullError(fmt::format("the prompt's {} tokens leave no room to generate in the context of {}",
                                       request.prompt.size(), n_ctx_));
  }
  if (request.max_tokens < 1) fail("max_tokens must be at least 1, got {}", request.max_tokens);
  Sampler sampler(request.sampling, vocab);  // validates the options
  auto seq = std::make_unique<Sequence>(
      Sequence{std::make_shared<RequestStream>(), std::move(request), std::move(sampler), -1, {}, 0, -1, {}, {}, {}});
  seq->stats.prompt_tokens = static_cast<int>(seq->request.prompt.size());
  auto stream = seq->stream;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) fail("the scheduler is stopping");
    // Queued requests that a free slot will not take at once.
    const int waiting = static_cast<int>(queue_.size()) - (options_.parallel - active_count_);
    if (waiting >= options_.max_queue) {
      throw QueueFullError(fmt::format("{} requests are waiting for a slot, the most the queue holds", waiting));
    }
    queue_.push_back(std::move(seq));
  }
  changed_.notify_all();
  return stream;
}

int BatchScheduler::queued() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(queue_.size());
}

int BatchScheduler::active() const {
  std::lock_guard lock(mutex_);
  return active_count_;
}

bool BatchScheduler::wait_idle(Clock::time_point deadline) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] { return queue_.empty() && active_count_ == 0; });
}

void BatchScheduler::work() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty() || !running_.empty(); });
      if (stopping_) break;
      admit(lock);
    }
    retire_cancelled();
    if (executor_.runs_ragged_steps()) {
      run_step(true, true);  // prompt chunks ride along with the decoding sequences
    } else {
      run_step(false, true);
      run_step(true, false);
    }
  }
  // Stopping: every request still queued or running ends as interrupted.
  std::unique_lock lock(mutex_);
  for (auto& seq : queue_) {
    seq->stats.reason = StopReason::Interrupted;
    seq->stream->push({StreamEvent::Kind::Done, -1, seq->stats, "the server is shutting down"});
  }
  queue_.clear();
  lock.unlock();
  while (!running_.empty()) finish(running_.size() - 1, StopReason::Interrupted, "the server is shutting down");
}

// Moves queued requests into free slots (a request cancelled while it waited ends here).
void BatchScheduler::admit(std::unique_lock<std::mutex>& /*locked*/) {
  while (!queue_.empty()) {
    auto& front = queue_.front();
    if (front->stream->cancelled()) {
      front->stats.reason = StopReason::Interrupted;
      front->stream->push({StreamEvent::Kind::Done, -1, front->stats, ""});
      queue_.pop_front();
      continue;
    }
    const auto free = std::find(slot_used_.begin(), slot_used_.end(), false);
    if (free == slot_used_.end()) return;
    *free = true;
    front->slot = static_cast<int>(free - slot_used_.begin());
    front->admitted = Clock::now();
    front->history.reserve(static_cast<std::size_t>(n_ctx_));
    running_.push_back(std::move(front));
    queue_.pop_front();
    active_count_ = static_cast<int>(running_.size());
  }
}

void BatchScheduler::retire_cancelled() {
  for (std::size_t i = running_.size(); i-- > 0;) {
    if (running_[i]->stream->cancelled()) finish(i, StopReason::Interrupted);
  }
}

// One step of the model: with `decode`, every sequence with a token to feed
// advances by one; with `prefill`, sequences still reading their prompts,
// oldest first, read their next chunks, prefill_chunk prompt tokens in all
// (with `decode` too the step is ragged: the chunks share each weight's pass
// over memory with the decoding sequences instead of holding them up for
// steps of their own). Without `decode`, one prompt's chunk alone.
void BatchScheduler::run_step(bool decode, bool prefill) {
  step_tokens_.clear();
  step_sequences_.clear();
  reading_.clear();
  if (decode) {
    for (const auto& seq : running_) {
      if (seq->pending < 0) continue;
      step_tokens_.push_back(seq->pending);
      step_sequences_.push_back({seq->slot, static_cast<int>(seq->history.size()), 1});
    }
  }
  const std::size_t decoding = step_sequences_.size();
  auto budget = static_cast<std::size_t>(options_.prefill_chunk);
  for (std::size_t i = 0; prefill && i < running_.size() && budget > 0; ++i) {
    Sequence& seq = *running_[i];
    if (seq.prefilled >= seq.request.prompt.size()) continue;
    const std::size_t chunk = std::min(seq.request.prompt.size() - seq.prefilled, budget);
    const auto tokens = std::span(seq.request.prompt).subspan(seq.prefilled, chunk);
    step_tokens_.insert(step_tokens_.end(), tokens.begin(), tokens.end());
    step_sequences_.push_back({seq.slot, static_cast<int>(seq.history.size()), static_cast<int>(chunk)});
    reading_.push_back(&seq);
    budget = decode ? budget - chunk : 0;
  }
  if (step_sequences_.empty()) return;
  const Tensor* logits = nullptr;
  try {
    logits = &executor_.forward_sequences(step_tokens_, step_sequences_);
  } catch (const std::exception& e) {
    if (decoding == 0 && reading_.size() == 1) {  // a prompt alone: only its sequence ends
      finish(static_cast<std::size_t>(
                 std::find_if(running_.begin(), running_.end(), [&](const auto& s) { return s.get() == reading_[0]; }) -
                 running_.begin()),
             StopReason::Interrupted, e.what());
    } else {
      fail_running(e.what());
    }
    return;
  }
  const std::size_t vocab = logits_.size();
  const auto row = [&](std::size_t b) { return std::span(logits->data<float>() + b * vocab, vocab); };
  // take_token may finish a sequence (and erase it), so walk the rows by slot.
  for (std::size_t b = 0; b < decoding; ++b) {
    const int slot = step_sequences_[b].slot;
    Sequence& seq = **std::find_if(running_.begin(), running_.end(), [&](const auto& s) { return s->slot == slot; });
    seq.history.push_back(seq.pending);
    seq.pending = -1;
    take_token(seq, row(b));
  }
  for (std::size_t r = 0; r < reading_.size(); ++r) {  // prefilling sequences are never finished above
    Sequence& seq = *reading_[r];
    const auto chunk = static_cast<std::size_t>(step_sequences_[decoding + r].n_tokens);
    const auto tokens = std::span(seq.request.prompt).subspan(seq.prefilled, chunk);
    seq.history.insert(seq.history.end(), tokens.begin(), tokens.end());
    seq.prefilled += chunk;
    if (seq.prefilled < seq.request.prompt.size()) continue;
    seq.stats.prefill_seconds = seconds_between(seq.admitted, Clock::now());
    seq.first_token = Clock::now();
    take_token(seq, row(decoding + r));
  }
}

// Samples the token after `logits` and shows it, or ends the sequence, as GenerationSession::generate does.
void BatchScheduler::take_token(Sequence& seq, std::span<const float> logits) {
  const auto index = static_cast<std::size_t>(
      std::find_if(running_.begin(), running_.end(), [&](const auto& s) { return s.get() == &seq; }) -
      running_.begin());
  const auto& eos = model_.info().eos_ids;
  std::int32_t id = -1;
  try {
    std::copy(logits.begin(), logits.end(), logits_.begin());
    if (seq.request.ignore_eos) {
      for (const std::int32_t e : eos) {
        if (e >= 0 && static_cast<std::size_t>(e) < logits_.size())
          logits_[static_cast<std::size_t>(e)] = -std::numeric_limits<float>::infinity();
      }
    }
    id = seq.sampler.sample(logits_, seq.history);
  } catch (const std::exception& e) {
    finish(index, StopReason::Interrupted, e.what());
    return;
  }
  if (std::find(eos.begin(), eos.end(), id) != eos.end()) {
    finish(index, StopReason::Eos);
    return;
  }
  seq.stream->push({StreamEvent::Kind::Token, id, {}, ""});
  ++seq.stats.generated_tokens;
  if (seq.stats.generated_tokens >= seq.request.max_tokens) {
    finish(index, StopReason::Length);
  } else if (seq.history.size() >= static_cast<std::size_t>(n_ctx_)) {  // no position left to feed it
    finish(index, StopReason::ContextFull);
  } else {
    seq.pending = id;
  }
}

void BatchScheduler::finish(std::size_t index, StopReason reason, const std::string& error) {
  std::unique_ptr<Sequence> seq = std::move(running_[index]);
  running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(index));
  seq->stats.reason = reason;
  if (seq->first_token != Clock::time_point{})
    seq->stats.decode_seconds = seconds_between(seq->first_token, Clock::now());
  seq->stream->push({StreamEvent::Kind::Done, -1, seq->stats, error});
  {
    std::lock_guard lock(mutex_);
    slot_used_[static_cast<std::size_t>(seq->slot)] = false;
    active_count_ = static_cast<int>(running_.size());
  }
  changed_.notify_all();
}

void BatchScheduler::fail_running(const std::string& error) {
  while (!running_.empty()) finish(running_.size() - 1, StopReason::Interrupted, error);
}

}  // namespace octet
