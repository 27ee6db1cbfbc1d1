// SentencePiece models (tokenizer.model / spiece.model) through the sentencepiece library.
#pragma once

#include "engine/text/tokenizer.h"

#include <memory>
#include <string>

namespace octet {

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& path);
// From a serialized ModelProto (a tokenizer.model's bytes); errors name `source`.
std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& serialized, const std::string& source);

}  // namespace octet
