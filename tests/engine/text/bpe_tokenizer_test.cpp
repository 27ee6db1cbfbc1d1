// Byte-level BPE against Hugging Face's tokenizers library, id for id, on 330
// tricky strings (tests/data/bpe_golden.json, made by
// tests/reference/make_bpe_golden.py) for two test tokenizers in GPT-2's and
// Llama 3's styles and for SmolLM2's real tokenizer.json; then the rules one
// at a time on hand-made tokenizers, and refused files.
#include "engine/text/bpe_tokenizer.h"
#include "engine/core/error.h"
#include "engine/io/gguf.h"
#include "engine/io/json_file.h"
#include "engine/text/tokenizer.h"
#include "engine/text/utf8.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <fstream>

namespace octet {
namespace {

const Json& golden() {
  static const Json j = read_json_file(test::test_data("bpe_golden.json"));
  return j;
}

std::string tokenizer_path(const std::string& name) {
  const Json& t = golden()["tokenizers"][name];
  return t["shared"].get<bool>() ? test::shared_dir() + "/" + t["file"].get<std::string>()
                                 : test::project_dir() + "/" + t["file"].get<std::string>();
}

void expect_golden(const std::string& name, const Tokenizer& tok) {
  const Json& g = golden()["tokenizers"][name];
  const auto strings = golden()["strings"].get<std::vector<std::string>>();
  ASSERT_GE(strings.size(), 300u);
  int mismatches = 0;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    const auto expected = g["ids"][i].get<std::vector<std::int32_t>>();
    const auto ids = tok.encode(strings[i]);
    if (ids != expected && ++mismatches <= 5) ADD_FAILURE() << name << ": string " << i << " '" << strings[i] << "'";
    EXPECT_EQ(tok.decode(ids), g["decoded"][i].get<std::string>()) << name << ": decoding string " << i;
  }
  EXPECT_EQ(mismatches, 0) << name << ": strings whose ids differ from tokenizers'";
  const auto specials = golden()["special_strings"].get<std::vector<std::string>>();
  for (std::size_t i = 0; i < specials.size(); ++i) {
    EXPECT_EQ(tok.encode_with_specials(specials[i]), g["special_ids"][i].get<std::vector<std::int32_t>>())
        << name << ": '" << specials[i] << "' with special tokens";
  }
}

TEST(BpeTokenizer, Gpt2StyleMatchesHuggingFaceTokenizers) {
  const auto tok = load_tokenizer_for("", tokenizer_path("gpt2_style"));
  expect_golden("gpt2_style", *tok);
  EXPECT_FALSE(tok->default_add_bos()) << "GPT-2's post-processor adds nothing";
}

TEST(BpeTokenizer, Llama3StyleMatchesHuggingFaceTokenizers) {
  const auto tok = load_tokenizer_for("", tokenizer_path("llama3_style"));
  expect_golden("llama3_style", *tok);
  // TemplateProcessing puts <|begin_of_text|> first: the tokenizer's BOS.
  const auto framed = golden()["tokenizers"]["llama3_style"]["framed_ids"].get<std::vector<std::int32_t>>();
  EXPECT_TRUE(tok->default_add_bos());
  std::vector<std::int32_t> ids{tok->bos_id()};
  const auto text = tok->encode("Hello world");
  ids.insert(ids.end(), text.begin(), text.end());
  EXPECT_EQ(ids, framed);
}

TEST(BpeTokenizer, SmolLM2MatchesHuggingFaceTokenizers) {
  OCTET_REQUIRE_SHARED(path, "models/smollm2-135m-instruct/tokenizer.json");
  const auto tok = load_tokenizer_for("", path);
  EXPECT_EQ(tok->vocab_size(), 49152);
  expect_golden("smollm2", *tok);
  EXPECT_EQ(tok->token_id("<|im_end|>"), 2);
  EXPECT_EQ(tok->token_bytes(2), "") << "a special token prints nothing";
}

TEST(BpeTokenizer, TheGgufVocabularyTokenizesAsTheTokenizerJson) {
  OCTET_REQUIRE_SHARED(json, "models/smollm2-135m-instruct/tokenizer.json");
  OCTET_REQUIRE_SHARED(gguf, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
  const auto from_gguf = load_tokenizer_for(gguf, "");
  expect_golden("smollm2", *from_gguf);
  EXPECT_EQ(from_gguf->bos_id(), 1);
  EXPECT_EQ(from_gguf->eos_id(), 2);
  EXPECT_FALSE(from_gguf->default_add_bos());
}

// A GGUF file's own tokenizer written as tokenizer.json (what octet quantize
// does for a GGUF with none beside it) reads back to the same tokenizer. (BOS
// and EOS ids are the model's: config.json carries them, as Hugging Face's do.)
void expect_same_tokenizer(const Tokenizer& a, const Tokenizer& b) {
  EXPECT_EQ(a.vocab_size(), b.vocab_size());
  EXPECT_EQ(a.default_add_bos(), b.default_add_bos());
  for (const auto& s : golden()["strings"].get<std::vector<std::string>>()) {
    ASSERT_EQ(a.encode(s), b.encode(s)) << "'" << s << "'";
    ASSERT_EQ(a.decode(a.encode(s)), b.decode(b.encode(s))) << "'" << s << "'";
  }
  for (const auto& s : golden()["special_strings"].get<std::vector<std::string>>()) {
    ASSERT_EQ(a.encode_with_specials(s), b.encode_with_specials(s)) << "'" << s << "' with special tokens";
  }
}

std::string written_tokenizer_json(const test::TempDir& dir, const std::string& gguf) {
  const std::string path = dir.file("tokenizer.json");
  write_json_file(path, gguf_tokenizer_json(GgufFile(gguf)));
  return path;
}

TEST(BpeTokenizer, AGgufTokenizerWrittenAsTokenizerJsonReadsBackTheSame) {
  test::TempDir dir;
  const std::string gguf = test::test_data("gguf/tiny_llama.gguf");
  const auto written = load_tokenizer_for("", written_tokenizer_json(dir, gguf));
  expect_same_tokenizer(*load_tokenizer_for(gguf, ""), *written);
  const Json j = read_json_file(dir.file("tokenizer.json"));
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["pre_tokenizer"]["pretokenizers"].back()["type"], "ByteLevel");
}

TEST(BpeTokenizer, SmolLM2sGgufTokenizerWrittenAsTokenizerJsonMatchesHuggingFaceTokenizers) {
  OCTET_REQUIRE_SHARED(gguf, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
  test::TempDir dir;
  const auto written = load_tokenizer_for("", written_tokenizer_json(dir, gguf));
  expect_golden("smollm2", *written);
  expect_same_tokenizer(*load_tokenizer_for(gguf, ""), *written);
}

TEST(BpeTokenizer, StreamingNeverSplitsACharacter) {
  const auto tok = load_tokenizer_for("", tokenizer_path("gpt2_style"));
  const std::string text = "日本語 😀 café";
  const auto ids = tok->encode(text);
  StreamDecoder stream(*tok, true);
  std::string out;
  for (const auto id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_FALSE(find_invalid_utf8(piece).has_value()) << "a piece of half a character";
    out += piece;
  }
  EXPECT_EQ(out + stream.flush(), text);
}

// A tokenizer.json written by the test: vocab, merges and the stages as given.
std::string write_tokenizer(const test::TempDir& dir, const std::string& body) {
  const std::string path = dir.file("tokenizer.json");
  std::ofstream(path) << body;
  return path;
}

const char* kSmallModel = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3, "abc": 4, "Ġ": 5},
                                    "merges": [["a", "b"], "ab c"]})";

TEST(BpeTokenizer, MergesByRankInBothForms) {
  test::TempDir dir;
  const auto tok = load_tokenizer_for(
      "", write_tokenizer(dir, std::string("{") + kSmallModel + R"(, "pre_tokenizer": {"type": "ByteLevel",
          "add_prefix_space": false}, "decoder": {"type": "ByteLevel"}})"));
  EXPECT_EQ(tok->encode("abc"), (std::vector<std::int32_t>{4}));
  EXPECT_EQ(tok->encode("ab cab"), (std::vector<std::int32_t>{2, 5, 3, 2})) << "' c' is a piece of its own";
  EXPECT_EQ(tok->decode(std::vector<std::int32_t>{2, 5, 3}), "ab c");
}

TEST(BpeTokenizer, RefusesWhatItCannotRunNamingIt) {
  test::TempDir dir;
  const auto error = [&](const std::string& body) {
    return test::error_of([&] { load_tokenizer_for("", write_tokenizer(dir, body)); });
  };
  const std::string model = std::string("{") + kSmallModel;
  EXPECT_CONTAINS(error(model + R"(, "pre_tokenizer": {"type": "Metaspace"}})"), "pre_tokenizer type 'Metaspace'");
  EXPECT_CONTAINS(error(model + R"(, "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "ByteLevel"}})"),
                  "normalizer type 'Lowercase'");
  EXPECT_CONTAINS(error(R"({"model": {"type": "Unigram", "vocab": []}})"), "tokenizer model is 'Unigram'");
  EXPECT_CONTAINS(error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a z"]},
                            "pre_tokenizer": {"type": "ByteLevel"}})"),
                  "merge 0 ('a' 'z') names a token not in the vocabulary");
  EXPECT_CONTAINS(error(model + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"},
                          "behavior": "Isolated"}})"),
                  "does not compile");
  EXPECT_CONTAINS(error(model + "}"), "without a ByteLevel pre-tokenizer");
  EXPECT_CONTAINS(error(model + R"(, "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "WordPiece"}})"),
                  "decoder type 'WordPiece'");
}

TEST(BpeTokenizer, SplitBehaviors) {
  test::TempDir dir;
  // Characters a, b, -, and their merges: every behaviour of a Split on "-".
  const auto ids_with = [&](const std::string& behavior, const std::string& text) {
    const auto tok = load_tokenizer_for(
        "", write_tokenizer(dir, R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "-": 2, "a-": 3, "-b": 4},
              "merges": [["a", "-"], ["-", "b"]]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"String": "-"}, "behavior": ")" +
                                     behavior +
                                     R"("}, {"type": "ByteLevel", "use_regex": false, "add_prefix_space": false}]}})"));
    return tok->encode(text);
  };
  EXPECT_EQ(ids_with("Isolated", "a-b"), (std::vector<std::int32_t>{0, 2, 1}));
  EXPECT_EQ(ids_with("Removed", "a-b"), (std::vector<std::int32_t>{0, 1}));
  EXPECT_EQ(ids_with("MergedWithPrevious", "a-b"), (std::vector<std::int32_t>{3, 1}));
  EXPECT_EQ(ids_with("MergedWithNext", "a-b"), (std::vector<std::int32_t>{0, 4}));
  EXPECT_EQ(ids_with("Contiguous", "a--b"), (std::vector<std::int32_t>{0, 2, 2, 1}));
}

}  // namespace
}  // namespace octet
