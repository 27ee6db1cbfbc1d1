// Room engine/text: tokenizers, UTF-8, tokenizer configs, chat formats, text records.
// Includes engine/core, quant/ and io/, never session/.
//
// Text <-> token ids. Tokenizers are immutable after loading; per-call state
// (streaming detokenization) lives in StreamDecoder.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace octet {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual std::int64_t vocab_size() const = 0;
  // "SentencePiece", "WordPiece", "byte-level BPE": for `octet info`.
  virtual std::string_view kind() const = 0;
  // Ids of `text` without BOS/EOS. Text that spells a special token ("<s>")
  // is ordinary text here. Throws octet::Error on invalid UTF-8.
  virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;
  // The bytes token `id` stands for: byte-fallback pieces give their byte,
  // control tokens nothing, "▁" becomes a space.
  virtual std::string token_bytes(std::int32_t id) const = 0;
  // True when encode() adds a dummy space before the text, which decoding
  // the start of a text therefore drops again.
  virtual bool adds_dummy_prefix() const = 0;
  // Control tokens by their text ("<s>", "</s>", "<|im_end|>"), for chat formats.
  virtual const std::vector<std::pair<std::string, std::int32_t>>& special_tokens() const = 0;
  // A readable form of one token for debugging ("▁the", "<0x0A>").
  virtual std::string piece(std::int32_t id) const = 0;
  // The id of the token whose piece is exactly `piece` ("[CLS]"), or -1.
  virtual std::int32_t token_id(std::string_view piece) const = 0;

  virtual std::int32_t bos_id() const = 0;  // -1 when the tokenizer has none
  virtual std::int32_t eos_id() const = 0;

  // Like encode(), but every span that spells a special token becomes that token.
  virtual std::vector<std::int32_t> encode_with_specials(std::string_view text) const;
  // Whether a text starts with BOS when the model's tokenizer_config.json
  // does not say (add_bos_token): byte-level BPE follows its post-processor
  // or GGUF metadata; SentencePiece and WordPiece models do.
  virtual bool default_add_bos() const { return true; }
  // Decodes a whole text (as SentencePiece's DecodeIds would).
  std::string decode(std::span<const std::int32_t> ids) const;
};

// The tokenizer of a model: `explicit_path` when given (a SentencePiece
// .model, a WordPiece vocab.txt, a tokenizer.json with a WordPiece or BPE
// model, or a .gguf file's vocabulary), else the first of tokenizer.model,
// spiece.model, vocab.txt, tokenizer.json inside `model_path` when it is a
// directory, or the vocabulary of `model_path` when it is a GGUF file. vocab.txt is lower-cased as
// tokenizer_config.json's do_lower_case says (default true, as BERT's).
std::unique_ptr<Tokenizer> load_tokenizer_for(const std::string& model_path, const std::string& explicit_path);

// Turns ids into text as they are generated, holding back the bytes of a
// character that is not complete yet, so a terminal never sees half a
// UTF-8 sequence or a stray byte-fallback piece.
class StreamDecoder {
 public:
  // `at_text_start`: the first token begins the text (its dummy-prefix space is dropped).
  StreamDecoder(const Tokenizer& tokenizer, bool at_text_start);
  // The text that became complete with `id` (may be empty).
  std::string push(std::int32_t id);
  // Whatever is held back, ill-formed bytes shown as U+FFFD.
  std::string flush();

 private:
  std::string take_complete(bool final);
  const Tokenizer& tokenizer_;
  bool at_start_;
  std::string pending_;  // bytes not yet emitted
};

}  // namespace octet
