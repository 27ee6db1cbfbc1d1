// Runs a model's graphs on a backend. Graphs are built and planned once per
// step shape and cached; intermediates live in one arena whose slots are
// reused once a value is dead; the KV cache is allocated once for the context.
// After the first step of a shape, octet's own code allocates nothing in a
// step (Executor.DecodeStepAllocatesNothing). oneDNN allocates inside its
// calls: small argument maps per primitive, and, in steps of several tokens,
// the packing buffers of the sgemm behind CPU attention.
#pragma once

#include "engine/backend.h"
#include "engine/model.h"

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace octet {

// One of a graph's inputs, by name, for Executor::run.
struct GraphInput {
  std::string_view name;
  std::span<const std::int32_t> data;
};

class Executor {
 public:
  // `max_batch`: the most decoder sequences a step may carry; the KV cache
  // holds n_ctx positions for each of them.
  Executor(const Model& model, Backend& backend, int n_ctx, int max_batch = 1);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  int n_ctx() const { return n_ctx_; }
  // Feeds `tokens`, `batch` sequences of n tokens one after another, at
  // positions pos..pos+n-1 (the cache must hold 0..pos-1 of each), and returns
  // logits [batch * n, vocab] (all_logits) or [batch, vocab], each sequence's
  // last, in host memory. Sequence b uses the b-th of the cache's sequences.
  // The returned tensor is valid until the next call.
  const Tensor& forward(std::span<const std::int32_t> tokens, int pos, bool all_logits, int batch = 1);
  // The general step: the graph for `request`, every input bound by name
  // (each exactly as long as the graph declares it), the first position `pos`.
  // Ids that an embedding looks up are checked against its table here, once
  // for every backend: a GPU kernel cannot report a bad id.
  const Tensor& run(const GraphRequest& request, std::span<const GraphInput> inputs, int pos = 0);
  // A named value of the last step (for debugging and reference comparisons),
  // where the backend keeps it (device memory on a GPU backend).
  const Tensor* find_value(const std::string& name) const;
  std::size_t arena_bytes() const { return arena_.nbytes(); }
  // The graph of the last step, its values bound as the backend holds them.
  const Graph* last_graph() const { return last_ == nullptr ? nullptr : &last_->graph; }

 private:
  struct Plan {
    Graph graph;
    std::vector<std::size_t> offsets;  // per value: arena offset of intermediates
    std::size_t arena_bytes = 0;
    std::vector<Tensor> prepared_weights;           // each weight use as the backend reads it
    std::vector<std::vector<Tensor*>> node_inputs;  // resolved once
    struct InputSlot {
      int value = -1;            // index into graph.values()
      Tensor buffer;             // on the backend's device
      std::int64_t id_rows = 0;  // rows of the smallest table it indexes (0: not an id)
    };
    std::vector<InputSlot> inputs;
    std::uint64_t step_key = 0;  // new whenever its buffers move (Backend::run_step)
    int batch = 1;
  };
  Plan& plan_for(const GraphRequest& request);
  void place_and_check(Plan& plan);
  void plan_buffers(Plan& plan);

  const Model& model_;
  Backend& backend_;
  int n_ctx_;
  int max_batch_;
  std::map<std::tuple<int, bool, int>, std::unique_ptr<Plan>> plans_;  // by (n_tokens, all_logits, batch)
  std::map<std::string, Tensor> state_;  // KV cache, by value name: max_batch_ sequences' worth
  Tensor arena_;
  Tensor host_output_;  // the logits copied back, when the backend is not the CPU
  const Plan* last_ = nullptr;
};

}  // namespace octet
