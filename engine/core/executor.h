// Room engine/core: tensors (and the mapped files they may live in), dtypes, graphs, the executor, placement, the
// backend and model interfaces, errors. The bottom room: it includes no other room of engine/.
//
// Runs a model's graphs on the backends of a placement. Graphs are built and
// planned once per step shape and cached; intermediates live in one arena per
// backend whose slots are reused once a value is dead; the KV cache is
// allocated once for the context, beside the attention that reads it. A value
// that one backend makes and another reads is copied once per step, just
// before the first node that reads it.
// After the first step of a shape, octet's own code allocates nothing in a
// step (Executor.DecodeStepAllocatesNothing). oneDNN allocates inside its
// calls: small argument maps per primitive, and, in steps of several tokens,
// the packing buffers of the sgemm behind CPU attention.
#pragma once

#include "engine/core/backend.h"
#include "engine/core/model.h"
#include "engine/core/node_profile.h"
#include "engine/core/placement.h"

#include <cstdint>
#include <deque>
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
  Executor(const Model& model, Placement placement, int n_ctx, int max_batch = 1);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  int n_ctx() const { return n_ctx_; }
  // Feeds `tokens`, `batch` sequences of n tokens one after another, at
  // positions pos..pos+n-1 (the cache must hold 0..pos-1 of each), and returns
  // logits [batch * n, vocab] (all_logits) or [batch, vocab], each sequence's
  // last, in host memory. Sequence b uses the b-th of the cache's sequences.
  // The returned tensor is valid until the next call. A graph that declares
  // an input "positions" (learned position embeddings) gets pos..pos+n-1 in it.
  const Tensor& forward(std::span<const std::int32_t> tokens, int pos, bool all_logits, int batch = 1);
  // As forward, but returns each sequence's most likely next token (the
  // first on ties; -1 where the logits are all NaN), found where the logits
  // are: only the ids cross from a GPU.
  std::span<const std::int32_t> forward_greedy(std::span<const std::int32_t> tokens, int pos, int batch = 1);
  // A step of sequences that each sit in their own cache slot at their own
  // position (continuous batching): `tokens` is sequences.size() runs, the
  // b-th fed to sequences[b] (slot < max_batch, slots distinct, the cache
  // holding positions 0..pos-1 of that slot), of sequences[b].n_tokens each
  // where set (a ragged step: a prompt chunk beside decoding sequences; one
  // logits row per sequence), else of equal length. Returns the logits as
  // forward does. Refused on a backend that cannot run such steps
  // (Backend::runs_mixed_steps, runs_ragged_steps) unless every sequence b
  // is in slot b at one position with as many tokens as the others.
  const Tensor& forward_sequences(std::span<const std::int32_t> tokens, std::span<const SequenceStep> sequences,
                                  bool all_logits = false);
  // Whether forward_sequences takes any slots and positions on this placement.
  bool runs_mixed_steps() const;
  // ... and sequences feeding different numbers of tokens.
  bool runs_ragged_steps() const;
  int max_batch() const { return max_batch_; }
  // The general step: the graph for `request`, every input bound by name
  // (each exactly as long as the graph declares it), the first position `pos`.
  // Ids that an embedding looks up are checked against its table here, once
  // for every backend: a GPU kernel cannot report a bad id.
  const Tensor& run(const GraphRequest& request, std::span<const GraphInput> inputs, int pos = 0);
  // A named value of the last step (for debugging and reference comparisons),
  // where the backend that made it keeps it (device memory on a GPU backend).
  // Only values alive at the end of the step (the output, the KV cache, the
  // inputs) still hold their numbers, unless keep_every_value() was called.
  const Tensor* find_value(const std::string& name) const;
  // Before the first step: no intermediate's arena slot is ever reused, and
  // no backend skips writing a value it fuses away (Graph::keep_values), so
  // every value of the last step can be read after it (calibration reads every
  // matmul's input), at the cost of an arena as large as all intermediates together.
  void keep_every_value();
  std::size_t arena_bytes() const;  // every backend's arena together
  // While `profile` is not null, each step adds its host nodes' times to it.
  void profile_into(NodeProfile* profile) { profile_ = profile; }
  // The graph of the last step, its values bound as the backend holds them.
  const Graph* last_graph() const { return last_ == nullptr ? nullptr : &last_->graph; }

 private:
  // A value copied from the backend that makes it to one that reads it.
  struct Transfer {
    const Tensor* from;  // the value where it is made
    Tensor* to;          // its copy on the reading backend
    int from_backend = 0, to_backend = 0;
  };
  // Consecutive nodes on one backend, run as one Backend::run_step.
  struct Segment {
    int backend = 0;
    std::size_t first = 0, end = 0;  // node indices [first, end)
    std::vector<Transfer> arrivals;  // copied in before the segment runs
    std::uint64_t step_key = 0;      // new whenever its buffers move
  };
  struct Plan {
    Graph graph;
    std::vector<int> node_backend;                  // per node: index into placement_.backends()
    std::vector<int> value_backend;                 // per value: where an intermediate or state lives (-1: elsewhere)
    std::vector<std::size_t> offsets;               // per value: offset of an intermediate in its backend's arena
    std::vector<Tensor> prepared_weights;           // each weight use as its backend reads it
    std::deque<Tensor> copies;                      // values copied to another backend (stable addresses)
    std::vector<std::vector<Tensor*>> node_inputs;  // resolved once
    struct InputSlot {
      int value = -1;               // index into graph.values()
      std::vector<Tensor> buffers;  // per backend: on its device, null where no node there reads it
      std::int64_t id_rows = 0;     // rows of the smallest table it indexes (0: not an id)
    };
    std::vector<InputSlot> inputs;
    std::vector<Segment> segments;
    std::vector<bool> uses_backend;  // per backend
    int batch = 1;
  };
  const Tensor& step(std::span<const std::int32_t> tokens, std::span<const SequenceStep> sequences, bool all_logits,
                     bool argmax);
  const Tensor& run_sequences(const GraphRequest& request, std::span<const GraphInput> inputs,
                              std::span<const SequenceStep> sequences);
  std::span<const SequenceStep> uniform_sequences(int batch, int pos);  // sequence b in slot b at `pos`
  Plan& plan_for(const GraphRequest& request);
  void check_support(const Plan& plan) const;
  void plan_buffers(Plan& plan);
  void plan_arena(Plan& plan, int backend, const std::vector<int>& last_use);
  void plan_segments(Plan& plan);
  void transfer(const Transfer& t);
  Backend& backend(int i) const { return *placement_.backends()[static_cast<std::size_t>(i)]; }

  const Model& model_;
  Placement placement_;
  int n_ctx_;
  int max_batch_;
  bool keep_every_value_ = false;
  // by (n_tokens, all_logits, batch, argmax, rows)
  std::map<std::tuple<int, bool, int, bool, int>, std::unique_ptr<Plan>> plans_;
  std::map<std::string, Tensor> state_;  // KV cache, by value name: max_batch_ sequences' worth
  std::vector<Tensor> arenas_;           // per backend
  Tensor host_output_;                   // the logits copied back, when they end on a device
  std::vector<std::int32_t> positions_;  // each token's position, for graphs with an input "positions"
  std::vector<SequenceStep> uniform_;    // reused by uniform_sequences
  std::vector<SequenceStep> laid_out_;   // the step's sequences with their rows (what backends see)
  const Plan* last_ = nullptr;
  NodeProfile* profile_ = nullptr;
};

}  // namespace octet
