#include "octet/chat.h"

#include "api/generator_impl.h"
#include "engine/core/error.h"
#include "engine/text/chat_format.h"
#include "engine/text/utf8.h"

#include <fmt/ranges.h>

namespace octet {

Chat::Chat(const Generator& generator, std::string system_prompt, std::string format) : generator_(generator) {
  require_utf8(system_prompt, "the system prompt");
  const TokenizerConfig& config = generator.impl_->tokenizer_config;
  ChatFormat chosen = ChatFormat::Plain;
  if (!format.empty()) {
    const auto named = chat_format_from_name(format);
    if (!named) fail("chat format '{}' is not one octet knows: {}", format, fmt::join(chat_format_names(), ", "));
    chosen = *named;
  } else if (const auto detected = detect_chat_format(config.chat_template)) {
    chosen = *detected;
  }
  format_ = std::string(chat_format_name(chosen));
  default_system_ = default_system_prompt(chosen, config.chat_template);
  if (!system_prompt.empty()) messages_.emplace_back("system", std::move(system_prompt));
}

GenerationResult Chat::reply(std::string_view user, const GenerateOptions& options,
                             const std::function<bool(std::string_view)>& on_text) {
  require_utf8(user, "the user's message");
  const Generator::Impl& impl = *generator_.impl_;
  const ChatFormat format = *chat_format_from_name(format_);
  std::vector<ChatMessage> conversation;
  for (const auto& [role, content] : messages_) conversation.push_back({role, content});
  conversation.push_back({"user", std::string(user)});
  const std::string text = format_conversation(format, conversation, default_system_);
  std::vector<std::int32_t> ids;
  const ModelInfo& info = impl.loaded.model->info();
  const bool add_bos =
      options.add_bos.value_or(impl.tokenizer_config.add_bos.value_or(impl.loaded.tokenizer->default_add_bos()));
  if (!chat_format_spells_bos(format) && add_bos && info.bos_id >= 0) ids.push_back(info.bos_id);
  const auto text_ids = impl.loaded.tokenizer->encode_with_specials(text);
  ids.insert(ids.end(), text_ids.begin(), text_ids.end());
  // Throws ContextFullError before anything changes when the conversation no longer fits.
  GenerationResult result = read_to_end(impl.submit(std::move(ids), options, true), on_text);
  messages_.emplace_back("user", std::string(user));
  messages_.emplace_back("assistant", result.text);
  return result;
}

void Chat::reset() {
  std::erase_if(messages_, [](const auto& m) { return m.first != "system"; });
}

}  // namespace octet
