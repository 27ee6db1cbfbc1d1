#include "engine/core/error.h"
#include "engine/io/gguf.h"
#include "engine/text/gguf_sentencepiece.h"
#include "engine/text/sentencepiece_tokenizer.h"
#include "engine/text/tokenizer.h"
#include "engine/text/utf8.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <fstream>
#include <random>
#include <sstream>

namespace octet {
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Compares encode() with ids that the spm_encode command produced (see
// tests/reference/make_tokenizer_golden.sh) for tests/data/tokenizer_strings.txt.
void expect_matches_spm_encode(const Tokenizer& tokenizer, const std::string& golden) {
  const auto strings = read_lines(test::test_data("tokenizer_strings.txt"));
  const auto expected = read_lines(golden);
  ASSERT_EQ(strings.size(), expected.size());
  for (std::size_t i = 0; i < strings.size(); ++i) {
    std::vector<std::int32_t> want;
    std::istringstream ids(expected[i]);
    for (std::int32_t id; ids >> id;) want.push_back(id);
    EXPECT_EQ(tokenizer.encode(strings[i]), want) << "line " << i + 1 << ": " << strings[i];
  }
}

TEST(SentencePiece, MatchesSpmEncodeWithLlama2Tokenizer) {
  OCTET_REQUIRE_SHARED(model, "models/llama2_tokenizer/tokenizer.model");
  expect_matches_spm_encode(*load_sentencepiece(model), test::test_data("llama2_tokenizer_golden.txt"));
}

TEST(SentencePiece, MatchesSpmEncodeWithShippedTokenizer) {
  expect_matches_spm_encode(*load_sentencepiece(test::shipped_model() + "/tokenizer.model"),
                            test::test_data("tinystories_mini_tokenizer_golden.txt"));
}

// A GGUF file's SentencePiece vocabulary (tiny_llama_spm.gguf: the shipped
// tokenizer.model as llama.cpp's converter writes it, tokenizer.ggml.model
// "llama"): the model octet builds from the metadata tokenizes the golden
// strings as spm_encode does with the original file, has the same pieces,
// bytes and special ids, and written out (what `octet quantize` does) reads
// back the same. Broken metadata is an error naming the file and the key.
TEST(SentencePiece, GgufVocabularyTokenizesAsTheOriginalModel) {
  const std::string path = test::test_data("gguf/tiny_llama_spm.gguf");
  const auto gguf = load_tokenizer_for(path, "");
  const auto original = load_sentencepiece(test::shipped_model() + "/tokenizer.model");
  EXPECT_EQ(gguf->kind(), "SentencePiece");
  expect_matches_spm_encode(*gguf, test::test_data("tinystories_mini_tokenizer_golden.txt"));
  ASSERT_EQ(gguf->vocab_size(), original->vocab_size());
  for (std::int32_t id = 0; id < original->vocab_size(); ++id) {
    EXPECT_EQ(gguf->piece(id), original->piece(id)) << id;
    EXPECT_EQ(gguf->token_bytes(id), original->token_bytes(id)) << id;
  }
  EXPECT_EQ(gguf->bos_id(), original->bos_id());
  EXPECT_EQ(gguf->eos_id(), original->eos_id());
  EXPECT_EQ(gguf->adds_dummy_prefix(), original->adds_dummy_prefix());
  EXPECT_EQ(gguf->special_tokens(), original->special_tokens());

  test::TempDir dir;
  const std::string written = dir.file("tokenizer.model");
  const std::string model = gguf_sentencepiece_model(GgufFile(path));
  std::ofstream(written, std::ios::binary).write(model.data(), static_cast<std::streamsize>(model.size()));
  expect_matches_spm_encode(*load_sentencepiece(written), test::test_data("tinystories_mini_tokenizer_golden.txt"));

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto edited_error = [&](const std::string& from, const std::string& to, std::size_t after = 0) {
    std::string edited = bytes;
    const std::size_t at = edited.find(from, after);
    if (at == std::string::npos) return std::string("'" + from + "' not in the file");
    edited.replace(at, from.size(), to);  // the same length: every offset stays valid
    const std::string out = dir.file("edited.gguf");
    std::ofstream(out, std::ios::binary).write(edited.data(), static_cast<std::streamsize>(edited.size()));
    return test::error_of([&] { load_tokenizer_for(out, ""); });
  };
  EXPECT_CONTAINS(edited_error("tokenizer.ggml.scores", "tokenizer.ggml.scorez"),
                  "edited.gguf: metadata 'tokenizer.ggml.scores' (an array of floats) is missing");
  EXPECT_CONTAINS(edited_error("tokenizer.ggml.token_type", "tokenizer.ggml.token_typf"),
                  "edited.gguf: 0 tokens have token type 2 (unknown); a SentencePiece vocabulary has exactly one "
                  "(tokenizer.ggml.token_type is missing)");
  EXPECT_CONTAINS(edited_error("llama", "llamb", bytes.find("tokenizer.ggml.model")),
                  "edited.gguf: tokenizer.ggml.model 'llamb' is not one octet reads");
}

TEST(SentencePiece, NewlinesAndUnknownBytesUseByteFallback) {
  OCTET_REQUIRE_SHARED(model, "models/llama2_tokenizer/tokenizer.model");
  const auto tokenizer = load_sentencepiece(model);
  // Llama 2 puts byte <0xXX> at id 3 + XX.
  const auto ids = tokenizer->encode("a\nb");
  EXPECT_NE(std::find(ids.begin(), ids.end(), 3 + '\n'), ids.end());
  EXPECT_EQ(tokenizer->decode(ids), "a\nb");
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
}

// decode() against the library's own DecodeIds on random id sequences,
// which mix byte pieces (often forming invalid UTF-8), control and normal pieces.
void expect_decode_matches_library(const std::string& model) {
  const auto tokenizer = load_sentencepiece(model);
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model).ok());
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> any(0, static_cast<int>(tokenizer->vocab_size()) - 1), bytes(3, 3 + 255),
      len(1, 12);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<int> ids;
    const int n = len(rng);
    for (int i = 0; i < n; ++i) ids.push_back(trial % 3 == 0 ? bytes(rng) : any(rng));
    std::string want;
    ASSERT_TRUE(sp.Decode(ids, &want).ok());
    const std::vector<std::int32_t> ids32(ids.begin(), ids.end());
    EXPECT_EQ(tokenizer->decode(ids32), want) << "trial " << trial;

    // Streaming gives the same text, in pieces that are each valid UTF-8.
    StreamDecoder stream(*tokenizer, true);
    std::string streamed;
    for (auto id : ids32) {
      const std::string piece = stream.push(id);
      EXPECT_FALSE(find_invalid_utf8(piece).has_value()) << "trial " << trial;
      streamed += piece;
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, want) << "trial " << trial;
  }
}

TEST(SentencePiece, DecodeMatchesLibraryOnRandomIds) {
  expect_decode_matches_library(test::shipped_model() + "/tokenizer.model");
}

TEST(SentencePiece, DecodeMatchesLibraryOnRandomIdsLlama2) {
  OCTET_REQUIRE_SHARED(model, "models/llama2_tokenizer/tokenizer.model");
  expect_decode_matches_library(model);
}

TEST(SentencePiece, StreamingHoldsBackHalfCharacters) {
  OCTET_REQUIRE_SHARED(model, "models/llama2_tokenizer/tokenizer.model");
  const auto tokenizer = load_sentencepiece(model);
  auto ids = tokenizer->encode("😀");  // "▁" then four byte pieces: not in the vocabulary
  ASSERT_EQ(ids.size(), 5u);
  ids.erase(ids.begin());
  for (auto id : ids) ASSERT_EQ(tokenizer->token_bytes(id).size(), 1u) << "byte piece expected";
  StreamDecoder stream(*tokenizer, false);
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_EQ(stream.push(ids[i]), "") << "no partial character";
  EXPECT_EQ(stream.push(ids.back()), "\xF0\x9F\x98\x80");
  // A character cut short shows as U+FFFD at flush, never as raw bytes.
  StreamDecoder cut(*tokenizer, false);
  EXPECT_EQ(cut.push(ids[0]), "");
  EXPECT_EQ(cut.push(ids[1]), "");
  EXPECT_EQ(cut.flush(), std::string(kReplacementChar) + std::string(kReplacementChar));
  // ... and a normal piece after a cut-short character flushes it as U+FFFD first.
  StreamDecoder mixed(*tokenizer, false);
  mixed.push(ids[0]);
  const std::int32_t a = tokenizer->encode("a").back();
  EXPECT_EQ(mixed.push(a), std::string(kReplacementChar) + tokenizer->token_bytes(a));
}

TEST(SentencePiece, MidTextStreamingKeepsLeadingSpace) {
  const auto tokenizer = load_sentencepiece(test::shipped_model() + "/tokenizer.model");
  const auto ids = tokenizer->encode("there was");
  StreamDecoder start(*tokenizer, true), middle(*tokenizer, false);
  std::string a, b;
  for (auto id : ids) a += start.push(id), b += middle.push(id);
  EXPECT_EQ(a, "there was");
  EXPECT_EQ(b, " there was");
}

TEST(SentencePiece, SpecialTokensOnlyWhenAsked) {
  const auto tokenizer = load_sentencepiece(test::shipped_model() + "/tokenizer.model");
  const auto plain = tokenizer->encode("<s>hi");
  EXPECT_NE(plain.front(), tokenizer->bos_id()) << "text that spells <s> is text";
  const auto special = tokenizer->encode_with_specials("<s>hi</s>");
  ASSERT_GE(special.size(), 3u);
  EXPECT_EQ(special.front(), tokenizer->bos_id());
  EXPECT_EQ(special.back(), tokenizer->eos_id());
}

TEST(SentencePiece, ErrorsNameTheProblem) {
  const auto tokenizer = load_sentencepiece(test::shipped_model() + "/tokenizer.model");
  EXPECT_CONTAINS(test::error_of([&] { tokenizer->encode("bad \xC3 byte"); }), "invalid UTF-8 at byte 4");
  EXPECT_THROW(tokenizer->token_bytes(-1), Error);
  EXPECT_THROW(tokenizer->token_bytes(1 << 20), Error);
  test::TempDir dir;
  std::ofstream(dir.file("tokenizer.model")) << "not a protobuf";
  EXPECT_THROW(load_sentencepiece(dir.file("tokenizer.model")), Error);
  EXPECT_THROW(load_sentencepiece(dir.file("absent.model")), Error);
  EXPECT_CONTAINS(test::error_of([&] { load_tokenizer_for(dir.path() + "/empty", ""); }), "--tokenizer");
}

}  // namespace
}  // namespace octet
