// WordPiece, BERT's tokenizer: the basic tokenizer (clean-up, CJK and
// punctuation splitting, optional lower-casing with accent stripping), then
// greedy longest-match-first pieces with "##" continuations; a word with no
// spelling in pieces, or longer than max_chars, is one unknown token.
#pragma once

#include "engine/text/tokenizer.h"

#include <memory>
#include <string>
#include <vector>

namespace octet {

struct WordPieceOptions {
  bool lower_case = true;  // lower-case (and then strip accents, unless strip_accents says no)
  int strip_accents = -1;  // -1: as lower_case; 0: never; 1: always
  bool split_cjk = true;   // every CJK ideograph is its own word
  std::string unk_token = "[UNK]";
  std::string continuation = "##";
  int max_chars = 100;  // longer words become unk_token
};

// `vocab`: one piece per id. Throws octet::Error if unk_token is not in it.
std::unique_ptr<Tokenizer> make_wordpiece(std::vector<std::string> vocab, const WordPieceOptions& options);

// From a vocab.txt (one piece per line, the line number is the id) with
// `options`, or from a Hugging Face tokenizer.json whose model is WordPiece
// (its normalizer and model fields give the options).
std::unique_ptr<Tokenizer> load_wordpiece_vocab(const std::string& path, const WordPieceOptions& options);
std::unique_ptr<Tokenizer> load_wordpiece_json(const std::string& path);

}  // namespace octet
