#include "engine/text/chat_format.h"
#include "engine/text/tokenizer_config.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <fstream>

namespace octet {
namespace {

// Template texts as the models' tokenizer_config.json files carry them (abridged).
TEST(ChatFormat, DetectsWellKnownTemplates) {
  EXPECT_EQ(
      detect_chat_format("{% for message in messages %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}"),
      ChatFormat::Llama2);
  EXPECT_EQ(detect_chat_format("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
                               "message['content'] + '<|im_end|>' + '\n'}}"),
            ChatFormat::ChatML);
  EXPECT_EQ(detect_chat_format("{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token "
                               "}}{% elif %}{{ '<|assistant|>' }}"),
            ChatFormat::Zephyr);
  EXPECT_EQ(detect_chat_format("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
                               "message['content'] | trim + '<|eot_id|>' }}"),
            ChatFormat::Llama3);
  EXPECT_FALSE(detect_chat_format("{{ messages[0]['content'] }}").has_value());
  EXPECT_FALSE(detect_chat_format("").has_value());
}

TEST(ChatFormat, FormatsTurns) {
  EXPECT_EQ(format_user_turn(ChatFormat::Llama2, "Hi", "Be brief.", true),
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]");
  EXPECT_EQ(format_user_turn(ChatFormat::Llama2, "Again", "Be brief.", false), "<s>[INST] Again [/INST]");
  EXPECT_EQ(format_user_turn(ChatFormat::ChatML, "Hi", "", true),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(format_user_turn(ChatFormat::ChatML, "Hi", "", false),
            "\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(format_user_turn(ChatFormat::Zephyr, "Hi", "S", true),
            "<|system|>\nS</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
  EXPECT_EQ(format_user_turn(ChatFormat::Llama3, "Hi", "", true),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|"
            "end_header_id|>\n\n");
  EXPECT_EQ(format_user_turn(ChatFormat::Plain, "Once", "", true), "Once");
}

TEST(ChatFormat, DefaultSystemPromptIsALiteralSystemTurnOfTheTemplate) {
  // SmolLM2's template: the system turn it writes when the conversation has none.
  const std::string smollm =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
      "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>'"
      " + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
  EXPECT_EQ(default_system_prompt(ChatFormat::ChatML, smollm),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  // A system turn built from variables is no default; neither is one of another format.
  EXPECT_EQ(default_system_prompt(ChatFormat::ChatML, "{{ '<|im_start|>system\\n' + system + '<|im_end|>' }}"), "");
  EXPECT_EQ(default_system_prompt(ChatFormat::Llama3, smollm), "");
  EXPECT_EQ(default_system_prompt(ChatFormat::Plain, smollm), "");
}

TEST(ChatFormat, NamesAndConfigReading) {
  for (auto name : chat_format_names()) EXPECT_EQ(chat_format_name(*chat_format_from_name(name)), name);
  EXPECT_FALSE(chat_format_from_name("vicuna").has_value());
  const TokenizerConfig shipped = read_tokenizer_config(test::shipped_model());
  EXPECT_EQ(shipped.chat_template, "");  // a base model: no template
  EXPECT_TRUE(shipped.add_bos.value_or(true));
  test::TempDir dir;
  std::ofstream(dir.file("tokenizer_config.json"))
      << R"({"chat_template": "<|im_start|>{{ x }}", "add_bos_token": false})";
  const TokenizerConfig config = read_tokenizer_config(dir.path());
  EXPECT_EQ(detect_chat_format(config.chat_template), ChatFormat::ChatML);
  EXPECT_EQ(config.add_bos, false);
  std::ofstream(dir.file("tokenizer_config.json")) << R"({"chat_template": [{"name": "tool_use", "template": "x"},
                                                        {"name": "default", "template": "[INST]"}]})";
  EXPECT_EQ(detect_chat_format(read_tokenizer_config(dir.path()).chat_template), ChatFormat::Llama2);
  EXPECT_FALSE(read_tokenizer_config(dir.file("missing")).add_bos.has_value())
      << "the tokenizer decides without the file";
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

// Whole conversations as the models' Jinja templates render them (transformers'
// apply_chat_template with add_generation_prompt=True, SmolLM2's ChatML and
// Llama 3's template without the 3.1 date header).
TEST(ChatFormat, ConversationsRenderAsTheTemplatesDo) {
  const std::vector<ChatMessage> messages{
      {"system", "S"}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
  EXPECT_EQ(format_conversation(ChatFormat::ChatML, messages, "unused"),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(format_conversation(ChatFormat::Llama3, messages, ""),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            "Hello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  const std::vector<ChatMessage> no_system{{"user", "Hi"}};
  EXPECT_EQ(format_conversation(ChatFormat::ChatML, no_system, "D"),
            "<|im_start|>system\nD<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
      << "the template's default system message when the request has none";
  EXPECT_EQ(format_conversation(ChatFormat::Plain, messages, ""), "HiHello\nBye") << "plain continuation: the texts in turn";
}

TEST(ChatFormat, ConversationErrorsNameTheMessage) {
  const auto error = [](std::vector<ChatMessage> m) { return test::error_of([&] { format_conversation(ChatFormat::ChatML, m, ""); }); };
  EXPECT_CONTAINS(error({{"user", "a"}, {"system", "b"}, {"user", "c"}}), "messages[1]");
  EXPECT_CONTAINS(error({{"robot", "a"}}), "messages[0].role is 'robot'");
  EXPECT_CONTAINS(error({{"system", "a"}}), "no user message");
  EXPECT_CONTAINS(error({{"user", "a"}, {"assistant", "b"}}), "last message");
  EXPECT_CONTAINS(error({}), "no user message");
}

}  // namespace
}  // namespace octet
