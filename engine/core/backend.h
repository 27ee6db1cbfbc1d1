// The interface every device backend implements (kernels/cpu, kernels/cuda).
// A backend knows ops and dtypes, never models; the executor asks it what it
// supports when a graph is planned and refuses unsupported nodes up front.
#pragma once

#include "engine/core/graph.h"

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace octet {

// A call of someone else's callable, without owning it: unlike std::function
// it never allocates, so a decode step stays allocation-free.
class StepFunction {
 public:
  template <typename F>
  StepFunction(F& f) : object_(&f), call_([](void* o) { (*static_cast<F*>(o))(); }) {}  // NOLINT: implicit on purpose
  void operator()() const { call_(object_); }

 private:
  void* object_;
  void (*call_)(void*);
};

// One sequence of a step: the KV-cache slot it reads and extends, the
// position of its first token in this step, and its rows among the step's:
// [first_row, first_row + n_tokens). A caller of the executor may leave
// n_tokens 0 (the step's tokens shared evenly); backends always see the
// rows laid out (lay_out_rows).
struct SequenceStep {
  int slot = 0;
  int pos = 0;
  int n_tokens = 0;
  int first_row = 0;
};

// Fills each sequence's n_tokens (where 0: rows / sequences.size(), which
// must then divide evenly) and first_row (the sum of those before it);
// throws octet::Error where the counts do not add up to `rows`.
void lay_out_rows(std::span<SequenceStep> sequences, std::int64_t rows);

// What changes from step to step without changing the graph.
struct StepContext {
  // One entry per sequence of the step, in the order of its rows. Sequences
  // may sit at different positions in different slots (continuous batching);
  // a graph's KV-cache tensors view the first `batch` slots, and a kernel
  // reaches slot s at s * n_ctx rows from their start, inside the executor's
  // allocation of every slot.
  std::span<const SequenceStep> sequences;
  // Whether every sequence b sits in slot b at the same position with as
  // many tokens as the others, as in a plain batched step.
  bool uniform() const {
    for (std::size_t b = 0; b < sequences.size(); ++b) {
      if (sequences[b].slot != static_cast<int>(b) || sequences[b].pos != sequences[0].pos) return false;
    }
    return !ragged();
  }
  // Whether the sequences feed different numbers of tokens (a prompt chunk
  // beside decoding sequences).
  bool ragged() const {
    for (const SequenceStep& s : sequences) {
      if (s.n_tokens != sequences[0].n_tokens) return true;
    }
    return false;
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // `dtype` is the dtype of the node's weight input, or F32 for weightless ops.
  virtual bool supports(OpKind op, DType dtype) const = 0;
  // Called once per planned graph: size scratch space for `n_ctx` positions.
  virtual void reserve(const Graph& graph, int n_ctx) = 0;
  // A graph reserve() saw is about to die: whatever the backend learned
  // about its nodes (by address) must not apply to a later graph's.
  virtual void forget_graph(const Graph& /*graph*/) {}
  // Whether steps whose sequences sit at different positions or cache slots
  // (StepContext::uniform() false) run here; the executor refuses them elsewhere.
  virtual bool runs_mixed_steps() const { return false; }
  // Whether mixed steps may also be ragged (StepContext::ragged()): every
  // kernel reads each sequence's rows from its n_tokens and first_row.
  virtual bool runs_ragged_steps() const { return false; }
  // Called before the nodes of each step run.
  virtual void begin_step(const StepContext& /*ctx*/) {}
  // Runs a step: `enqueue` calls run() for each node in order. The executor
  // gives every (plan, buffer placement) its own `step_key`, so a GPU backend
  // may record the sequence once and replay it (CUDA graphs): everything that
  // changes between steps with the same key (token ids, the position) lives in
  // device memory, written before the step.
  virtual void run_step(std::uint64_t /*step_key*/, StepFunction enqueue) { enqueue(); }
  // The executor will not use `step_key` again.
  virtual void forget_step(std::uint64_t /*step_key*/) {}
  // Runs one node. `inputs` are the node's input tensors in order; state
  // inputs (the KV cache) may be written. Must not allocate in steady state.
  // The Tensor objects `inputs` points to and `output` stay where they are
  // until run_step returns: a backend may keep pointers to them for a later
  // node of the step (the CPU backend lets a node wait for its reader).
  virtual void run(const Node& node, std::span<Tensor* const> inputs, Tensor& output, const StepContext& ctx) = 0;

  // Memory. The executor keeps its buffers (arena, KV cache, token ids) where
  // the kernels run; the CPU's defaults are plain host memory.
  virtual Device device() const { return Device::Cpu; }
  // Zero-filled storage on this backend's device.
  virtual Tensor allocate(DType dtype, Shape shape) { return Tensor::zeros(dtype, std::move(shape)); }
  // The form of a host weight that `op`'s kernel reads. The CPU reads weights
  // where they are; a GPU backend uploads each one once (cached by its storage)
  // in its kernels' layout.
  virtual Tensor prepare_weight(const Tensor& weight, OpKind /*op*/) { return weight; }
  // Copies between host memory and a tensor of this backend (`bytes` from its start).
  virtual void copy_to_device(Tensor& dst, const void* src, std::size_t bytes) {
    std::memcpy(dst.raw_mut(), src, bytes);
  }
  virtual void copy_to_host(const Tensor& src, void* dst, std::size_t bytes) { std::memcpy(dst, src.raw(), bytes); }
};

}  // namespace octet
