// A chat on top of a GenerationSession: formats each user turn, keeps the
// whole conversation in the KV cache, streams the answer as text.
#pragma once

#include "engine/session/generation_session.h"
#include "engine/text/chat_format.h"
#include "engine/text/tokenizer.h"

#include <functional>
#include <string>
#include <string_view>

namespace octet {

class ChatSession {
 public:
  // Throws octet::Error when `system_prompt` is not valid UTF-8.
  // `add_bos`: put the model's BOS first in formats that do not spell it (tokenizer_config.json's add_bos_token).
  ChatSession(GenerationSession& session, const Tokenizer& tokenizer, ChatFormat format, std::string system_prompt,
              bool add_bos);

  // Feeds the user's turn and streams the answer through `on_text`. Return
  // false from `keep_going` (asked before each token is shown) to stop the
  // answer; the conversation goes on. Throws, leaving the conversation as it
  // was, ContextFullError when the turn does not fit and octet::Error when
  // `user` is not valid UTF-8.
  GenerationStats reply(std::string_view user, int max_tokens, Sampler& sampler,
                        const std::function<void(std::string_view)>& on_text, const std::function<bool()>& keep_going);
  // Forgets the conversation.
  void reset();
  int tokens_used() const { return session_.n_past(); }
  int context_size() const { return session_.n_ctx(); }
  ChatFormat format() const { return format_; }

 private:
  GenerationSession& session_;
  const Tokenizer& tokenizer_;
  ChatFormat format_;
  std::string system_;
  bool add_bos_;
  bool first_turn_ = true;
};

}  // namespace octet
