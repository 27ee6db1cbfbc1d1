// Runs a decoder's graphs on a backend. Graphs are built and planned once per
// step shape and cached; intermediates live in one arena whose slots are
// reused once a value is dead; the KV cache is allocated once for the context.
// After the first step of a shape, a step allocates nothing.
#pragma once

#include "engine/backend.h"
#include "engine/decoder_model.h"

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace octet {

class Executor {
 public:
  Executor(const DecoderModel& model, Backend& backend, int n_ctx);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  int n_ctx() const { return n_ctx_; }
  // Feeds `tokens` at positions pos..pos+n-1 (the cache must hold 0..pos-1)
  // and returns logits [n, vocab] (all_logits) or [1, vocab] in host memory.
  // The returned tensor is valid until the next call.
  const Tensor& forward(std::span<const std::int32_t> tokens, int pos, bool all_logits);
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
    std::uint64_t step_key = 0;                     // new whenever its buffers move (Backend::run_step)
  };
  Plan& plan_for(int n_tokens, bool all_logits);
  void place_and_check(Plan& plan);
  void plan_buffers(Plan& plan);

  const DecoderModel& model_;
  Backend& backend_;
  int n_ctx_;
  std::map<std::pair<int, bool>, std::unique_ptr<Plan>> plans_;
  std::map<std::string, Tensor> state_;  // KV cache, by value name
  Tensor arena_;
  Tensor tokens_;       // i32 [n_ctx]: the input ids of the current step
  Tensor host_output_;  // the logits copied back, when the backend is not the CPU
  const Plan* last_ = nullptr;
};

}  // namespace octet
