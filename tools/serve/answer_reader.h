// Turns a scheduler stream into the text a client sees: tokens decoded
// without splitting a UTF-8 character, cut at the first stop string (which is
// not shown, and which ends the sequence at once), and the OpenAI finish
// reason. Cancels the sequence when the client goes away or the request's
// time is up.
#pragma once

#include "engine/session/batch_scheduler.h"
#include "engine/text/tokenizer.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace octet::serve {

class AnswerReader {
 public:
  using Clock = std::chrono::steady_clock;
  AnswerReader(std::shared_ptr<RequestStream> stream, const Tokenizer& tokenizer, std::vector<std::string> stop,
               Clock::time_point deadline);
  ~AnswerReader();  // cancels a sequence still running (the handler threw, or stopped reading)

  // Waits for more of the answer and puts it in `piece` (possibly empty);
  // false once the answer has ended (then `piece` holds its last text).
  // `client_gone` is asked while waiting.
  bool next(std::string& piece, const std::function<bool()>& client_gone);

  // After next() returned false:
  const std::string& finish_reason() const { return finish_reason_; }  // "stop", "length", or "" on failure
  const std::string& error() const { return error_; }                  // why it failed ("" when it did not)
  bool timed_out() const { return timed_out_; }
  bool client_left() const { return client_left_; }
  const GenerationStats& stats() const { return stats_; }
  // When the first and the last token came (for time to first token and per output token).
  Clock::time_point first_token_at() const { return first_; }
  Clock::time_point last_token_at() const { return last_; }

 private:
  std::string release(bool final);  // held text that can no longer start a stop string

  std::shared_ptr<RequestStream> stream_;
  StreamDecoder decoder_;
  std::vector<std::string> stop_;
  Clock::time_point deadline_;
  std::string held_;  // decoded, not yet shown (could be the start of a stop string)
  bool stopped_ = false, ended_ = false, timed_out_ = false, client_left_ = false;
  std::string finish_reason_, error_;
  GenerationStats stats_;
  Clock::time_point first_{}, last_{};
};

}  // namespace octet::serve
