#include "engine/core/placement.h"

#include "engine/core/error.h"

namespace octet {

Placement::Placement(Backend& backend) : backends_{&backend} {}

Placement::Placement(Backend& front, int front_blocks, Backend& back) : backends_{&front}, front_blocks_(front_blocks) {
  if (front_blocks < 0) fail("placement: {} blocks on {} is not a count", front_blocks, front.name());
  if (&back == &front) return;
  if (front.device() != Device::Cpu && back.device() != Device::Cpu) {
    fail("placement: {} and {} are both devices; a split needs one of them to be the CPU", front.name(), back.name());
  }
  backends_.push_back(&back);
}

std::vector<int> Placement::place(const Graph& graph) const {
  std::vector<int> where(graph.nodes().size(), 0);
  if (backends_.size() == 1) return where;
  int block = 0;  // nodes before the first block go with block 0
  for (std::size_t i = 0; i < where.size(); ++i) {
    const int b = block_of(graph.values()[graph.nodes()[i].output].name);
    if (b >= 0) block = b;  // nodes after the last block keep its placement
    where[i] = block < front_blocks_ ? 0 : 1;
  }
  return where;
}

}  // namespace octet
