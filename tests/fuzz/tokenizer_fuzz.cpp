// Text through a tokenizer and back: encode (which must refuse invalid UTF-8
// with octet::Error), encode_with_specials, decode of what it gave, and
// streaming decode of arbitrary ids (the bytes read as int32s, out-of-range
// ones included). The first byte picks the tokenizer: the SentencePiece model
// of the shipped tinystories-mini, a small WordPiece vocabulary, or the
// Llama-3-style byte-level BPE test tokenizer (tests/data/bpe).
#include "engine/text/tokenizer.h"
#include "engine/text/wordpiece_tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

#include <cstring>
#include <memory>

namespace {

const octet::Tokenizer& tokenizer(std::uint8_t which) {
  static const auto sentencepiece =
      octet::load_tokenizer_for((octet::fuzz::source_dir() / "assets/models/tinystories-mini").string(), "");
  static const auto word_piece = octet::make_wordpiece(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "##s", "un", "##able", "é", "a", "##b", ",", "\xe4\xb8\x80"},
      {});
  static const auto bpe =
      octet::load_tokenizer_for("", (octet::fuzz::source_dir() / "tests/data/bpe/llama3_style.json").string());
  switch (which % 3) {
    case 0:
      return *sentencepiece;
    case 1:
      return *word_piece;
    default:
      return *bpe;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  if (size == 0) return 0;
  const Tokenizer& tok = tokenizer(data[0]);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  fuzz::refuse_only_with_octet_error([&] {
    const auto ids = tok.encode(text);
    tok.decode(ids);
    tok.encode_with_specials(text);
  });
  fuzz::refuse_only_with_octet_error([&] {
    std::vector<std::int32_t> ids((size - 1) / 4);
    if (!ids.empty()) std::memcpy(ids.data(), data + 1, ids.size() * 4);
    StreamDecoder stream(tok, true);
    for (const auto id : ids) stream.push(id);
    stream.flush();
    tok.decode(ids);
  });
  return 0;
}
