#include "tools/serve/answer_reader.h"

#include <algorithm>

namespace octet::serve {

namespace {
constexpr auto kPoll = std::chrono::milliseconds(50);  // how often a waiting reader looks at the client and the clock
}

AnswerReader::AnswerReader(std::shared_ptr<RequestStream> stream, const Tokenizer& tokenizer,
                           std::vector<std::string> stop, Clock::time_point deadline)
    : stream_(std::move(stream)), decoder_(tokenizer, false), stop_(std::move(stop)), deadline_(deadline) {}

AnswerReader::~AnswerReader() {
  if (!ended_) stream_->cancel();
}

std::string AnswerReader::release(bool final) {
  // A stop string anywhere in the held text ends the answer just before it.
  std::size_t cut = std::string::npos;
  for (const std::string& s : stop_) cut = std::min(cut, held_.find(s));
  if (cut != std::string::npos) {
    std::string out = held_.substr(0, cut);
    held_.clear();
    stopped_ = true;
    stream_->cancel();  // the scheduler frees the slot; its Done still comes
    return out;
  }
  // Keep back the longest tail that is the start of a stop string.
  std::size_t keep = 0;
  if (!final) {
    for (const std::string& s : stop_) {
      for (std::size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n) {
        if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
          keep = n;
          break;
        }
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

bool AnswerReader::next(std::string& piece, const std::function<bool()>& client_gone) {
  piece.clear();
  if (ended_) return false;
  for (;;) {
    if (!client_left_ && client_gone()) {
      client_left_ = true;
      stream_->cancel();
    }
    if (!timed_out_ && Clock::now() >= deadline_) {
      timed_out_ = true;
      stream_->cancel();
    }
    // After a cancel the scheduler ends the stream at its next turn: wait for that Done.
    const auto event = stream_->next(timed_out_ ? Clock::now() + kPoll : std::min(deadline_, Clock::now() + kPoll));
    if (!event) continue;
    if (event->kind == StreamEvent::Kind::Token) {
      if (stopped_) continue;  // tokens the scheduler made before it saw the cancel
      last_ = Clock::now();
      if (first_ == Clock::time_point{}) first_ = last_;
      held_ += decoder_.push(event->id);
      piece = release(false);
      return true;
    }
    ended_ = true;
    stats_ = event->stats;
    error_ = event->error;
    if (!stopped_) {
      held_ += decoder_.flush();
      piece = release(true);
    }
    if (stopped_ || stats_.reason == StopReason::Eos) {
      finish_reason_ = "stop";
    } else if (stats_.reason == StopReason::Length || stats_.reason == StopReason::ContextFull || timed_out_) {
      finish_reason_ = "length";
    }
    return false;
  }
}

}  // namespace octet::serve
