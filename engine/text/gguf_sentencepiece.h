// A GGUF file's SentencePiece vocabulary (tokenizer.ggml.model "llama":
// Llama 1/2, TinyLlama, Mistral, ...) as the SentencePiece model it was
// converted from: the sentencepiece library then tokenizes as it does for
// the original tokenizer.model, and `octet quantize` writes it out as one.
#pragma once

#include "engine/io/gguf.h"

#include <string>

namespace octet {

// The serialized sentencepiece ModelProto: pieces with llama.cpp's scores and
// token types (normal, unknown, control, user-defined, unused, byte: the same
// numbers in both), a BPE model with byte fallback where the vocabulary has
// byte pieces, the identity normalizer with the dummy prefix where
// tokenizer.ggml.add_space_prefix says (llama.cpp's default: yes), BOS, EOS,
// unknown and padding pieces from the file's ids. Throws octet::Error naming
// the file where the metadata is missing, inconsistent or out of range.
std::string gguf_sentencepiece_model(const GgufFile& gguf);

}  // namespace octet
