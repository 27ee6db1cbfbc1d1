#include "engine/text/bpe_tokenizer.h"

#include "engine/core/error.h"
#include "engine/text/utf8.h"

#include <algorithm>
#include <cctype>
#include <queue>
#include <unordered_map>

namespace octet {

namespace {

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeSpec spec) : spec_(std::move(spec)) {
    const std::string& where = spec_.source;
    for (std::size_t id = 0; id < spec_.vocab.size(); ++id) {
      const std::string& t = spec_.vocab[id];
      if (t.empty()) continue;
      if (!ids_.emplace(t, static_cast<std::int32_t>(id)).second) {
        fail("{}: the token '{}' has two ids, {} and {}", where, t, ids_[t], id);
      }
    }
    const auto vocab_size = static_cast<std::int64_t>(spec_.vocab.size());
    const auto check_id = [&](std::int32_t id, const char* what) {
      if (id < -1 || id >= vocab_size) fail("{}: {} {} is outside the vocabulary of {}", where, what, id, vocab_size);
    };
    check_id(spec_.unk_id, "the unknown token's id");
    check_id(spec_.bos_id, "the BOS id");
    check_id(spec_.eos_id, "the EOS id");
    kind_.assign(spec_.vocab.size(), Kind::Normal);
    for (const AddedToken& a : spec_.added) {
      if (a.id < 0 || a.id >= vocab_size)
        fail("{}: added token '{}' has id {} outside the vocabulary", where, a.content, a.id);
      if (a.content.empty()) fail("{}: added token {} is empty", where, a.id);
      kind_[static_cast<std::size_t>(a.id)] = a.special ? Kind::Special : Kind::Added;
      if (a.special) specials_.emplace_back(a.content, a.id);
    }
    merges_.reserve(spec_.merges.size());
    for (std::size_t rank = 0; rank < spec_.merges.size(); ++rank) {
      const auto& [a, b] = spec_.merges[rank];
      const std::int32_t ia = token_id(a), ib = token_id(b), merged = token_id(a + b);
      if (ia < 0 || ib < 0 || merged < 0) {
        fail("{}: merge {} ('{}' '{}') names a token not in the vocabulary ('{}')", where, rank, a, b,
             ia < 0   ? a
             : ib < 0 ? b
                      : a + b);
      }
      // The first of two identical merges has the lower rank and wins, as in tokenizers.
      merges_.emplace(pair_key(ia, ib), Merge{static_cast<std::int32_t>(rank), merged});
    }
    if (spec_.byte_fallback) {
      for (int b = 0; b < 256; ++b) byte_ids_[static_cast<std::size_t>(b)] = token_id(fmt::format("<0x{:02X}>", b));
    }
  }

  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(spec_.vocab.size()); }

  std::string_view kind() const override { return "byte-level BPE"; }

  std::vector<std::int32_t> encode(std::string_view text) const override { return encode_split(text, false); }
  std::vector<std::int32_t> encode_with_specials(std::string_view text) const override {
    return encode_split(text, true);
  }

  std::string token_bytes(std::int32_t id) const override {
    check(id);
    const auto i = static_cast<std::size_t>(id);
    if (kind_[i] == Kind::Special) return {};
    const std::string& t = spec_.vocab[i];
    if (kind_[i] == Kind::Added || !spec_.pre.byte_level()) return t;
    if (spec_.byte_fallback && t.size() == 6 && t.starts_with("<0x") && t.back() == '>') {
      return std::string(1, static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
    }
    std::string out;
    for (std::size_t at = 0; at < t.size();) {
      const int len = std::max(1, utf8_sequence_length(t, at));
      const std::string_view ch(t.data() + at, static_cast<std::size_t>(len));
      const int byte = byte_level_byte(ch);
      if (byte >= 0) {
        out += static_cast<char>(byte);
      } else {
        out += ch;  // not in the byte alphabet: the character itself
      }
      at += static_cast<std::size_t>(len);
    }
    return out;
  }

  bool adds_dummy_prefix() const override { return false; }
  bool default_add_bos() const override { return spec_.add_bos; }
  const std::vector<std::pair<std::string, std::int32_t>>& special_tokens() const override { return specials_; }
  std::string piece(std::int32_t id) const override {
    check(id);
    return spec_.vocab[static_cast<std::size_t>(id)];
  }
  std::int32_t token_id(std::string_view piece) const override {
    const auto it = ids_.find(std::string(piece));
    return it == ids_.end() ? -1 : it->second;
  }
  std::int32_t bos_id() const override { return spec_.bos_id; }
  std::int32_t eos_id() const override { return spec_.eos_id; }

 private:
  enum class Kind : unsigned char { Normal, Added, Special };
  struct Merge {
    std::int32_t rank;
    std::int32_t id;
  };

  void check(std::int32_t id) const {
    if (id < 0 || id >= vocab_size()) fail("token id {} is outside the vocabulary of {}", id, vocab_size());
  }

  // Added tokens first (leftmost, the longest at one place), the text between them through the model.
  std::vector<std::int32_t> encode_split(std::string_view text, bool with_specials) const {
    require_utf8(text, "text to tokenize");
    std::vector<std::int32_t> out;
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t best_at = std::string_view::npos, best_len = 0;
      const AddedToken* best = nullptr;
      for (const AddedToken& a : spec_.added) {
        if (a.special && !with_specials) continue;
        const std::size_t at = text.find(a.content, start);
        if (at != std::string_view::npos && (at < best_at || (at == best_at && a.content.size() > best_len))) {
          best_at = at, best_len = a.content.size(), best = &a;
        }
      }
      std::size_t end = best == nullptr ? text.size() : best_at, resume = end + best_len;
      if (best != nullptr && best->lstrip) {
        while (end > start && is_space(text[end - 1])) --end;
      }
      if (best != nullptr && best->rstrip) {
        while (resume < text.size() && is_space(text[resume])) ++resume;
      }
      if (end > start) encode_ordinary(text.substr(start, end - start), out);
      if (best == nullptr) break;
      out.push_back(best->id);
      start = resume;
    }
    return out;
  }

  void encode_ordinary(std::string_view text, std::vector<std::int32_t>& out) const {
    for (const std::string& piece : spec_.pre.run(text)) merge_word(piece, out);
  }

  // The characters of `word` merged by rank: a heap of candidate pairs,
  // each checked when it comes up against the symbols still alive.
  void merge_word(const std::string& word, std::vector<std::int32_t>& out) const {
    if (spec_.ignore_merges) {
      if (const std::int32_t id = token_id(word); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    struct Symbol {
      std::int32_t id;
      int prev, next;  // -1 at the ends
    };
    std::vector<Symbol> symbols;
    for (std::size_t at = 0; at < word.size();) {
      const int len = std::max(1, utf8_sequence_length(word, at));
      const std::string ch = word.substr(at, static_cast<std::size_t>(len));
      at += static_cast<std::size_t>(len);
      const std::int32_t id = token_id(ch);
      if (id >= 0) {
        symbols.push_back({id, 0, 0});
      } else if (spec_.byte_fallback && std::all_of(ch.begin(), ch.end(), [&](char c) {
                   return byte_ids_[static_cast<unsigned char>(c)] >= 0;
                 })) {
        for (const char c : ch) symbols.push_back({byte_ids_[static_cast<unsigned char>(c)], 0, 0});
      } else if (spec_.unk_id >= 0) {
        symbols.push_back({spec_.unk_id, 0, 0});
      }  // else: dropped, as tokenizers does without an unknown token
    }
    const int n = static_cast<int>(symbols.size());
    for (int i = 0; i < n; ++i)
      symbols[static_cast<std::size_t>(i)] = {symbols[static_cast<std::size_t>(i)].id, i - 1, i + 1 < n ? i + 1 : -1};
    struct Candidate {
      std::int32_t rank;
      int left;
      std::int32_t left_id, right_id, merged;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    const auto consider = [&](int left) {
      if (left < 0) return;
      const Symbol& a = symbols[static_cast<std::size_t>(left)];
      if (a.next < 0) return;
      const Symbol& b = symbols[static_cast<std::size_t>(a.next)];
      const auto it = merges_.find(pair_key(a.id, b.id));
      if (it != merges_.end()) heap.push({it->second.rank, left, a.id, b.id, it->second.id});
    };
    for (int i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      Symbol& a = symbols[static_cast<std::size_t>(c.left)];
      if (a.id != c.left_id || a.next < 0) continue;  // stale: the left symbol changed
      Symbol& b = symbols[static_cast<std::size_t>(a.next)];
      if (b.id != c.right_id) continue;  // stale: the right symbol changed
      a.id = c.merged;
      a.next = b.next;
      if (b.next >= 0) symbols[static_cast<std::size_t>(b.next)].prev = c.left;
      b.id = -1;  // dead
      consider(a.prev);
      consider(c.left);
    }
    for (int i = n > 0 ? 0 : -1; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
      out.push_back(symbols[static_cast<std::size_t>(i)].id);
    }
  }

  BpeSpec spec_;
  std::unordered_map<std::string, std::int32_t> ids_;
  std::unordered_map<std::uint64_t, Merge> merges_;
  std::vector<Kind> kind_;  // [id]
  std::vector<std::pair<std::string, std::int32_t>> specials_;
  std::array<std::int32_t, 256> byte_ids_{};  // <0xNN> tokens, for byte fallback
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe(BpeSpec spec) { return std::make_unique<BpeTokenizer>(std::move(spec)); }

}  // namespace octet
