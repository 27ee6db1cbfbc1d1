// include/octet's classes where the command line cannot see them: a stream
// destroyed or stopped mid-way frees its place, a Chat keeps (and on failure
// does not change) its conversation, a Classifier without a head gives
// embeddings and refuses to classify, bad options fail naming the option.
// tests/library/ checks their results against the command line's.
#include "api/model_loading.h"
#include "octet/octet.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace octet {
namespace {

GenerateOptions greedy(int max_tokens) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling.temperature = 0.0f;
  return o;
}

TEST(LibraryGenerator, StreamsTheTextGenerateGives) {
  const Generator generator;  // the shipped tinystories-mini
  const GenerationResult whole = generator.generate("Once upon a time", greedy(24));
  EXPECT_EQ(whole.generated_tokens, 24);
  EXPECT_EQ(whole.stop_reason, "length");
  TextStream stream = generator.stream("Once upon a time", greedy(24));
  std::string text;
  while (auto piece = stream.next()) text += *piece;
  EXPECT_EQ(text, whole.text);
  EXPECT_EQ(stream.result().text, whole.text);
  EXPECT_EQ(stream.result().prompt_tokens, whole.prompt_tokens);
}

TEST(LibraryGenerator, AStoppedOrDroppedStreamFreesItsPlace) {
  const Generator generator;  // parallel 1: a stream that kept its slot would block the next request
  {
    TextStream dropped = generator.stream("Once upon a time", greedy(200));
    ASSERT_TRUE(dropped.next().has_value());
  }
  int calls = 0;
  const GenerationResult stopped =
      generator.generate("Once upon a time", greedy(200), [&](std::string_view) { return ++calls < 3; });
  EXPECT_EQ(stopped.stop_reason, "interrupted");
  EXPECT_EQ(calls, 3);
  const GenerationResult full = generator.generate("Once upon a time", greedy(10));
  EXPECT_EQ(full.generated_tokens, 10);
  EXPECT_EQ(full.text.substr(0, stopped.text.size()), stopped.text);  // what was shown came first
}

TEST(LibraryGenerator, ResultBeforeTheEndIsAnError) {
  const Generator generator;
  TextStream stream = generator.stream("Once upon a time", greedy(4));
  EXPECT_THROW(stream.result(), Error);
}

TEST(LibraryChat, KeepsTheConversationAndLeavesItAsItWasWhenFull) {
  ModelOptions options;
  options.context = 64;
  const Generator generator(options);
  Chat chat(generator, "", "plain");  // tinystories-mini knows no chat template's special tokens
  EXPECT_EQ(chat.format(), "plain");
  const GenerationResult first = chat.reply("Tom had a dog.", greedy(8));
  ASSERT_EQ(chat.messages().size(), 2u);
  EXPECT_EQ(chat.messages()[1].second, first.text);
  const GenerationResult second = chat.reply("It ran.", greedy(4));
  EXPECT_GT(second.prompt_tokens, first.prompt_tokens + first.generated_tokens);  // the first turn is fed again
  std::string long_turn;
  for (int i = 0; i < 30; ++i) long_turn += "The dog ran to the park. ";
  EXPECT_THROW(chat.reply(long_turn, greedy(4)), ContextFullError);
  EXPECT_EQ(chat.messages().size(), 4u);
  chat.reset();
  EXPECT_TRUE(chat.messages().empty());
  EXPECT_THROW(Chat(generator, "", "jinja"), Error);
}

TEST(LibraryClassifier, WithoutAHeadGivesEmbeddingsOnly) {
  ModelOptions options;
  options.model = test::test_data("minilm-style");
  const Classifier classifier(options);
  EXPECT_FALSE(classifier.has_head());
  const auto rows = classifier.outputs({"a sentence", "another one"});
  ASSERT_EQ(rows.size(), 2u);
  double norm = 0;
  for (const float v : rows[0]) norm += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);  // sentence-transformers' Normalize
  EXPECT_CONTAINS(test::error_of([&] { classifier.classify({"a sentence"}); }), "no classification head");
}

TEST(LibraryOptions, BadOptionsNameWhatIsWrong) {
  ModelOptions tpu;
  tpu.backend = "tpu";
  EXPECT_CONTAINS(test::error_of([&] { Generator g(tpu); }), "backend 'tpu'");
  ModelOptions threads;
  threads.threads = -1;
  EXPECT_CONTAINS(test::error_of([&] { Classifier c(threads); }), "threads");
  ModelOptions cache;
  cache.kv_cache = "int4";
  EXPECT_CONTAINS(test::error_of([&] { Generator g(cache); }), "kv_cache 'int4'");
  ModelOptions encoder;
  encoder.model = shipped_model_path(ModelKind::Encoder);
  EXPECT_CONTAINS(test::error_of([&] { Generator g(encoder); }), "octet::Classifier");
  const Generator generator;
  EXPECT_CONTAINS(test::error_of([&] { generator.generate("x", greedy(0)); }), "max_tokens");
  EXPECT_CONTAINS(test::error_of([&] { generator.generate("\xff"); }), "UTF-8");
}

TEST(LibraryAssets, TheShippedModelsFollowOctetAssetsDir) {
  const std::string before = shipped_model_path(ModelKind::Encoder);
  EXPECT_EQ(before, std::string(OCTET_SOURCE_DIR) + "/assets/models/sst2-mini");
  ::setenv("OCTET_ASSETS_DIR", "/somewhere", 1);
  EXPECT_EQ(shipped_model_path(ModelKind::Encoder), "/somewhere/models/sst2-mini");
  ::unsetenv("OCTET_ASSETS_DIR");
}

}  // namespace
}  // namespace octet
