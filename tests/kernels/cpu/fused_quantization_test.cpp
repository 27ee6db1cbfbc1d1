// The CPU backend quantizes a norm's or an elementwise op's output for the
// int8 matmuls that read it while writing it (one pass over memory fewer),
// and runs an int8 matmul together with the GELU after it in blocks of rows.
// The products must be exactly those of quantizing in the matmul: whole
// graphs run node by node as the executor does, against each node run alone
// (a graph of one node, where nothing is fused).
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/backend_harness.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

namespace octet {
namespace {

Tensor floats(std::int64_t rows, std::int64_t cols, std::uint32_t seed, float scale = 1.0f) {
  return test::tensor_of(test::random_floats(static_cast<std::size_t>(rows * cols), seed, scale), {rows, cols});
}
Tensor vector_of(std::int64_t n, std::uint32_t seed) {
  return test::tensor_of(test::random_floats(static_cast<std::size_t>(n), seed), {n});
}
Tensor int8_weight(std::int64_t n, std::int64_t k, std::uint32_t seed) {
  return quantize_weight(floats(n, k, seed), QuantScheme::Int8);
}

// Intermediates start out holding this, so that a value a fused node did not write shows.
constexpr float kUnwritten = 1234.5f;

// The graph's nodes in order on one backend, in one step; `values` (if not
// null) gets every value as the step left it.
std::vector<float> run_together(Backend& backend, const Graph& graph, const Tensor& x,
                                std::vector<Tensor>* values_out = nullptr) {
  std::vector<Tensor> values(graph.values().size());
  for (std::size_t v = 0; v < values.size(); ++v) {
    const Value& value = graph.values()[v];
    if (value.kind == ValueKind::Weight) {
      values[v] = backend.prepare_weight(value.tensor, OpKind::MatMul);
      continue;
    }
    values[v] = backend.allocate(DType::F32, value.shape);
    std::fill_n(values[v].data_mut<float>(), values[v].numel(), kUnwritten);
  }
  std::copy(x.data<float>(), x.data<float>() + x.numel(), values[0].data_mut<float>());  // value 0: the input
  backend.reserve(graph, 1);
  const StepContext ctx{std::vector<SequenceStep>{{0, 0}}};
  backend.begin_step(ctx);
  for (const Node& node : graph.nodes()) {
    std::vector<Tensor*> inputs;
    for (const int i : node.inputs) inputs.push_back(&values[static_cast<std::size_t>(i)]);
    backend.run(node, inputs, values[static_cast<std::size_t>(node.output)], ctx);
  }
  const Tensor& out = values[static_cast<std::size_t>(graph.output())];
  std::vector<float> y(out.data<float>(), out.data<float>() + out.numel());
  if (values_out != nullptr) *values_out = std::move(values);
  return y;
}

// Each node run alone on the outputs of those before it.
std::vector<float> run_alone(Backend& backend, const Graph& graph, const Tensor& x) {
  std::vector<Tensor> host(graph.values().size());
  host[0] = x;
  for (const Node& node : graph.nodes()) {
    std::vector<test::NodeInput> inputs;
    for (const int i : node.inputs) {
      const Value& value = graph.values()[static_cast<std::size_t>(i)];
      const bool matmul_weight = value.kind == ValueKind::Weight && value.tensor.dtype() == DType::I8;
      inputs.push_back({value.kind == ValueKind::Weight ? value.tensor : host[static_cast<std::size_t>(i)],
                        matmul_weight ? ValueKind::Weight : ValueKind::Intermediate});
    }
    const Shape& shape = graph.values()[static_cast<std::size_t>(node.output)].shape;
    host[static_cast<std::size_t>(node.output)] =
        test::tensor_of(test::run_node(backend, node.op, inputs, shape, node.params).output, shape);
  }
  const Tensor& out = host[static_cast<std::size_t>(graph.output())];
  return {out.data<float>(), out.data<float>() + out.numel()};
}

// BERT's FFN: LayerNorm -> int8 MatMul (+ bias) -> GELU -> int8 MatMul.
Graph bert_ffn(std::int64_t rows, std::int64_t dim, std::int64_t hidden) {
  Graph g;
  const int x = g.add_input("x", DType::F32, {rows, dim});
  NodeParams norm;
  norm.eps = 1e-12f;
  const int normed = g.add_node(
      OpKind::LayerNorm, "normed",
      {x, g.add_weight("norm_w", vector_of(dim, 1)), g.add_weight("norm_b", vector_of(dim, 2))}, {rows, dim}, norm);
  const int h = g.add_node(
      OpKind::MatMul, "h",
      {normed, g.add_weight("up", int8_weight(hidden, dim, 3)), g.add_weight("up_bias", vector_of(hidden, 4))},
      {rows, hidden});
  const int act = g.add_node(OpKind::Gelu, "act", {h}, {rows, hidden});
  g.set_output(g.add_node(OpKind::MatMul, "y", {act, g.add_weight("down", int8_weight(dim, hidden, 5))}, {rows, dim}));
  return g;
}

// Llama's FFN: RmsNorm -> gate and up int8 MatMuls -> SiLU(gate) * up -> int8 MatMul.
Graph llama_ffn(std::int64_t rows, std::int64_t dim, std::int64_t hidden) {
  Graph g;
  const int x = g.add_input("x", DType::F32, {rows, dim});
  NodeParams norm;
  norm.eps = 1e-5f;
  const int normed =
      g.add_node(OpKind::RmsNorm, "normed", {x, g.add_weight("norm_w", vector_of(dim, 1))}, {rows, dim}, norm);
  const int gate =
      g.add_node(OpKind::MatMul, "gate", {normed, g.add_weight("gate_w", int8_weight(hidden, dim, 3))}, {rows, hidden});
  const int up =
      g.add_node(OpKind::MatMul, "up", {normed, g.add_weight("up_w", int8_weight(hidden, dim, 4))}, {rows, hidden});
  const int act = g.add_node(OpKind::SiluMul, "act", {gate, up}, {rows, hidden});
  g.set_output(g.add_node(OpKind::MatMul, "y", {act, g.add_weight("down", int8_weight(dim, hidden, 5))}, {rows, dim}));
  return g;
}

TEST(CpuFusedQuantization, ProductsEqualQuantizingInTheMatmulExactly) {
  const std::vector<std::pair<const char*, std::function<Graph(std::int64_t, std::int64_t, std::int64_t)>>> graphs = {
      {"BERT FFN", bert_ffn}, {"Llama FFN", llama_ffn}};
  for (const auto& [name, make] : graphs) {
    // 16 and 100 rows: more than a decode step (fused); 3: a decode step (not).
    for (const std::int64_t rows : {3, 16, 100}) {
      const Graph graph = make(rows, 96, 200);
      const Tensor x = floats(rows, 96, 9, 4.0f);
      auto together = make_cpu_backend(0), alone = make_cpu_backend(0);
      const auto want = run_alone(*alone, graph, x);
      EXPECT_EQ(run_together(*together, graph, x), want) << name << ", " << rows << " rows";
      EXPECT_EQ(run_together(*together, graph, x), want) << name << ", " << rows << " rows, a second step";
    }
  }
}

// BERT's up projection (N = 3072) runs with its GELU in blocks of 512 rows:
// 1100 rows are two whole blocks and a partial one. Neither node's floats are
// written (the down projection reads the GELU's int8 rows), and the output
// is exactly that of the nodes run alone. A graph that keeps every value
// (calibration) gets both written, with the same numbers.
TEST(CpuFusedQuantization, AnInt8MatmulAndItsGeluRunTogetherInBlocksOfRows) {
  for (const std::int64_t rows : {16, 1100}) {
    Graph graph = bert_ffn(rows, 64, 3072);
    const int h = graph.find("h"), act = graph.find("act");
    const Tensor x = floats(rows, 64, 9, 4.0f);
    auto together = make_cpu_backend(0), alone = make_cpu_backend(0);
    const auto want = run_alone(*alone, graph, x);
    std::vector<Tensor> values;
    EXPECT_EQ(run_together(*together, graph, x, &values), want) << rows << " rows";
    for (const int v : {h, act}) {
      const Tensor& t = values[static_cast<std::size_t>(v)];
      EXPECT_EQ(std::count(t.data<float>(), t.data<float>() + t.numel(), kUnwritten), t.numel())
          << graph.values()[static_cast<std::size_t>(v)].name << " was written: the matmul and its GELU did not fuse";
    }
    graph.keep_values();
    auto keeping = make_cpu_backend(0);
    EXPECT_EQ(run_together(*keeping, graph, x, &values), want) << rows << " rows, every value kept";
    const Tensor& h_kept = values[static_cast<std::size_t>(h)];
    EXPECT_EQ(std::count(h_kept.data<float>(), h_kept.data<float>() + h_kept.numel(), kUnwritten), 0)
        << "a kept value must be written";
  }
}

// Llama's SiLU * up, read by the down projection alone, writes only its
// int8 rows (its floats would go to memory and back for nothing), and the
// output is exactly that of the nodes run alone. Where another node reads
// its floats too (here an Add), or the graph keeps every value, they are
// written, with the same output.
TEST(CpuFusedQuantization, SiluMulReadAsInt8OnlyWritesOnlyItsInt8Rows) {
  const std::int64_t rows = 100, dim = 96, hidden = 200;
  const Tensor x = floats(rows, dim, 9, 4.0f);
  for (const bool float_reader : {false, true}) {
    for (const bool kept : {false, true}) {
      Graph graph = llama_ffn(rows, dim, hidden);
      if (float_reader) {  // y + act's first dim columns, as a second reader of act's floats
        Graph with_add;
        const int in = with_add.add_input("x", DType::F32, {rows, dim});
        NodeParams norm;
        norm.eps = 1e-5f;
        const int normed = with_add.add_node(OpKind::RmsNorm, "normed",
                                             {in, with_add.add_weight("norm_w", vector_of(dim, 1))}, {rows, dim}, norm);
        const int gate =
            with_add.add_node(OpKind::MatMul, "gate",
                              {normed, with_add.add_weight("gate_w", int8_weight(hidden, dim, 3))}, {rows, hidden});
        const int up = with_add.add_node(
            OpKind::MatMul, "up", {normed, with_add.add_weight("up_w", int8_weight(hidden, dim, 4))}, {rows, hidden});
        const int a = with_add.add_node(OpKind::SiluMul, "act", {gate, up}, {rows, hidden});
        const int y = with_add.add_node(
            OpKind::MatMul, "y", {a, with_add.add_weight("down", int8_weight(hidden, hidden, 5))}, {rows, hidden});
        with_add.set_output(with_add.add_node(OpKind::Add, "sum", {y, a}, {rows, hidden}));
        graph = std::move(with_add);
      }
      if (kept) graph.keep_values();
      auto together = make_cpu_backend(0), alone = make_cpu_backend(0);
      const auto want = run_alone(*alone, graph, x);
      std::vector<Tensor> values;
      EXPECT_EQ(run_together(*together, graph, x, &values), want)
          << "float reader " << float_reader << ", kept " << kept;
      const Tensor& a = values[static_cast<std::size_t>(graph.find("act"))];
      const auto unwritten = std::count(a.data<float>(), a.data<float>() + a.numel(), kUnwritten);
      EXPECT_EQ(unwritten, float_reader || kept ? 0 : a.numel())
          << "float reader " << float_reader << ", kept " << kept;
    }
  }
}

// BERT's post-norm residual: Add -> LayerNorm (-> int8 MatMul). The
// LayerNorm sums the add's two rows as it reads them; the add's output is
// never written.
Graph residual_norm(std::int64_t rows, std::int64_t dim) {
  Graph g;
  const int x = g.add_input("x", DType::F32, {rows, dim});
  const int residual = g.add_input("residual", DType::F32, {rows, dim});
  const int sum = g.add_node(OpKind::Add, "sum", {x, residual}, {rows, dim});
  NodeParams norm;
  norm.eps = 1e-12f;
  const int normed = g.add_node(
      OpKind::LayerNorm, "normed",
      {sum, g.add_weight("norm_w", vector_of(dim, 1)), g.add_weight("norm_b", vector_of(dim, 2))}, {rows, dim}, norm);
  g.set_output(g.add_node(OpKind::MatMul, "y", {normed, g.add_weight("w", int8_weight(dim, dim, 5))}, {rows, dim}));
  return g;
}

// Runs residual_norm with the LayerNorm's output at `normed_at` floats into
// one buffer that holds the residual input at its start: 0 puts it exactly
// on the residual (the arena may do that: the add was the residual's last
// reader), a row's worth shifts it, which the LayerNorm must not read while
// writing (the add then runs alone first).
std::vector<float> run_residual_norm(const Graph& graph, const Tensor& x, const Tensor& residual,
                                     std::int64_t normed_at, bool* sum_written) {
  auto backend = make_cpu_backend(0);
  const std::int64_t n = x.numel();
  Tensor shared = backend->allocate(DType::F32, {3 * n});  // the residual, then room for the output
  std::copy_n(residual.data<float>(), n, shared.data_mut<float>());
  std::vector<Tensor> values(graph.values().size());
  for (std::size_t v = 0; v < values.size(); ++v) {
    const Value& value = graph.values()[v];
    if (value.kind == ValueKind::Weight) {
      values[v] = backend->prepare_weight(value.tensor, OpKind::MatMul);
    } else if (value.name == "residual") {
      values[v] = Tensor::borrowed(DType::F32, value.shape, shared.data_mut<float>());
    } else if (value.name == "normed") {
      values[v] = Tensor::borrowed(DType::F32, value.shape, shared.data_mut<float>() + normed_at);
    } else {
      values[v] = backend->allocate(DType::F32, value.shape);
      std::fill_n(values[v].data_mut<float>(), values[v].numel(), kUnwritten);
    }
  }
  std::copy_n(x.data<float>(), n, values[static_cast<std::size_t>(graph.find("x"))].data_mut<float>());
  backend->reserve(graph, 1);
  const StepContext ctx{std::vector<SequenceStep>{{0, 0}}};
  backend->begin_step(ctx);
  auto nodes = [&] {
    for (const Node& node : graph.nodes()) {
      std::vector<Tensor*> inputs;
      for (const int i : node.inputs) inputs.push_back(&values[static_cast<std::size_t>(i)]);
      backend->run(node, inputs, values[static_cast<std::size_t>(node.output)], ctx);
    }
  };
  backend->run_step(1, nodes);
  const Tensor& sum = values[static_cast<std::size_t>(graph.find("sum"))];
  *sum_written = sum.data<float>()[0] != kUnwritten;
  const Tensor& out = values[static_cast<std::size_t>(graph.output())];
  return {out.data<float>(), out.data<float>() + out.numel()};
}

TEST(CpuFusedQuantization, AResidualAddRunsInsideItsLayerNorm) {
  const std::int64_t rows = 40, dim = 96;
  const Graph graph = residual_norm(rows, dim);
  const Tensor x = floats(rows, dim, 9, 4.0f), residual = floats(rows, dim, 10, 4.0f);
  auto alone = make_cpu_backend(0);
  const auto want = [&] {  // the add written out, then the rest: each node alone
    const auto sum = test::run_node(*alone, OpKind::Add, {{x}, {residual}}, {rows, dim}).output;
    const Node& norm = graph.nodes()[1];
    const auto normed = test::run_node(*alone, OpKind::LayerNorm,
                                       {{test::tensor_of(sum, {rows, dim})},
                                        {graph.values()[static_cast<std::size_t>(norm.inputs[1])].tensor},
                                        {graph.values()[static_cast<std::size_t>(norm.inputs[2])].tensor}},
                                       {rows, dim}, norm.params)
                            .output;
    const Tensor& w = graph.values()[static_cast<std::size_t>(graph.nodes()[2].inputs[1])].tensor;
    return test::run_node(*alone, OpKind::MatMul, {{test::tensor_of(normed, {rows, dim})}, {w, ValueKind::Weight}},
                          {rows, dim})
        .output;
  }();
  bool sum_written = true;
  EXPECT_EQ(run_residual_norm(graph, x, residual, 2 * rows * dim, &sum_written), want) << "apart";
  EXPECT_FALSE(sum_written) << "the add's output was written: it did not run inside the LayerNorm";
  EXPECT_EQ(run_residual_norm(graph, x, residual, 0, &sum_written), want) << "on the residual's rows";
  EXPECT_FALSE(sum_written);
  EXPECT_EQ(run_residual_norm(graph, x, residual, dim, &sum_written), want) << "a row past the residual's";
  EXPECT_TRUE(sum_written) << "a shifted overlap must run the add alone first";
}

}  // namespace
}  // namespace octet
