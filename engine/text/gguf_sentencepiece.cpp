#include "engine/text/gguf_sentencepiece.h"

#include "engine/core/error.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

namespace octet {

namespace {

// The few protocol-buffer encodings a ModelProto needs (Debian ships
// sentencepiece without its .proto, so the message is written field by
// field; field numbers from sentencepiece_model.proto).
class ProtoWriter {
 public:
  void varint_field(int field, std::uint64_t v) {
    tag(field, 0);
    varint(v);
  }
  // int32 fields: a negative value is sign-extended to 64 bits, as protobuf does.
  void int32_field(int field, std::int32_t v) { varint_field(field, static_cast<std::uint64_t>(std::int64_t{v})); }
  void float_field(int field, float v) {
    tag(field, 5);
    const auto bits = std::bit_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  void bytes_field(int field, std::string_view bytes) {
    tag(field, 2);
    varint(bytes.size());
    out_ += bytes;
  }
  const std::string& bytes() const { return out_; }

 private:
  void tag(int field, int wire_type) { varint(static_cast<std::uint64_t>(field) << 3 | static_cast<unsigned>(wire_type)); }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  std::string out_;
};

// SentencePiece's piece types, which llama.cpp's token types copy.
enum PieceType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

}  // namespace

std::string gguf_sentencepiece_model(const GgufFile& g) {
  const std::string& path = g.path();
  const std::string model = g.get_string("tokenizer.ggml.model");
  if (model != "llama") fail("{}: tokenizer.ggml.model is '{}', not a SentencePiece ('llama') vocabulary", path, model);
  const std::vector<std::string>& tokens = g.get_strings("tokenizer.ggml.tokens");
  if (tokens.empty()) fail("{}: tokenizer.ggml.tokens is empty", path);
  const std::vector<double>& scores = g.get_floats("tokenizer.ggml.scores");
  if (scores.size() != tokens.size()) fail("{}: {} scores for {} tokens", path, scores.size(), tokens.size());
  std::vector<std::int64_t> types(tokens.size(), kNormal);
  if (g.has("tokenizer.ggml.token_type")) {
    types = g.get_ints("tokenizer.ggml.token_type");
    if (types.size() != tokens.size()) fail("{}: {} token types for {} tokens", path, types.size(), tokens.size());
  }
  const auto piece_of = [&](const char* key) -> std::string {
    const auto id = g.find_int(key);
    if (!id) return {};
    if (*id < 0 || static_cast<std::size_t>(*id) >= tokens.size()) {
      fail("{}: {} {} is outside the vocabulary of {}", path, key, *id, tokens.size());
    }
    return tokens[static_cast<std::size_t>(*id)];
  };

  ProtoWriter proto;
  bool byte_fallback = false;
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    std::int64_t type = types[id];
    if (type == 0) type = kNormal;  // llama.cpp's "undefined"
    if (type < kNormal || type > kByte) fail("{}: token {} ('{}') has token type {}, not 0 to 6", path, id, tokens[id], type);
    if (!(std::abs(scores[id]) <= 3.4e38)) fail("{}: token {} has score {}, not a float", path, id, scores[id]);
    byte_fallback |= type == kByte;
    ProtoWriter piece;
    piece.bytes_field(1, tokens[id]);
    piece.float_field(2, static_cast<float>(scores[id]));
    piece.varint_field(3, static_cast<std::uint64_t>(type));
    proto.bytes_field(1, piece.bytes());
  }
  const auto unknowns = std::count(types.begin(), types.end(), std::int64_t{kUnknown});
  if (unknowns != 1) {
    fail("{}: {} tokens have token type 2 (unknown); a SentencePiece vocabulary has exactly one{}", path, unknowns,
         g.has("tokenizer.ggml.token_type") ? "" : " (tokenizer.ggml.token_type is missing)");
  }
  ProtoWriter trainer;
  trainer.varint_field(3, 2);  // model_type: BPE (llama.cpp merges SentencePiece vocabularies by score)
  trainer.int32_field(4, static_cast<std::int32_t>(tokens.size()));
  trainer.varint_field(35, byte_fallback ? 1 : 0);
  // The special pieces by name (the library finds their ids by piece); absent ones keep its defaults.
  for (const auto& [field, key] : {std::pair{45, "tokenizer.ggml.unknown_token_id"},
                                   {46, "tokenizer.ggml.bos_token_id"},
                                   {47, "tokenizer.ggml.eos_token_id"},
                                   {48, "tokenizer.ggml.padding_token_id"}}) {
    if (const std::string piece = piece_of(key); !piece.empty()) trainer.bytes_field(field, piece);
  }
  proto.bytes_field(2, trainer.bytes());
  ProtoWriter normalizer;
  normalizer.bytes_field(1, "identity");
  normalizer.varint_field(3, g.find_bool("tokenizer.ggml.add_space_prefix").value_or(true) ? 1 : 0);
  normalizer.varint_field(4, 0);  // remove_extra_whitespaces: llama.cpp keeps every space
  normalizer.varint_field(5, 1);  // escape_whitespaces: spaces become U+2581
  proto.bytes_field(3, normalizer.bytes());
  return proto.bytes();
}

}  // namespace octet
