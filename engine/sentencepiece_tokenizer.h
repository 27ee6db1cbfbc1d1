// SentencePiece models (tokenizer.model / spiece.model) through the sentencepiece library.
#pragma once

#include "engine/tokenizer.h"

#include <memory>
#include <string>

namespace octet {

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& path);

// The tokenizer of a model: `explicit_path` when given, else tokenizer.model
// or spiece.model inside `model_path` when it is a directory.
std::unique_ptr<Tokenizer> load_tokenizer_for(const std::string& model_path, const std::string& explicit_path);

}  // namespace octet
