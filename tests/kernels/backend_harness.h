// Runs one node on any backend, the way the executor does (inputs uploaded,
// weights prepared, scratch reserved, the step's position sent), and brings
// the output back to the host: so the same test checks the CPU and the GPU.
#pragma once

#include "engine/core/backend.h"
#include "engine/core/graph.h"

#include <algorithm>
#include <vector>

namespace octet::test {

struct NodeInput {
  Tensor host;
  ValueKind kind = ValueKind::Intermediate;  // Weight: prepared; State: uploaded, read back after
};

struct NodeRun {
  std::vector<float> output;
  std::vector<Tensor> state_after;  // State inputs as the node left them, on the host
};

inline NodeRun run_node(Backend& backend, OpKind op, std::vector<NodeInput> inputs, const Shape& out_shape,
                        NodeParams params = {}, int pos = 0, int n_ctx = 1) {
  Graph graph;
  std::vector<int> ids;
  std::vector<Tensor> bound;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    const Tensor& h = inputs[i].host;
    if (inputs[i].kind == ValueKind::Weight) {
      ids.push_back(graph.add_weight(name, h));
      bound.push_back(backend.prepare_weight(h, op));
    } else {
      ids.push_back(inputs[i].kind == ValueKind::State ? graph.add_state(name, h.dtype(), h.shape())
                                                       : graph.add_input(name, h.dtype(), h.shape()));
      Tensor d = backend.allocate(h.dtype(), h.shape());
      backend.copy_to_device(d, h.raw(), h.nbytes());
      bound.push_back(d);
    }
  }
  const int out = graph.add_node(op, "out", ids, out_shape, params);
  graph.set_output(out);
  backend.reserve(graph, n_ctx);
  Tensor y = backend.allocate(DType::F32, out_shape);
  std::vector<Tensor*> ptrs;
  for (auto& t : bound) ptrs.push_back(&t);
  std::vector<SequenceStep> sequences;  // sequence b in slot b, all at `pos`
  for (int b = 0; b < std::max(params.batch, 1); ++b) sequences.push_back({b, pos});
  const StepContext ctx{sequences};
  backend.begin_step(ctx);
  backend.run(graph.nodes().back(), ptrs, y, ctx);
  NodeRun r;
  r.output.resize(static_cast<std::size_t>(shape_numel(out_shape)));
  backend.copy_to_host(y, r.output.data(), y.nbytes());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].kind != ValueKind::State) continue;
    Tensor h = Tensor::zeros(inputs[i].host.dtype(), inputs[i].host.shape());
    backend.copy_to_host(bound[i], h.raw_mut(), h.nbytes());
    r.state_after.push_back(h);
  }
  return r;
}

inline Tensor tensor_of(const std::vector<float>& values, Shape shape) {
  Tensor t = Tensor::zeros(DType::F32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_mut<float>());
  return t;
}

}  // namespace octet::test
