#include "engine/text/pre_tokenizer.h"

#include "engine/core/error.h"
#include "engine/text/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <array>
#include <cstdlib>
#include <map>

namespace octet {

namespace {

pcre2_code* code_of(const std::shared_ptr<void>& p) { return static_cast<pcre2_code*>(p.get()); }

std::string nfc(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                   &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) fail("NFC normalization: {}", utf8proc_errmsg(n));
  std::string s(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
  std::free(out);
  return s;
}

// One cut of `piece` by `step`.
void split_piece(const SplitStep& step, std::string piece, std::vector<std::string>& out) {
  if (step.prefix_space && (piece.empty() || piece[0] != ' ')) piece.insert(0, 1, ' ');
  struct Segment {
    std::size_t begin, end;
    bool delimiter;
  };
  std::vector<Segment> segments;
  std::size_t at = 0;
  if (!step.regex) {
    out.push_back(std::move(piece));
    return;
  }
  for (const auto& [b, e] : step.regex->find_all(piece)) {
    if (b > at) segments.push_back({at, b, step.invert});
    segments.push_back({b, e, !step.invert});
    at = e;
  }
  if (at < piece.size()) segments.push_back({at, piece.size(), step.invert});

  const auto text = [&](const Segment& s) { return piece.substr(s.begin, s.end - s.begin); };
  bool merge_into_next = false;  // MergedWithNext: the last delimiter waits for the next piece
  bool last_was_delimiter = false;
  const std::size_t first = out.size();
  for (const Segment& s : segments) {
    switch (step.behavior) {
      case SplitBehavior::Removed:
        if (!s.delimiter) out.push_back(text(s));
        break;
      case SplitBehavior::Isolated:
        out.push_back(text(s));
        break;
      case SplitBehavior::MergedWithPrevious:
        if (s.delimiter && out.size() > first) {
          out.back() += text(s);
        } else {
          out.push_back(text(s));
        }
        break;
      case SplitBehavior::MergedWithNext:
        if (merge_into_next) {
          out.back() += text(s);
        } else {
          out.push_back(text(s));
        }
        merge_into_next = s.delimiter;
        break;
      case SplitBehavior::Contiguous:
        if (s.delimiter && last_was_delimiter) {
          out.back() += text(s);
        } else {
          out.push_back(text(s));
        }
        break;
    }
    last_was_delimiter = s.delimiter;
  }
}

const std::array<std::string, 256>& byte_table() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    // Printable Latin-1 bytes stand for themselves; the others take the
    // code points from 256 upwards, in byte order (GPT-2's bytes_to_unicode).
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const int cp = printable ? b : next++;
      utf8proc_uint8_t buf[4];
      const auto n = utf8proc_encode_char(cp, buf);
      t[static_cast<std::size_t>(b)].assign(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    }
    return t;
  }();
  return table;
}

}  // namespace

Regex::Regex(const std::string& pattern, bool literal, std::string_view where) : pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2_LITERAL admits PCRE2_UTF but not PCRE2_UCP (which a literal has no use for).
  const std::uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    fail("{}: the pattern '{}' does not compile at offset {}: {}", where, pattern, offset,
         reinterpret_cast<const char*>(message));
  }
  code_ = std::shared_ptr<void>(code, [](void* c) { pcre2_code_free(static_cast<pcre2_code*>(c)); });
}

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  pcre2_code* code = code_of(code_);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
  if (!match) fail("PCRE2: out of memory");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t at = 0;
  while (at < text.size()) {
    // The text was checked to be UTF-8 once, before any cut.
    const int rc = pcre2_match(code, subject, text.size(), at, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      fail("the pattern '{}' failed on a text of {} bytes: {}", pattern_, text.size(),
           reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* v = pcre2_get_ovector_pointer(match.get());
    if (v[1] > v[0]) {
      out.emplace_back(v[0], v[1]);
      at = v[1];
    } else {
      // An empty match: no piece; go on from the next character.
      const int len = utf8_sequence_length(text, v[0]);
      at = v[0] + static_cast<std::size_t>(len > 0 ? len : 1);
    }
  }
  return out;
}

std::vector<std::string> PreTokenizer::run(std::string_view text) const {
  std::vector<std::string> pieces{nfc_ ? nfc(text) : std::string(text)};
  for (const SplitStep& step : steps_) {
    std::vector<std::string> next;
    for (std::string& piece : pieces) split_piece(step, std::move(piece), next);
    pieces = std::move(next);
  }
  std::erase_if(pieces, [](const std::string& p) { return p.empty(); });
  if (byte_level_) {
    for (std::string& piece : pieces) {
      std::string mapped;
      for (const char c : piece) mapped += byte_level_char(static_cast<unsigned char>(c));
      piece = std::move(mapped);
    }
  }
  return pieces;
}

const std::string& byte_level_char(unsigned char byte) { return byte_table()[byte]; }

int byte_level_byte(std::string_view character) {
  static const std::map<std::string, int, std::less<>> inverse = [] {
    std::map<std::string, int, std::less<>> m;
    for (int b = 0; b < 256; ++b) m.emplace(byte_table()[static_cast<std::size_t>(b)], b);
    return m;
  }();
  const auto it = inverse.find(character);
  return it == inverse.end() ? -1 : it->second;
}

}  // namespace octet
