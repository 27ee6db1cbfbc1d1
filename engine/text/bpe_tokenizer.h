// Byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM): text is split at added
// tokens, normalized and pre-tokenized (pre_tokenizer.h), each piece's bytes
// mapped to GPT-2's printable alphabet and merged pair by pair, lowest merge
// rank first, as Hugging Face's tokenizers library does. Read from a
// tokenizer.json (model.type "BPE") or from a GGUF file's vocabulary.
#pragma once

#include "engine/io/gguf.h"
#include "engine/io/json_file.h"
#include "engine/text/pre_tokenizer.h"
#include "engine/text/tokenizer.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace octet {

// A token matched in the raw text before anything else runs (tokenizer.json's added_tokens).
struct AddedToken {
  std::string content;
  std::int32_t id = -1;
  bool special = false;  // a control token: matched only where specials are asked for, decoded as nothing
  bool lstrip = false;   // swallows the whitespace before it
  bool rstrip = false;   // swallows the whitespace after it
};

struct BpeSpec {
  std::string source;              // the file, for errors
  std::vector<std::string> vocab;  // [id] the token in the byte-level alphabet ("" for an unused id)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::vector<AddedToken> added;
  PreTokenizer pre;
  bool ignore_merges = false;  // a piece that is a whole token is not merged (Llama 3)
  bool byte_fallback = false;  // a character not in the vocabulary becomes <0xNN> tokens
  std::int32_t unk_id = -1;
  std::int32_t bos_id = -1, eos_id = -1;
  bool add_bos = false;  // the post-processor (or GGUF's add_bos_token) puts bos_id first
};

// Throws octet::Error naming spec.source for a merge of tokens not in the
// vocabulary, an id out of range, or ids used twice.
std::unique_ptr<Tokenizer> make_bpe(BpeSpec spec);

// From a parsed tokenizer.json whose model.type is "BPE".
std::unique_ptr<Tokenizer> load_bpe_json(const std::string& path, const Json& tokenizer_json);

// From a GGUF file's tokenizer.ggml.* metadata (model "gpt2"; the
// pre-tokenizer by tokenizer.ggml.pre, mapped to llama.cpp's regexes).
std::unique_ptr<Tokenizer> load_bpe_gguf(const GgufFile& gguf);

// The same tokenizer as Hugging Face's tokenizer.json (llama.cpp's regexes as
// Split steps, a TemplateProcessing that puts BOS first where the file says
// add_bos_token), which load_bpe_json reads back to the same ids. Throws
// octet::Error, naming the file, where the vocabulary holds a token twice.
Json gguf_tokenizer_json(const GgufFile& gguf);

}  // namespace octet
