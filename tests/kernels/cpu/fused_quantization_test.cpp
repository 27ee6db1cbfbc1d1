// The CPU backend quantizes a LayerNorm's or a GELU's output for the int8
// matmuls that read it while writing it (one pass over memory fewer). The
// products must be exactly those of quantizing in the matmul: a graph
// LayerNorm -> int8 MatMul -> GELU -> int8 MatMul, run node by node as the
// executor does, against each node run alone (where nothing is fused).
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/backend_harness.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

namespace octet {
namespace {

struct Layer {
  Tensor norm_w, norm_b, up, up_bias, down;
};

Layer random_layer(std::int64_t dim, std::int64_t hidden) {
  return {
      test::tensor_of(test::random_floats(static_cast<std::size_t>(dim), 1), {dim}),
      test::tensor_of(test::random_floats(static_cast<std::size_t>(dim), 2), {dim}),
      quantize_weight(test::tensor_of(test::random_floats(static_cast<std::size_t>(hidden * dim), 3), {hidden, dim}),
                      QuantScheme::Int8),
      test::tensor_of(test::random_floats(static_cast<std::size_t>(hidden), 4), {hidden}),
      quantize_weight(test::tensor_of(test::random_floats(static_cast<std::size_t>(dim * hidden), 5), {dim, hidden}),
                      QuantScheme::Int8)};
}

// The four nodes in one graph, run in order on one backend (and one step).
std::vector<float> run_graph(Backend& backend, const Layer& l, const Tensor& x) {
  const std::int64_t rows = x.dim(0), dim = x.dim(1), hidden = l.up.dim(0);
  Graph graph;
  const int in = graph.add_input("x", DType::F32, x.shape());
  const int norm_w = graph.add_weight("norm_w", l.norm_w), norm_b = graph.add_weight("norm_b", l.norm_b);
  const int up = graph.add_weight("up", l.up), up_bias = graph.add_weight("up_bias", l.up_bias);
  const int down = graph.add_weight("down", l.down);
  NodeParams norm;
  norm.eps = 1e-12f;
  const int normed = graph.add_node(OpKind::LayerNorm, "normed", {in, norm_w, norm_b}, {rows, dim}, norm);
  const int h = graph.add_node(OpKind::MatMul, "h", {normed, up, up_bias}, {rows, hidden});
  const int g = graph.add_node(OpKind::Gelu, "g", {h}, {rows, hidden});
  const int y = graph.add_node(OpKind::MatMul, "y", {g, down}, {rows, dim});
  graph.set_output(y);
  std::vector<Tensor> values(graph.values().size());
  for (std::size_t v = 0; v < values.size(); ++v) {
    const Value& value = graph.values()[v];
    values[v] = value.kind == ValueKind::Weight ? backend.prepare_weight(value.tensor, OpKind::MatMul)
                                                : backend.allocate(DType::F32, value.shape);
  }
  std::copy(x.data<float>(), x.data<float>() + x.numel(), values[static_cast<std::size_t>(in)].data_mut<float>());
  backend.reserve(graph, 1);
  const StepContext ctx{std::vector<SequenceStep>{{0, 0}}};
  backend.begin_step(ctx);
  for (const Node& node : graph.nodes()) {
    std::vector<Tensor*> inputs;
    for (const int i : node.inputs) inputs.push_back(&values[static_cast<std::size_t>(i)]);
    backend.run(node, inputs, values[static_cast<std::size_t>(node.output)], ctx);
  }
  const Tensor& out = values[static_cast<std::size_t>(y)];
  return {out.data<float>(), out.data<float>() + out.numel()};
}

// The same nodes each run alone (test::run_node: a graph of one node).
std::vector<float> run_alone(Backend& backend, const Layer& l, const Tensor& x) {
  const std::int64_t rows = x.dim(0), dim = x.dim(1), hidden = l.up.dim(0);
  NodeParams norm;
  norm.eps = 1e-12f;
  using test::NodeInput;
  const auto normed =
      test::run_node(backend, OpKind::LayerNorm, {{x}, {l.norm_w}, {l.norm_b}}, {rows, dim}, norm).output;
  const auto h =
      test::run_node(backend, OpKind::MatMul,
                     {{test::tensor_of(normed, {rows, dim})}, {l.up, ValueKind::Weight}, {l.up_bias}}, {rows, hidden})
          .output;
  const auto g = test::run_node(backend, OpKind::Gelu, {{test::tensor_of(h, {rows, hidden})}}, {rows, hidden}).output;
  return test::run_node(backend, OpKind::MatMul, {{test::tensor_of(g, {rows, hidden})}, {l.down, ValueKind::Weight}},
                        {rows, dim})
      .output;
}

TEST(CpuFusedQuantization, ProductsEqualQuantizingInTheMatmulExactly) {
  // 16 and 100 rows: more than a decode step (fused); 3: a decode step (not).
  for (const std::int64_t rows : {3, 16, 100}) {
    const std::int64_t dim = 96, hidden = 200;
    const Layer layer = random_layer(dim, hidden);
    const Tensor x = test::tensor_of(test::random_floats(static_cast<std::size_t>(rows * dim), 9, 4.0f), {rows, dim});
    auto fused = make_cpu_backend(0), alone = make_cpu_backend(0);
    EXPECT_EQ(run_graph(*fused, layer, x), run_alone(*alone, layer, x)) << rows << " rows";
    // A second step on the same backend and graph shape gives the same again.
    EXPECT_EQ(run_graph(*fused, layer, x), run_alone(*alone, layer, x)) << rows << " rows, again";
  }
}

}  // namespace
}  // namespace octet
