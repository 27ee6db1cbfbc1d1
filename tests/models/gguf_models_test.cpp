// Models from GGUF files against independent references
// (tests/reference/make_gguf_golden.py):
//  - tiny_llama.gguf: random weights in five tensor types, q and k rows in
//    llama.cpp's permuted order, against a float64 numpy forward pass in
//    Hugging Face's layout (rows un-permuted, half-split rotary);
//  - SmolLM2-135M-Instruct (../shared): the greedy chat answer of a float32
//    numpy forward pass, with the prompt as Hugging Face's tokenizers and the
//    chat template make it.
#include "engine/io/json_file.h"
#include "engine/session/chat_session.h"
#include "engine/session/generation_session.h"
#include "engine/text/chat_format.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

namespace octet {
namespace {

TEST(TinyLlamaGguf, ReproducesNumpyReference) {
  const std::string path = test::test_data("gguf/tiny_llama.gguf");
  const Json ref = read_json_file(test::test_data("gguf/tiny_llama_reference.json"));
  auto model = models::builtin_registry().load_model(path);
  const auto tokenizer = load_tokenizer_for(path, "");
  const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
  EXPECT_EQ(tokenizer->encode("Once upon a time, there was a little girl named Lily."), prompt);
  auto backend = make_cpu_backend(0);
  GenerationSession session(*model, *backend, 0);
  const Tensor& logits = session.append_all_logits(prompt);
  const auto want = ref["logits"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(logits.numel(), static_cast<std::int64_t>(want.size() * want[0].size()));
  for (std::size_t t = 0; t < want.size(); ++t) {
    double err = 0, scale = 1e-30;
    for (std::size_t j = 0; j < want[t].size(); ++j) {
      err = std::max(err, std::abs(logits.data<float>()[t * want[t].size() + j] - want[t][j]));
      scale = std::max(scale, std::abs(want[t][j]));
    }
    // The dequantized weights are the reference's exactly; float32 against float64 arithmetic
    // through two layers stays far below 1e-4 of the row's largest logit.
    EXPECT_LT(err / scale, 1e-4) << "position " << t;
  }
}

TEST(SmolLM2Gguf, ChatAnswersAsTheFloat32Reference) {
  OCTET_REQUIRE_SHARED(path, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
  const Json ref = read_json_file(test::test_data("smollm2_chat_reference.json"));
  auto model = models::builtin_registry().load_model(path);
  const auto tokenizer = load_tokenizer_for(path, "");
  const TokenizerConfig config = read_tokenizer_config(path);
  EXPECT_FALSE(config.add_bos.value_or(true)) << "the GGUF says add_bos_token false";
  const auto format = detect_chat_format(config.chat_template);
  ASSERT_EQ(format, ChatFormat::ChatML);
  const std::string system = default_system_prompt(*format, config.chat_template);
  EXPECT_EQ(system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const std::string turn = format_user_turn(*format, "What is the capital of France?", system, true);
  EXPECT_EQ(turn, ref["prompt_text"].get<std::string>());
  EXPECT_EQ(tokenizer->encode_with_specials(turn), ref["prompt_ids"].get<std::vector<std::int32_t>>());

  auto backend = make_cpu_backend(0);
  GenerationSession session(*model, *backend, 256);
  ChatSession chat(session, *tokenizer, *format, system, false);
  Sampler sampler({.temperature = 0.0f}, model->info().vocab_size);
  std::string text;
  const GenerationStats stats = chat.reply(
      "What is the capital of France?", 64, sampler, [&](std::string_view piece) { text += piece; },
      [] { return true; });
  EXPECT_EQ(stats.reason, StopReason::Eos) << "the answer ends at <|im_end|>";
  EXPECT_EQ(text, ref["answer_text"].get<std::string>()) << "no markup printed";
  const auto answer = ref["answer_ids"].get<std::vector<std::int32_t>>();
  EXPECT_EQ(stats.generated_tokens + 1, static_cast<int>(answer.size())) << "the answer's tokens, then <|im_end|>";
}

}  // namespace
}  // namespace octet
