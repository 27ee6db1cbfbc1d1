// WordPiece on hand-made vocabularies, one rule per test, with the ids BERT's
// tokenizer gives worked out by hand from its rules.
#include "engine/core/error.h"
#include "engine/text/tokenizer.h"
#include "engine/text/wordpiece_tokenizer.h"
#include "tests/test_support.h"

#include <fstream>

namespace octet {
namespace {

const std::vector<std::string> kVocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un",  "##aff", "##able",
                                         "the",   "cafe",  ",",     "!",     "$",   "中",    "国",
                                         "hello", "##s",   "a",     "##b",   "##c", "e",     "\xC3\xA9" /* é */};

std::vector<std::int32_t> ids(const Tokenizer& t, std::string_view text) { return t.encode(text); }

TEST(WordPiece, GreedyLongestMatchWithContinuations) {
  const auto t = make_wordpiece(kVocab, {});
  EXPECT_EQ(ids(*t, "unaffable"), (std::vector<std::int32_t>{4, 5, 6}));
  EXPECT_EQ(ids(*t, "hellos the"), (std::vector<std::int32_t>{14, 15, 7}));
  EXPECT_EQ(t->decode(ids(*t, "unaffable hellos")), "unaffable hellos");
}

TEST(WordPiece, LowerCasesAndStripsAccents) {
  const auto t = make_wordpiece(kVocab, {});
  EXPECT_EQ(ids(*t, "The CAF\xC3\x89"), (std::vector<std::int32_t>{7, 8}));  // "The CAFÉ" -> the cafe
  WordPieceOptions cased;
  cased.lower_case = false;
  const auto c = make_wordpiece(kVocab, cased);
  EXPECT_EQ(ids(*c, "The"), (std::vector<std::int32_t>{1}));        // no "The" in the vocabulary
  EXPECT_EQ(ids(*c, "\xC3\xA9"), (std::vector<std::int32_t>{20}));  // accents kept when cased
  WordPieceOptions lower_keep_accents;
  lower_keep_accents.strip_accents = 0;
  EXPECT_EQ(ids(*make_wordpiece(kVocab, lower_keep_accents), "\xC3\x89"), (std::vector<std::int32_t>{20}));
}

TEST(WordPiece, SplitsPunctuationIncludingAsciiSymbols) {
  const auto t = make_wordpiece(kVocab, {});
  EXPECT_EQ(ids(*t, "the,cafe!"), (std::vector<std::int32_t>{7, 9, 8, 10}));
  EXPECT_EQ(ids(*t, "$the"), (std::vector<std::int32_t>{11, 7}));            // "$" is BERT punctuation
  EXPECT_EQ(ids(*t, "the\xE2\x80\x94"), (std::vector<std::int32_t>{7, 1}));  // em dash: its own (unknown) word
}

TEST(WordPiece, EveryCjkIdeographIsAWord) {
  const auto t = make_wordpiece(kVocab, {});
  EXPECT_EQ(ids(*t, "the\xE4\xB8\xAD\xE5\x9B\xBD"), (std::vector<std::int32_t>{7, 12, 13}));  // the中国
}

TEST(WordPiece, UnknownWordsAndOverLongWordsAreOneUnk) {
  WordPieceOptions options;
  options.max_chars = 5;
  const auto t = make_wordpiece(kVocab, options);
  EXPECT_EQ(ids(*t, "abcz the"), (std::vector<std::int32_t>{1, 7}));  // "z" has no piece: the whole word
  EXPECT_EQ(ids(*t, "abc"), (std::vector<std::int32_t>{16, 17, 18}));
  EXPECT_EQ(ids(*t, "abcbcb"), (std::vector<std::int32_t>{1}));  // 6 characters > 5
}

TEST(WordPiece, DropsControlCharactersAndSplitsOnUnicodeSpace) {
  const auto t = make_wordpiece(kVocab, {});
  EXPECT_EQ(ids(*t,
                "th\x01"
                "e\xC2\xA0the\tcafe\n"),
            (std::vector<std::int32_t>{7, 7, 8}));
  EXPECT_TRUE(ids(*t, "  \n").empty());
}

TEST(WordPiece, RejectsInvalidUtf8AndAVocabularyWithoutUnk) {
  const auto t = make_wordpiece(kVocab, {});
  EXPECT_THROW(t->encode("caf\xC3"), Error);
  EXPECT_THROW(make_wordpiece({"a", "b"}, {}), Error);
}

TEST(WordPiece, LoadsVocabTxtAndTokenizerJson) {
  test::TempDir dir;
  {
    std::ofstream f(dir.file("vocab.txt"));
    for (const auto& v : kVocab) f << v << "\n";
  }
  const auto t = load_wordpiece_vocab(dir.file("vocab.txt"), {});
  EXPECT_EQ(t->vocab_size(), static_cast<std::int64_t>(kVocab.size()));
  EXPECT_EQ(t->token_id("[CLS]"), 2);
  EXPECT_EQ(ids(*t, "Unaffable!"), (std::vector<std::int32_t>{4, 5, 6, 10}));
  {
    std::ofstream f(dir.file("tokenizer.json"));
    f << R"({"normalizer": {"type": "BertNormalizer", "lowercase": false, "strip_accents": null},
             "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                       "max_input_chars_per_word": 100, "vocab": {)";
    for (std::size_t i = 0; i < kVocab.size(); ++i) f << (i ? "," : "") << "\"" << kVocab[i] << "\": " << i;
    f << "}}}";
  }
  const auto j = load_wordpiece_json(dir.file("tokenizer.json"));
  EXPECT_EQ(ids(*j, "unaffable The"), (std::vector<std::int32_t>{4, 5, 6, 1}));  // cased: "The" is unknown
  {
    std::ofstream f(dir.file("bpe.json"));
    f << R"({"model": {"type": "BPE", "vocab": {}}})";
  }
  EXPECT_CONTAINS(test::error_of([&] { load_wordpiece_json(dir.file("bpe.json")); }), "not WordPiece");
}

// A model directory's tokenizer_config.json decides case and the unknown
// token for its vocab.txt, as Hugging Face's BertTokenizer reads them.
TEST(WordPiece, VocabTxtFollowsTheDirectorysTokenizerConfig) {
  test::TempDir dir;
  {
    std::ofstream f(dir.file("vocab.txt"));
    for (const auto& v : kVocab) f << (v == "[UNK]" ? "<unk>" : v) << "\n";
  }
  EXPECT_THROW(load_tokenizer_for(dir.path(), ""), Error) << "no [UNK] in the vocabulary, and nothing says <unk>";
  std::ofstream(dir.file("tokenizer_config.json")) << R"({"do_lower_case": false, "unk_token": "<unk>"})";
  const auto t = load_tokenizer_for(dir.path(), "");
  EXPECT_EQ(ids(*t, "the The"), (std::vector<std::int32_t>{7, 1}));  // cased: "The" is the unknown <unk>
  std::ofstream(dir.file("tokenizer_config.json")) << R"({"unk_token": {"content": "<unk>"}})";
  EXPECT_EQ(ids(*load_tokenizer_for(dir.path(), ""), "the The"), (std::vector<std::int32_t>{7, 7}))
      << "lower-cased by default";
}

}  // namespace
}  // namespace octet
