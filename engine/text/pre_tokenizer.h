// The stages before byte-level BPE, as Hugging Face's tokenizers compose
// them: a normalizer (none or NFC) and a pre-tokenizer that cuts text into
// the pieces BPE merges within. Cuts are regular expressions run on PCRE2
// (UTF and Unicode-property mode), applied one after another to every piece
// of the previous cut; ByteLevel then maps each piece's bytes to GPT-2's
// printable alphabet.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

// A compiled pattern. Immutable: one may be shared between threads.
class Regex {
 public:
  // `literal`: the pattern is a plain string (Split's {"String": ...}).
  // Throws octet::Error naming `where` and PCRE2's message for a bad pattern.
  Regex(const std::string& pattern, bool literal, std::string_view where);
  // The [begin, end) byte ranges of the non-empty, non-overlapping matches in
  // `text` (valid UTF-8), left to right.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::shared_ptr<void> code_;  // pcre2_code_8
};

// What becomes of the matches of a Split (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct SplitStep {
  std::optional<Regex> regex;  // none: the piece stays whole (ByteLevel without its regex)
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;  // the matches are the pieces, the rest the delimiters
  // ByteLevel's add_prefix_space: a space before every piece this step receives that does not start with one.
  bool prefix_space = false;
};

// GPT-2's pattern: the ByteLevel pre-tokenizer's (use_regex) cut.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  void add(SplitStep step) { steps_.push_back(std::move(step)); }
  void set_nfc(bool nfc) { nfc_ = nfc; }
  void set_byte_level(bool byte_level) { byte_level_ = byte_level; }
  bool byte_level() const { return byte_level_; }

  // The pieces of `text` (valid UTF-8): normalized, cut by every step in
  // turn, then mapped to the byte-level alphabet when byte_level().
  std::vector<std::string> run(std::string_view text) const;

 private:
  std::vector<SplitStep> steps_;
  bool nfc_ = false;
  bool byte_level_ = false;
};

// GPT-2's bytes_to_unicode: each byte as a printable character (UTF-8), and back.
const std::string& byte_level_char(unsigned char byte);
// The byte a byte-level character (one UTF-8 character) stands for, or -1.
int byte_level_byte(std::string_view character);

}  // namespace octet
