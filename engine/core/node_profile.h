// Where a step's time goes: wall time per kind of node, summed over the
// steps an Executor runs while it profiles (octet bench --profile). A node is
// keyed by its op and its value's name without the block prefix
// ("MatMul ffn_up" for blk.0.ffn_up .. blk.11.ffn_up), so a table shows each
// role of a layer once. Only nodes on the host are timed: a CPU node returns
// when its work is done, a GPU node when it is queued.
#pragma once

#include "engine/core/graph.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace octet {

struct NodeProfile {
  struct Entry {
    std::int64_t calls = 0;
    double seconds = 0.0;
  };
  std::map<std::string, Entry> by_node;

  void add(OpKind op, std::string_view value_name, double seconds);
  double total_seconds() const;
};

}  // namespace octet
