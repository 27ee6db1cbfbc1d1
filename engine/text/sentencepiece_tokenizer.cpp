#include "engine/text/sentencepiece_tokenizer.h"

#include "engine/core/error.h"
#include "engine/text/utf8.h"

#include <sentencepiece_processor.h>

#include <filesystem>

namespace octet {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581, SentencePiece's space

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // From the file `path`, or where `serialized` is given, from that model (`path` names its source).
  SentencePieceTokenizer(const std::string& path, const std::string* serialized) : path_(path) {
    const auto status = serialized ? sp_.LoadFromSerializedProto(*serialized) : sp_.Load(path);
    if (!status.ok()) fail("{}: cannot load SentencePiece model: {}", path, status.ToString());
    const int n = sp_.GetPieceSize();
    bytes_.resize(static_cast<std::size_t>(n));
    for (int id = 0; id < n; ++id) {
      const std::string piece = sp_.IdToPiece(id);
      std::string& b = bytes_[static_cast<std::size_t>(id)];
      if (sp_.IsByte(id)) {
        b = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));  // "<0xAB>"
      } else if (sp_.IsControl(id)) {
        special_.emplace_back(piece, id);  // no surface text
      } else if (sp_.IsUnknown(id)) {
        b = " \xE2\x81\x87 ";  // what SentencePiece prints for <unk>
      } else {
        for (std::size_t i = 0; i < piece.size();) {
          if (piece.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
            b += ' ';
            i += kSpaceSymbol.size();
          } else {
            b += piece[i++];
          }
        }
      }
    }
    // The normalizer spec is not in Debian's public headers, so ask by behaviour:
    // a model that adds the dummy prefix encodes "a" as " a".
    std::string a;
    for (auto id : encode("a")) a += bytes_[checked(id)];
    dummy_prefix_ = a.rfind(' ', 0) == 0;
  }

  std::int64_t vocab_size() const override { return sp_.GetPieceSize(); }

  std::string_view kind() const override { return "SentencePiece"; }

  std::vector<std::int32_t> encode(std::string_view text) const override {
    require_utf8(text, "text to tokenize");
    std::vector<int> ids;
    const auto status = sp_.Encode(text, &ids);
    if (!status.ok()) fail("{}: cannot encode text: {}", path_, status.ToString());
    return {ids.begin(), ids.end()};
  }

  std::string token_bytes(std::int32_t id) const override { return bytes_.at(checked(id)); }
  std::string piece(std::int32_t id) const override { return sp_.IdToPiece(static_cast<int>(checked(id))); }
  bool adds_dummy_prefix() const override { return dummy_prefix_; }
  const std::vector<std::pair<std::string, std::int32_t>>& special_tokens() const override { return special_; }
  std::int32_t token_id(std::string_view piece) const override {
    const int id = sp_.PieceToId(piece);  // the unknown token's id when absent
    return id >= 0 && sp_.IdToPiece(id) == piece ? id : -1;
  }
  std::int32_t bos_id() const override { return sp_.bos_id(); }
  std::int32_t eos_id() const override { return sp_.eos_id(); }

 private:
  std::size_t checked(std::int32_t id) const {
    if (id < 0 || id >= sp_.GetPieceSize())
      fail("{}: token id {} outside the vocabulary of {}", path_, id, sp_.GetPieceSize());
    return static_cast<std::size_t>(id);
  }

  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
  bool dummy_prefix_ = true;
  std::vector<std::string> bytes_;  // per id: the bytes it decodes to
  std::vector<std::pair<std::string, std::int32_t>> special_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) fail("{}: tokenizer file not found", path);
  return std::make_unique<SentencePieceTokenizer>(path, nullptr);
}

std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& serialized, const std::string& source) {
  return std::make_unique<SentencePieceTokenizer>(source, &serialized);
}

}  // namespace octet
