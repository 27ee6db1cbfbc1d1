#include "engine/text/utf8.h"
#include "engine/core/error.h"

#include <gtest/gtest.h>

namespace octet {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_FALSE(find_invalid_utf8("plain ascii").has_value());
  EXPECT_FALSE(find_invalid_utf8("caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80").has_value());
  EXPECT_FALSE(find_invalid_utf8("\xF4\x8F\xBF\xBF").has_value());  // U+10FFFF
}

TEST(Utf8, RejectsIllFormedSequences) {
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2u);            // lone continuation
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);          // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xE0\x80\xAF"), 0u);      // overlong
  EXPECT_EQ(find_invalid_utf8("x\xED\xA0\x80"), 1u);     // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xFF"), 0u);
  EXPECT_EQ(find_invalid_utf8("ok\xE4\xBD"), 2u);  // truncated at the end
  EXPECT_THROW(require_utf8("\xC3", "prompt"), Error);
}

TEST(Utf8, SequenceLengthTellsIncompleteFromInvalid) {
  EXPECT_EQ(utf8_sequence_length("\xE4\xBD", 0), -1);  // valid prefix, more to come
  EXPECT_EQ(utf8_sequence_length("\xE4\x41", 0), 0);   // broken
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98\x80", 0), 4);
}

}  // namespace
}  // namespace octet
