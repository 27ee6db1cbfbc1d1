#include "engine/text/chat_format.h"

#include "engine/core/error.h"

namespace octet {

namespace {
struct FormatName {
  ChatFormat format;
  std::string_view name;
};
constexpr FormatName kFormats[] = {{ChatFormat::Plain, "plain"},
                                   {ChatFormat::Llama2, "llama2"},
                                   {ChatFormat::ChatML, "chatml"},
                                   {ChatFormat::Zephyr, "zephyr"},
                                   {ChatFormat::Llama3, "llama3"}};
}  // namespace

std::string_view chat_format_name(ChatFormat format) {
  for (const auto& f : kFormats) {
    if (f.format == format) return f.name;
  }
  return "unknown";
}

std::optional<ChatFormat> chat_format_from_name(std::string_view name) {
  for (const auto& f : kFormats) {
    if (f.name == name) return f.format;
  }
  return std::nullopt;
}

std::vector<std::string_view> chat_format_names() {
  std::vector<std::string_view> out;
  for (const auto& f : kFormats) out.push_back(f.name);
  return out;
}

std::optional<ChatFormat> detect_chat_format(std::string_view t) {
  const auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("<|start_header_id|>") && has("<|eot_id|>")) return ChatFormat::Llama3;
  if (has("<|im_start|>")) return ChatFormat::ChatML;
  if (has("<|user|>") && has("<|assistant|>")) return ChatFormat::Zephyr;
  if (has("[INST]")) return ChatFormat::Llama2;
  return std::nullopt;
}

std::string default_system_prompt(ChatFormat format, std::string_view t) {
  std::string_view open, close;
  switch (format) {
    case ChatFormat::ChatML:
      open = "<|im_start|>system\n", close = "<|im_end|>";
      break;
    case ChatFormat::Llama3:
      open = "<|start_header_id|>system<|end_header_id|>\n\n", close = "<|eot_id|>";
      break;
    case ChatFormat::Zephyr:
      open = "<|system|>\n", close = "</s>";
      break;
    default:
      return "";
  }
  // The template spells a newline as the two characters \n inside its Jinja strings.
  std::string text;
  text.reserve(t.size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    const bool escaped_newline = t[i] == '\\' && i + 1 < t.size() && t[i + 1] == 'n';
    text += escaped_newline ? '\n' : t[i];
    i += escaped_newline;
  }
  for (std::size_t at = 0; (at = text.find(open, at)) != std::string::npos; at += open.size()) {
    const std::size_t begin = at + open.size(), end = text.find(close, begin);
    if (end == std::string::npos) break;
    const std::string message = text.substr(begin, end - begin);
    // A message built by the template (variables, string joins) is not a default.
    if (!message.empty() && message.find_first_of("{}'\"+") == std::string::npos) return message;
  }
  return "";
}

std::string format_user_turn(ChatFormat format, std::string_view user, std::string_view system, bool first) {
  const std::string u(user), s(system);
  switch (format) {
    case ChatFormat::Plain:
      return first ? u : "\n" + u;
    case ChatFormat::Llama2:
      if (first && !s.empty()) return "<s>[INST] <<SYS>>\n" + s + "\n<</SYS>>\n\n" + u + " [/INST]";
      return "<s>[INST] " + u + " [/INST]";
    case ChatFormat::ChatML: {
      std::string out = first ? "" : "\n";
      if (first && !s.empty()) out += "<|im_start|>system\n" + s + "<|im_end|>\n";
      return out + "<|im_start|>user\n" + u + "<|im_end|>\n<|im_start|>assistant\n";
    }
    case ChatFormat::Zephyr: {
      std::string out = first ? "" : "\n";
      if (first && !s.empty()) out += "<|system|>\n" + s + "</s>\n";
      return out + "<|user|>\n" + u + "</s>\n<|assistant|>\n";
    }
    case ChatFormat::Llama3: {
      std::string out = first ? "<|begin_of_text|>" : "";
      if (first && !s.empty()) out += "<|start_header_id|>system<|end_header_id|>\n\n" + s + "<|eot_id|>";
      return out + "<|start_header_id|>user<|end_header_id|>\n\n" + u +
             "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    }
  }
  return u;
}

bool chat_format_spells_bos(ChatFormat format) { return format == ChatFormat::Llama2 || format == ChatFormat::Llama3; }

namespace {
// What follows an assistant's answer in the conversation: the token the model
// ended it with (Llama 2's template also puts a space before it).
std::string end_of_answer(ChatFormat format, std::string_view answer) {
  const std::string a(answer);
  switch (format) {
    case ChatFormat::Plain:
      return a;
    case ChatFormat::Llama2:
      return " " + a + " </s>";
    case ChatFormat::ChatML:
      return a + "<|im_end|>";
    case ChatFormat::Zephyr:
      return a + "</s>";
    case ChatFormat::Llama3:
      return a + "<|eot_id|>";
  }
  return a;
}
}  // namespace

std::string format_conversation(ChatFormat format, std::span<const ChatMessage> messages,
                                std::string_view default_system) {
  std::string system;
  bool any_system = false, any_user = false;
  std::string out;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "system") {
      if (any_user) fail("messages[{}]: a system message must come before the first user message", i);
      system += (any_system ? "\n" : "") + m.content;
      any_system = true;
    } else if (m.role == "user") {
      out += format_user_turn(format, m.content, any_system ? std::string_view(system) : default_system, !any_user);
      any_user = true;
    } else if (m.role == "assistant") {
      if (!any_user) fail("messages[{}]: an assistant message must follow a user message", i);
      out += end_of_answer(format, m.content);
    } else {
      fail("messages[{}].role is '{}': expected system, user or assistant", i, m.role);
    }
  }
  if (!any_user) fail("messages: there is no user message");
  if (messages.back().role != "user") fail("messages: the last message must be the user's");
  return out;
}

}  // namespace octet
