#include "engine/text/wordpiece_tokenizer.h"

#include "engine/core/error.h"
#include "engine/io/json_file.h"
#include "engine/text/utf8.h"

#include <utf8proc.h>

#include <fstream>
#include <unordered_map>

namespace octet {

namespace {

using CodePoints = std::vector<utf8proc_int32_t>;

CodePoints decode_utf8(std::string_view text) {
  CodePoints out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  auto left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t c = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &c);
    if (n <= 0) fail("wordpiece: invalid UTF-8");  // require_utf8 has run; cannot happen
    out.push_back(c);
    p += n;
    left -= n;
  }
  return out;
}

void append_utf8(std::string& out, utf8proc_int32_t c) {
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(c, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

bool is_whitespace(utf8proc_int32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

// BERT drops control and format characters (but \t \n \r are whitespace).
bool is_control(utf8proc_int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const auto cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF;
}

// BERT counts every non-alphanumeric ASCII symbol ("$", "^", "`") as punctuation too.
bool is_punctuation(utf8proc_int32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  const auto cat = utf8proc_category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

// The CJK Unified Ideographs blocks, as BERT's basic tokenizer lists them
// (Hangul and kana are not among them: they are written with spaces).
bool is_cjk(utf8proc_int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Canonical decomposition (NFD) without the nonspacing marks: "é" -> "e".
void append_without_accents(CodePoints& out, utf8proc_int32_t c) {
  utf8proc_int32_t buf[8];
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(c, buf, 8, UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n < 0 || n > 8) {
    out.push_back(c);
    return;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) {
    if (utf8proc_category(buf[i]) != UTF8PROC_CATEGORY_MN) out.push_back(buf[i]);
  }
}

class WordPieceTokenizer final : public Tokenizer {
 public:
  WordPieceTokenizer(std::vector<std::string> vocab, const WordPieceOptions& options)
      : vocab_(std::move(vocab)), options_(options) {
    for (std::size_t i = 0; i < vocab_.size(); ++i) ids_.emplace(vocab_[i], static_cast<std::int32_t>(i));
    unk_ = token_id(options_.unk_token);
    if (unk_ < 0) fail("wordpiece: the unknown token '{}' is not in the vocabulary", options_.unk_token);
    // Bracketed pieces ("[CLS]", "[unused0]") are special: never produced by
    // encode(), decoded as nothing.
    for (std::size_t i = 0; i < vocab_.size(); ++i) {
      const std::string& v = vocab_[i];
      if (v.size() > 2 && v.front() == '[' && v.back() == ']') special_.emplace_back(v, static_cast<std::int32_t>(i));
    }
  }

  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(vocab_.size()); }

  std::string_view kind() const override { return "WordPiece"; }

  std::vector<std::int32_t> encode(std::string_view text) const override {
    require_utf8(text, "text");
    std::vector<std::int32_t> ids;
    for (const CodePoints& word : basic_tokens(text)) pieces(word, ids);
    return ids;
  }

  std::string token_bytes(std::int32_t id) const override {
    const std::string& p = vocab_.at(checked(id));
    if (p.size() > 2 && p.front() == '[' && p.back() == ']') return "";
    if (p.starts_with(options_.continuation)) return p.substr(options_.continuation.size());
    return " " + p;  // a word starts after a space; decode() drops the first
  }
  bool adds_dummy_prefix() const override { return true; }
  const std::vector<std::pair<std::string, std::int32_t>>& special_tokens() const override { return special_; }
  std::string piece(std::int32_t id) const override { return vocab_.at(checked(id)); }
  std::int32_t token_id(std::string_view piece) const override {
    const auto it = ids_.find(std::string(piece));
    return it == ids_.end() ? -1 : it->second;
  }
  std::int32_t bos_id() const override { return -1; }
  std::int32_t eos_id() const override { return -1; }

 private:
  std::size_t checked(std::int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= vocab_.size()) fail("token id {} is outside the vocabulary", id);
    return static_cast<std::size_t>(id);
  }

  // BERT's basic tokenizer: words split on whitespace, punctuation and CJK
  // ideographs, after clean-up and (optionally) lower-casing and accent stripping.
  std::vector<CodePoints> basic_tokens(std::string_view text) const {
    const bool strip = options_.strip_accents < 0 ? options_.lower_case : options_.strip_accents == 1;
    std::vector<CodePoints> words;
    CodePoints word;
    const auto finish = [&] {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    };
    for (utf8proc_int32_t c : decode_utf8(text)) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_whitespace(c)) {
        finish();
        continue;
      }
      if (options_.split_cjk && is_cjk(c)) {
        finish();
        words.push_back({c});
        continue;
      }
      CodePoints normalized;
      const utf8proc_int32_t lowered = options_.lower_case ? utf8proc_tolower(c) : c;
      if (strip) {
        append_without_accents(normalized, lowered);
      } else {
        normalized.push_back(lowered);
      }
      for (utf8proc_int32_t n : normalized) {
        if (is_punctuation(n)) {
          finish();
          words.push_back({n});
        } else {
          word.push_back(n);
        }
      }
    }
    finish();
    return words;
  }

  // Greedy longest match first; the whole word is unknown if any part is.
  void pieces(const CodePoints& word, std::vector<std::int32_t>& ids) const {
    if (static_cast<int>(word.size()) > options_.max_chars) {
      ids.push_back(unk_);
      return;
    }
    const std::size_t first = ids.size();
    std::size_t start = 0;
    while (start < word.size()) {
      std::int32_t match = -1;
      std::size_t end = word.size();
      for (; end > start; --end) {
        std::string candidate = start > 0 ? options_.continuation : "";
        for (std::size_t i = start; i < end; ++i) append_utf8(candidate, word[i]);
        match = token_id(candidate);
        if (match >= 0) break;
      }
      if (match < 0) {
        ids.resize(first);
        ids.push_back(unk_);
        return;
      }
      ids.push_back(match);
      start = end;
    }
  }

  std::vector<std::string> vocab_;
  WordPieceOptions options_;
  std::unordered_map<std::string, std::int32_t> ids_;
  std::vector<std::pair<std::string, std::int32_t>> special_;
  std::int32_t unk_ = -1;
};

}  // namespace

std::unique_ptr<Tokenizer> make_wordpiece(std::vector<std::string> vocab, const WordPieceOptions& options) {
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), options);
}

std::unique_ptr<Tokenizer> load_wordpiece_vocab(const std::string& path, const WordPieceOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read the vocabulary", path);
  std::vector<std::string> vocab;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (find_invalid_utf8(line)) fail("{}: line {} is not valid UTF-8", path, vocab.size() + 1);
    vocab.push_back(line);
  }
  if (vocab.empty()) fail("{}: the vocabulary is empty", path);
  try {
    return make_wordpiece(std::move(vocab), options);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

std::unique_ptr<Tokenizer> load_wordpiece_json(const std::string& path) {
  const Json j = read_json_file(path);
  if (!j.contains("model") || !j["model"].is_object()) fail("{}: no \"model\" object", path);
  const Json& model = j["model"];
  const auto type = json_optional<std::string>(model, "type", "", path);
  if (type != "WordPiece") fail("{}: the tokenizer model is '{}', not WordPiece", path, type);
  WordPieceOptions options;
  options.unk_token = json_optional<std::string>(model, "unk_token", "[UNK]", path);
  options.continuation = json_optional<std::string>(model, "continuing_subword_prefix", "##", path);
  options.max_chars = json_optional<int>(model, "max_input_chars_per_word", 100, path);
  options.lower_case = false;
  options.strip_accents = 0;
  if (j.contains("normalizer") && j["normalizer"].is_object()) {
    const Json& norm = j["normalizer"];
    if (json_optional<std::string>(norm, "type", "", path) == "BertNormalizer") {
      options.lower_case = json_optional<bool>(norm, "lowercase", true, path);
      options.split_cjk = json_optional<bool>(norm, "handle_chinese_chars", true, path);
      const auto it = norm.find("strip_accents");
      options.strip_accents =
          it == norm.end() || it->is_null() ? -1 : (json_required<bool>(norm, "strip_accents", path) ? 1 : 0);
    }
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail("{}: model.vocab is not an object", path);
  std::vector<std::string> vocab(model["vocab"].size());
  for (const auto& [piece, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
        id.get<std::int64_t>() >= static_cast<std::int64_t>(vocab.size()) || !vocab[id.get<std::size_t>()].empty()) {
      fail("{}: model.vocab: piece '{}' has an id that is not one of 0..{} used once", path, piece, vocab.size() - 1);
    }
    vocab[id.get<std::size_t>()] = piece;
  }
  try {
    return make_wordpiece(std::move(vocab), options);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

}  // namespace octet
