#include "engine/session/chat_session.h"

#include "engine/text/utf8.h"

namespace octet {

ChatSession::ChatSession(GenerationSession& session, const Tokenizer& tokenizer, ChatFormat format,
                         std::string system_prompt, bool add_bos)
    : session_(session), tokenizer_(tokenizer), format_(format), system_(std::move(system_prompt)), add_bos_(add_bos) {
  require_utf8(system_, "system prompt");
}

void ChatSession::reset() {
  session_.reset();
  first_turn_ = true;
}

GenerationStats ChatSession::reply(std::string_view user, int max_tokens, Sampler& sampler,
                                   const std::function<void(std::string_view)>& on_text,
                                   const std::function<bool()>& keep_going) {
  // Checked here, where the byte offset is the user's own (the formatted turn adds a prefix).
  require_utf8(user, "message");
  std::vector<std::int32_t> ids;
  const std::string turn = format_user_turn(format_, user, system_, first_turn_);
  if (first_turn_ && !chat_format_spells_bos(format_) && add_bos_ && session_.model().info().bos_id >= 0) {
    ids.push_back(session_.model().info().bos_id);
  }
  const auto turn_ids = tokenizer_.encode_with_specials(turn);
  ids.insert(ids.end(), turn_ids.begin(), turn_ids.end());

  StreamDecoder decoder(tokenizer_, false);
  const GenerationStats stats = session_.generate(ids, max_tokens, sampler, [&](std::int32_t id) {
    if (!keep_going()) return false;
    on_text(decoder.push(id));
    return true;
  });
  first_turn_ = false;
  const std::string rest = decoder.flush();
  if (!rest.empty()) on_text(rest);
  return stats;
}

}  // namespace octet
