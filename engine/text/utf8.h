// UTF-8 validation, strict as RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace octet {

// The length of the well-formed sequence starting at s[i]; 0 if s[i] cannot
// start one; -1 if the bytes so far are a valid but unfinished prefix.
int utf8_sequence_length(std::string_view s, std::size_t i);

// Byte offset of the first ill-formed byte, or nullopt when all of `s` is valid UTF-8.
std::optional<std::size_t> find_invalid_utf8(std::string_view s);

// Throws octet::Error("<what>: invalid UTF-8 at byte N") when `s` is not valid UTF-8.
void require_utf8(std::string_view s, std::string_view what);

// `s` (valid UTF-8) with every character in its Unicode lower-case form.
std::string utf8_lower(std::string_view s);

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace octet
