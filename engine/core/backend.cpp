#include "engine/core/backend.h"

#include "engine/core/error.h"

namespace octet {

void lay_out_rows(std::span<SequenceStep> sequences, std::int64_t rows) {
  if (sequences.empty()) fail("a step of no sequences");
  const bool given = sequences[0].n_tokens > 0;
  const auto n = static_cast<std::int64_t>(sequences.size());
  if (!given && rows % n != 0) fail("{} tokens do not split into {} sequences of equal length", rows, n);
  std::int64_t first = 0;
  for (SequenceStep& s : sequences) {
    if ((s.n_tokens > 0) != given) fail("some sequences of the step say how many tokens they feed, others do not");
    if (!given) s.n_tokens = static_cast<int>(rows / n);
    s.first_row = static_cast<int>(first);
    first += s.n_tokens;
    if (first > rows) break;
  }
  if (first != rows) fail("the sequences feed {} tokens, the step has {}", first, rows);
}

}  // namespace octet
