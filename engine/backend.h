// The interface every device backend implements (kernels/cpu, kernels/cuda).
// A backend knows ops and dtypes, never models; the executor asks it what it
// supports when a graph is planned and refuses unsupported nodes up front.
#pragma once

#include "engine/graph.h"

#include <span>
#include <string>

namespace octet {

// What changes from step to step without changing the graph.
struct StepContext {
  int pos = 0;  // position of the first token of this step in the sequence
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // `dtype` is the dtype of the node's weight input, or F32 for weightless ops.
  virtual bool supports(OpKind op, DType dtype) const = 0;
  // Called once per planned graph: size scratch space for `n_ctx` positions.
  virtual void reserve(const Graph& graph, int n_ctx) = 0;
  // Runs one node. `inputs` are the node's input tensors in order; state
  // inputs (the KV cache) may be written. Must not allocate in steady state.
  virtual void run(const Node& node, std::span<Tensor* const> inputs, Tensor& output, const StepContext& ctx) = 0;
};

}  // namespace octet
