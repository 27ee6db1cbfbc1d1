// How a conversation turns into text for a chat model. The well-known formats
// are recognised from the Jinja template text in tokenizer_config.json (octet
// does not run Jinja); base models get plain continuation.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

enum class ChatFormat { Plain, Llama2, ChatML, Zephyr, Llama3 };

std::string_view chat_format_name(ChatFormat format);
std::optional<ChatFormat> chat_format_from_name(std::string_view name);
std::vector<std::string_view> chat_format_names();

// Recognises a format from a chat_template; nullopt when it is none we know.
std::optional<ChatFormat> detect_chat_format(std::string_view template_text);

// The system message a chat template writes when the conversation has none
// (SmolLM2's "You are a helpful AI assistant named SmolLM, ..."): a literal
// system turn of `format` in the template's text; "" when there is none.
std::string default_system_prompt(ChatFormat format, std::string_view template_text);

// Text to feed for one user turn, special tokens spelled out (encode it with
// Tokenizer::encode_with_specials). `first` opens the conversation (and
// carries the system prompt, if any). The model's previous answer ended with
// its end-of-turn token, which the session has already fed.
std::string format_user_turn(ChatFormat format, std::string_view user, std::string_view system, bool first);

// Whether `format` spells the begin-of-text token itself (Llama 2's <s>, Llama 3's
// <|begin_of_text|>); the others get the model's BOS id first when it adds one.
bool chat_format_spells_bos(ChatFormat format);

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// A whole conversation as one prompt that ends where the assistant's next
// answer begins (an OpenAI-style request's messages): system messages (which
// must come first; `default_system` when there are none) go with the first
// user turn, earlier assistant answers end with the format's end-of-turn
// token. Throws octet::Error naming the message when a role is unknown, a
// system message comes late, there is no user message, or the last message
// is not the user's.
std::string format_conversation(ChatFormat format, std::span<const ChatMessage> messages,
                                std::string_view default_system);

}  // namespace octet
