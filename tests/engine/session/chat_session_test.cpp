// A chat turn that cannot be read is refused before anything reaches the
// model: the conversation so far is kept, and the error points into the
// user's own text, not into the formatted turn around it.
#include "engine/session/chat_session.h"
#include "engine/core/error.h"
#include "engine/session/generation_session.h"
#include "engine/session/sampler.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

namespace octet {
namespace {

TEST(ChatSession, InvalidUtf8IsRefusedAndTheConversationKept) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto tokenizer = load_tokenizer_for(test::shipped_model(), "");
  auto backend = make_cpu_backend(0);
  GenerationSession session(*model, *backend, 64);
  ChatSession chat(session, *tokenizer, ChatFormat::Plain, "", true);
  Sampler sampler({.temperature = 0}, model->info().vocab_size);
  const auto ignore = [](std::string_view) {};
  const auto always = [] { return true; };

  chat.reply("Once upon a time", 4, sampler, ignore, always);
  const int used = chat.tokens_used();
  ASSERT_GT(used, 4);
  // The plain format puts "\n" before a later turn: the offset must still be 2.
  EXPECT_EQ(test::error_of([&] { chat.reply("ok\xC3", 4, sampler, ignore, always); }),
            "message: invalid UTF-8 at byte 2");
  EXPECT_EQ(chat.tokens_used(), used);
  chat.reply("Tom", 2, sampler, ignore, always);
  EXPECT_GT(chat.tokens_used(), used);

  EXPECT_EQ(test::error_of([&] { ChatSession(session, *tokenizer, ChatFormat::ChatML, "\xFF", true); }),
            "system prompt: invalid UTF-8 at byte 0");
}

}  // namespace
}  // namespace octet
