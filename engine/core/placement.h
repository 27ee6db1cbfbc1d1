// Where each node of a model's graph runs. By default one backend runs every
// node; with --gpu-layers N the first N blocks run on one backend (the GPU)
// and the rest on another (the CPU), so that a model too large for the GPU
// still runs, as fast as its GPU share allows.
#pragma once

#include "engine/core/backend.h"
#include "engine/core/graph.h"

#include <span>
#include <vector>

namespace octet {

class Placement {
 public:
  // Every node on `backend`.
  Placement(Backend& backend);  // NOLINT: implicit on purpose, so one backend is a placement
  // Blocks 0..front_blocks-1 on `front`, the later ones on `back`. Nodes outside
  // the blocks follow their neighbours: the embedding goes with block 0, the
  // final norm and the head with the last block, so that a placement covering
  // every block is the same as `front` alone. At most one of the two may be a
  // GPU: values cross between them through host memory.
  Placement(Backend& front, int front_blocks, Backend& back);

  // The distinct backends, front first.
  std::span<Backend* const> backends() const { return backends_; }
  // For each node of `graph`, the index into backends() of the one that runs it.
  std::vector<int> place(const Graph& graph) const;

 private:
  std::vector<Backend*> backends_;
  int front_blocks_ = 0;
};

}  // namespace octet
