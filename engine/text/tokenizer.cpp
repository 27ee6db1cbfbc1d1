#include "engine/text/tokenizer.h"

#include "engine/core/error.h"
#include "engine/io/gguf.h"
#include "engine/io/json_file.h"
#include "engine/text/bpe_tokenizer.h"
#include "engine/text/gguf_sentencepiece.h"
#include "engine/text/sentencepiece_tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "engine/text/wordpiece_tokenizer.h"

#include <filesystem>

#include "engine/text/utf8.h"

namespace octet {

std::vector<std::int32_t> Tokenizer::encode_with_specials(std::string_view text) const {
  std::vector<std::int32_t> out;
  std::size_t start = 0;
  while (start < text.size()) {
    // The earliest special token in the rest of the text (the longest on a tie).
    std::size_t best_at = std::string_view::npos, best_len = 0;
    std::int32_t best_id = -1;
    for (const auto& [s, id] : special_tokens()) {
      const std::size_t at = text.find(s, start);
      if (at != std::string_view::npos && (at < best_at || (at == best_at && s.size() > best_len))) {
        best_at = at, best_len = s.size(), best_id = id;
      }
    }
    const std::size_t end = best_at == std::string_view::npos ? text.size() : best_at;
    if (end > start) {
      auto ids = encode(text.substr(start, end - start));
      out.insert(out.end(), ids.begin(), ids.end());
    }
    if (best_id < 0) break;
    out.push_back(best_id);
    start = best_at + best_len;
  }
  return out;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  StreamDecoder decoder(*this, true);
  std::string text;
  for (auto id : ids) text += decoder.push(id);
  return text + decoder.flush();
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool at_text_start)
    : tokenizer_(tokenizer), at_start_(at_text_start) {}

std::string StreamDecoder::push(std::int32_t id) {
  std::string bytes = tokenizer_.token_bytes(id);
  // SentencePiece drops the dummy-prefix space of the first piece that shows any text.
  if (at_start_ && !bytes.empty()) {
    // (WordPiece: the space it puts before a word-initial piece.)
    const std::string piece = tokenizer_.piece(id);
    if (tokenizer_.adds_dummy_prefix() && bytes[0] == ' ' &&
        (piece.rfind("\xE2\x96\x81", 0) == 0 || bytes == " " + piece)) {
      bytes.erase(0, 1);
    }
    at_start_ = false;
  }
  pending_ += bytes;
  return take_complete(false);
}

std::string StreamDecoder::flush() { return take_complete(true); }

std::string StreamDecoder::take_complete(bool final) {
  std::string out;
  std::size_t i = 0;
  while (i < pending_.size()) {
    const int len = utf8_sequence_length(pending_, i);
    if (len > 0) {
      out.append(pending_, i, static_cast<std::size_t>(len));
      i += static_cast<std::size_t>(len);
    } else if (len < 0 && !final) {
      break;  // a character still arriving
    } else {
      out += kReplacementChar;  // one per ill-formed byte, as SentencePiece does
      ++i;
    }
  }
  pending_.erase(0, i);
  return out;
}

namespace {

// A GGUF file's own vocabulary: byte-level BPE ("gpt2") or SentencePiece ("llama").
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& g) {
  const std::string model = g.get_string("tokenizer.ggml.model");
  if (model == "gpt2") return load_bpe_gguf(g);
  if (model == "llama") return load_sentencepiece_model(gguf_sentencepiece_model(g), g.path());
  fail("{}: tokenizer.ggml.model '{}' is not one octet reads (gpt2: byte-level BPE, llama: SentencePiece); pass "
       "--tokenizer",
       g.path(), model);
}

std::unique_ptr<Tokenizer> load_tokenizer_file(const std::string& path, const std::string& model_dir) {
  namespace fs = std::filesystem;
  const std::string name = fs::path(path).filename().string();
  if (name.ends_with(".txt")) {
    // BERT's tokenizers lower-case unless the model's config says otherwise.
    const TokenizerConfig config = read_tokenizer_config(model_dir);
    WordPieceOptions options;
    options.lower_case = config.do_lower_case.value_or(true);
    options.unk_token = config.unk_token;
    return load_wordpiece_vocab(path, options);
  }
  if (name.ends_with(".json")) {
    const Json j = read_json_file(path);
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) fail("{}: no \"model\" object", path);
    const auto type = json_optional<std::string>(j["model"], "type", "", path);
    if (type == "WordPiece") return load_wordpiece_json(path);
    if (type == "BPE") return load_bpe_json(path, j);
    fail("{}: the tokenizer model is '{}'; octet reads WordPiece and BPE tokenizer.json files", path, type);
  }
  if (is_gguf_path(path)) return load_gguf_tokenizer(GgufFile(path));
  return load_sentencepiece(path);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_for(const std::string& model_path, const std::string& explicit_path) {
  namespace fs = std::filesystem;
  if (!explicit_path.empty()) return load_tokenizer_file(explicit_path, model_path);
  if (fs::is_directory(model_path)) {
    for (const char* name : {"tokenizer.model", "spiece.model", "vocab.txt", "tokenizer.json"}) {
      const fs::path p = fs::path(model_path) / name;
      if (fs::exists(p)) return load_tokenizer_file(p.string(), model_path);
    }
    fail(
        "{}: no tokenizer found (expected tokenizer.model, spiece.model, vocab.txt or tokenizer.json); pass "
        "--tokenizer PATH",
        model_path);
  }
  if (is_gguf_path(model_path)) return load_gguf_tokenizer(GgufFile(model_path));
  fail("{}: a single-file checkpoint carries no tokenizer; pass --tokenizer PATH/tokenizer.model", model_path);
}

}  // namespace octet
