#include "engine/core/node_profile.h"

#include <fmt/format.h>

namespace octet {

void NodeProfile::add(OpKind op, std::string_view value_name, double seconds) {
  if (block_of(value_name) >= 0) value_name.remove_prefix(value_name.find('.', 4) + 1);  // "blk.N."
  Entry& e = by_node[fmt::format("{} {}", op_name(op), value_name)];
  ++e.calls;
  e.seconds += seconds;
}

double NodeProfile::total_seconds() const {
  double total = 0.0;
  for (const auto& [key, e] : by_node) total += e.seconds;
  return total;
}

}  // namespace octet
