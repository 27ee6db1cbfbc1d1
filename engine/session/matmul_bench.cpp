#include "engine/session/matmul_bench.h"

#include "engine/core/error.h"
#include "engine/core/graph.h"
#include "engine/core/random_tensor.h"
#include "engine/session/stats.h"

#include <chrono>

namespace octet {

namespace {
// Calls per timed batch: enough that one batch outlasts a GPU's launch latency noise.
constexpr int kCallsPerBatch = 10;
}  // namespace

double MatmulBenchResult::tflops() const { return flops / percentile(seconds, 50) / 1e12; }

MatmulBenchResult run_matmul_bench(Backend& backend, const MatmulBenchRequest& req) {
  if (req.m < 1 || req.k < 1 || req.n < 1 || req.repetitions < 1) fail("matmul bench: sizes must be positive");
  const Tensor w = quantize_weight(random_uniform({req.n, req.k}, 7, 0.05f), req.scheme);
  const Tensor x_host = random_uniform({req.m, req.k}, 8, 1.0f);
  Graph graph;
  const int x_id = graph.add_input("x", DType::F32, {req.m, req.k});
  const int w_id = graph.add_weight("w", w);
  graph.set_output(graph.add_node(OpKind::MatMul, "y", {x_id, w_id}, {req.m, req.n}));
  if (!backend.supports(OpKind::MatMul, w.dtype())) {
    fail("{} does not run {} matmuls", backend.name(), quant_scheme_name(req.scheme));
  }
  backend.reserve(graph, 1);
  Tensor x = backend.allocate(DType::F32, {req.m, req.k});
  backend.copy_to_device(x, x_host.raw(), x_host.nbytes());
  Tensor wd = backend.prepare_weight(w, OpKind::MatMul);
  Tensor y = backend.allocate(DType::F32, {req.m, req.n});
  Tensor* inputs[] = {&x, &wd};
  const Node& node = graph.nodes().back();
  float sink = 0;
  const auto batch = [&] {
    for (int i = 0; i < kCallsPerBatch; ++i) backend.run(node, inputs, y, {});
    backend.copy_to_host(y, &sink, sizeof(float));  // waits for the device
  };
  batch();  // warm-up: plans, algorithm choice, caches
  MatmulBenchResult r;
  r.flops = 2.0 * req.m * req.n * req.k;
  for (int rep = 0; rep < req.repetitions; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    batch();
    r.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / kCallsPerBatch);
  }
  return r;
}

}  // namespace octet
