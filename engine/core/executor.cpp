#include "engine/core/executor.h"

#include "engine/core/error.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

namespace octet {

namespace {
constexpr std::size_t kAlign = 64;
std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Step keys are unique in the process, so two executors on one backend never share one.
std::uint64_t next_step_key() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}
}  // namespace

Executor::Executor(const Model& model, Placement placement, int n_ctx, int max_batch)
    : model_(model),
      placement_(std::move(placement)),
      n_ctx_(n_ctx),
      max_batch_(max_batch),
      arenas_(placement_.backends().size()) {
  if (n_ctx <= 0) fail("context length must be positive, got {}", n_ctx);
  if (max_batch <= 0) fail("the batch must hold at least one sequence, got {}", max_batch);
}

void Executor::keep_every_value() {
  // Plans already made reuse slots, and steps may hold pointers into them.
  if (!plans_.empty()) fail("keep_every_value: call it before the first step");
  keep_every_value_ = true;
}

Executor::~Executor() {
  for (auto& [key, plan] : plans_) {
    if (!plan) continue;
    for (const Segment& segment : plan->segments) backend(segment.backend).forget_step(segment.step_key);
    for (std::size_t b = 0; b < plan->uses_backend.size(); ++b) {
      if (plan->uses_backend[b]) backend(static_cast<int>(b)).forget_graph(plan->graph);
    }
  }
}

std::size_t Executor::arena_bytes() const {
  std::size_t total = 0;
  for (const Tensor& arena : arenas_) total += arena.nbytes();
  return total;
}

const Tensor& Executor::forward(std::span<const std::int32_t> tokens, int pos, bool all_logits, int batch) {
  if (batch < 1 || batch > max_batch_) {
    fail("forward: {} sequences in one step, the cache holds 1 to {}", batch, max_batch_);
  }
  return step(tokens, uniform_sequences(batch, pos), all_logits, false);
}

std::span<const std::int32_t> Executor::forward_greedy(std::span<const std::int32_t> tokens, int pos, int batch) {
  if (batch < 1 || batch > max_batch_) {
    fail("forward: {} sequences in one step, the cache holds 1 to {}", batch, max_batch_);
  }
  const Tensor& ids = step(tokens, uniform_sequences(batch, pos), false, true);
  return {ids.data<std::int32_t>(), static_cast<std::size_t>(ids.numel())};
}

const Tensor& Executor::forward_sequences(std::span<const std::int32_t> tokens, std::span<const SequenceStep> sequences,
                                          bool all_logits) {
  return step(tokens, sequences, all_logits, false);
}

bool Executor::runs_mixed_steps() const {
  return std::all_of(placement_.backends().begin(), placement_.backends().end(),
                     [](const Backend* b) { return b->runs_mixed_steps(); });
}

bool Executor::runs_ragged_steps() const {
  return std::all_of(placement_.backends().begin(), placement_.backends().end(),
                     [](const Backend* b) { return b->runs_ragged_steps(); });
}

std::span<const SequenceStep> Executor::uniform_sequences(int batch, int pos) {
  uniform_.resize(static_cast<std::size_t>(batch));  // grows to the largest batch once: a decode step allocates nothing
  for (int b = 0; b < batch; ++b) uniform_[static_cast<std::size_t>(b)] = {b, pos};
  return std::span(uniform_).first(static_cast<std::size_t>(batch));
}

const Tensor& Executor::step(std::span<const std::int32_t> tokens, std::span<const SequenceStep> sequences,
                             bool all_logits, bool argmax) {
  if (tokens.empty()) fail("forward: no tokens to process");
  const auto batch = static_cast<int>(sequences.size());
  if (batch < 1 || batch > max_batch_) {
    fail("forward: {} sequences in one step, the cache holds 1 to {}", batch, max_batch_);
  }
  // Each sequence's tokens: as it says (a ragged step), or an even share.
  laid_out_.assign(sequences.begin(), sequences.end());
  try {
    lay_out_rows(laid_out_, static_cast<std::int64_t>(tokens.size()));
  } catch (const Error& e) {
    fail("forward: {}", e.what());
  }
  for (std::size_t b = 0; b < laid_out_.size(); ++b) {
    const SequenceStep& seq = laid_out_[b];
    if (seq.slot < 0 || seq.slot >= max_batch_) {
      fail("forward: cache slot {} of sequence {}, the cache has slots 0..{}", seq.slot, b, max_batch_ - 1);
    }
    for (std::size_t other = 0; other < b; ++other) {
      if (laid_out_[other].slot == seq.slot)
        fail("forward: sequences {} and {} share cache slot {}", other, b, seq.slot);
    }
    if (seq.pos < 0 || seq.pos + seq.n_tokens > n_ctx_) {
      fail("forward: positions {}..{} do not fit the context of {} tokens", seq.pos, seq.pos + seq.n_tokens - 1,
           n_ctx_);
    }
  }
  const bool ragged = StepContext{laid_out_}.ragged();
  if (ragged && all_logits) fail("forward: every token's logits from a ragged step is not supported");
  const GraphRequest request{ragged ? 1 : laid_out_[0].n_tokens, n_ctx_, all_logits, batch, argmax,
                             ragged ? static_cast<int>(tokens.size()) : 0};
  // A graph with learned positions (GPT-2) also takes each token's position.
  const Plan& plan = plan_for(request);
  const bool wants_positions = std::any_of(plan.inputs.begin(), plan.inputs.end(), [&](const Plan::InputSlot& s) {
    return plan.graph.values()[s.value].name == "positions";
  });
  if (wants_positions) {
    positions_.resize(tokens.size());  // grows once per step shape: a decode step allocates nothing
    for (const SequenceStep& seq : laid_out_) {
      for (int t = 0; t < seq.n_tokens; ++t) positions_[static_cast<std::size_t>(seq.first_row + t)] = seq.pos + t;
    }
  }
  const GraphInput inputs[] = {{"tokens", tokens}, {"positions", positions_}};
  return run_sequences(request, std::span(inputs, wants_positions ? 2 : 1), laid_out_);
}

const Tensor& Executor::run(const GraphRequest& request, std::span<const GraphInput> inputs, int pos) {
  return run_sequences(request, inputs, uniform_sequences(request.batch, pos));
}

const Tensor& Executor::run_sequences(const GraphRequest& request, std::span<const GraphInput> inputs,
                                      std::span<const SequenceStep> sequences) {
  Plan& plan = plan_for(request);
  if (inputs.size() != plan.inputs.size()) {
    fail("step: the graph takes {} inputs, {} given", plan.inputs.size(), inputs.size());
  }
  if (sequences.data() != laid_out_.data()) {  // from step() they are laid out already
    laid_out_.assign(sequences.begin(), sequences.end());
    lay_out_rows(laid_out_, request.total_rows());
  }
  const StepContext ctx{laid_out_};
  if (!ctx.uniform()) {
    for (std::size_t b = 0; b < plan.uses_backend.size(); ++b) {
      const Backend& on = backend(static_cast<int>(b));
      if (plan.uses_backend[b] && !(ctx.ragged() ? on.runs_ragged_steps() : on.runs_mixed_steps())) {
        fail("the {} backend cannot yet run sequences at different positions or cache slots{} in one step", on.name(),
             ctx.ragged() ? ", feeding different numbers of tokens," : "");
      }
    }
  }
  for (const GraphInput& input : inputs) {
    auto slot = std::find_if(plan.inputs.begin(), plan.inputs.end(),
                             [&](const Plan::InputSlot& s) { return plan.graph.values()[s.value].name == input.name; });
    if (slot == plan.inputs.end()) fail("step: the graph has no input '{}'", input.name);
    const std::int64_t expected = shape_numel(plan.graph.values()[slot->value].shape);
    if (static_cast<std::int64_t>(input.data.size()) != expected) {
      fail("step: input '{}' has {} values, the graph takes {}", input.name, input.data.size(), expected);
    }
    if (slot->id_rows > 0) {
      for (std::size_t t = 0; t < input.data.size(); ++t) {
        if (input.data[t] < 0 || input.data[t] >= slot->id_rows) {
          fail("{} id {} at position {} is outside the table of {} rows", input.name, input.data[t], t, slot->id_rows);
        }
      }
    }
    for (std::size_t b = 0; b < slot->buffers.size(); ++b) {
      if (slot->buffers[b].raw() != nullptr) {
        backend(static_cast<int>(b)).copy_to_device(slot->buffers[b], input.data.data(), input.data.size_bytes());
      }
    }
  }
  for (std::size_t b = 0; b < plan.uses_backend.size(); ++b) {
    if (plan.uses_backend[b]) backend(static_cast<int>(b)).begin_step(ctx);
  }
  for (const Segment& segment : plan.segments) {
    for (const Transfer& t : segment.arrivals) transfer(t);
    Backend& on = backend(segment.backend);
    const bool timed = profile_ != nullptr && on.device() == Device::Cpu;
    auto enqueue = [&] {
      for (std::size_t i = segment.first; i < segment.end; ++i) {
        const Node& node = plan.graph.nodes()[i];
        const auto start = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        on.run(node, plan.node_inputs[i], plan.graph.values()[node.output].tensor, ctx);
        if (timed) {
          profile_->add(node.op, plan.graph.values()[node.output].name,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
      }
    };
    on.run_step(segment.step_key, enqueue);
  }
  last_ = &plan;
  const int output = plan.graph.output();
  const Tensor& out = plan.graph.values()[output].tensor;
  Backend& last = backend(plan.value_backend[output]);
  if (last.device() == Device::Cpu) return out;
  // The output crosses to the host; the copy waits for the step to finish.
  if (host_output_.shape() != out.shape() || host_output_.dtype() != out.dtype()) {
    host_output_ = Tensor::zeros(out.dtype(), out.shape());
  }
  last.copy_to_host(out, host_output_.raw_mut(), out.nbytes());
  return host_output_;
}

// Placement allows at most one device, so every copy has the host on one side.
void Executor::transfer(const Transfer& t) {
  Backend& from = backend(t.from_backend);
  if (from.device() == Device::Cpu) {
    backend(t.to_backend).copy_to_device(*t.to, t.from->raw(), t.from->nbytes());
  } else {
    from.copy_to_host(*t.from, t.to->raw_mut(), t.from->nbytes());
  }
}

const Tensor* Executor::find_value(const std::string& name) const {
  if (last_ == nullptr) return nullptr;
  const int i = last_->graph.find(name);
  return i < 0 ? nullptr : &last_->graph.values()[i].tensor;
}

Executor::Plan& Executor::plan_for(const GraphRequest& request) {
  if (request.n_tokens <= 0 || request.batch <= 0) {
    fail("step: {} sequences of {} tokens is not a step", request.batch, request.n_tokens);
  }
  auto& slot = plans_[{request.n_tokens, request.all_logits, request.batch, request.argmax, request.rows}];
  if (slot) return *slot;
  auto plan = std::make_unique<Plan>();
  GraphRequest full = request;
  full.n_ctx = n_ctx_;
  plan->batch = request.batch;
  plan->graph = model_.build_graph(full);
  if (keep_every_value_) plan->graph.keep_values();
  if (plan->graph.output() < 0) fail("graph for {} tokens has no output", request.n_tokens);
  plan->node_backend = placement_.place(plan->graph);
  check_support(*plan);
  plan_buffers(*plan);
  plan_segments(*plan);
  for (std::size_t b = 0; b < plan->uses_backend.size(); ++b) {
    if (plan->uses_backend[b]) backend(static_cast<int>(b)).reserve(plan->graph, n_ctx_);
  }
  slot = std::move(plan);
  return *slot;
}

// Refuse what a node's backend cannot run now, with the op, dtype and
// backend named, rather than failing mid-step.
void Executor::check_support(const Plan& plan) const {
  for (std::size_t i = 0; i < plan.graph.nodes().size(); ++i) {
    const Node& node = plan.graph.nodes()[i];
    DType dtype = DType::F32;
    for (int in : node.inputs) {
      const Value& v = plan.graph.values()[in];
      if (v.kind == ValueKind::Weight) {
        dtype = v.dtype;  // the first weight decides (a matmul's bias is float)
        break;
      }
    }
    const Backend& on = backend(plan.node_backend[i]);
    if (!on.supports(node.op, dtype)) {
      fail("node '{}': the {} backend does not support {} with {} weights", plan.graph.values()[node.output].name,
           on.name(), op_name(node.op), dtype_name(dtype));
    }
  }
}

// Where each value lives: an intermediate where the node that makes it runs,
// a state (the KV cache) where the nodes that read it run, an input on every
// backend that reads it. Then each backend's arena is planned on its own.
void Executor::plan_buffers(Plan& plan) {
  auto& values = plan.graph.values();
  const auto& nodes = plan.graph.nodes();
  const std::size_t n_backends = placement_.backends().size();
  plan.uses_backend.assign(n_backends, false);
  plan.value_backend.assign(values.size(), -1);
  std::vector<int> last_use(values.size(), -1);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const int b = plan.node_backend[i];
    plan.uses_backend[static_cast<std::size_t>(b)] = true;
    plan.value_backend[nodes[i].output] = b;
    for (int in : nodes[i].inputs) {
      last_use[in] = static_cast<int>(i);  // a copy to another backend is made before this node too
      if (values[in].kind != ValueKind::State) continue;
      int& home = plan.value_backend[in];
      if (home >= 0 && home != b) fail("state '{}' is read on two backends", values[in].name);
      home = b;
    }
  }
  last_use[plan.graph.output()] = static_cast<int>(nodes.size());  // the output stays alive
  if (keep_every_value_) std::fill(last_use.begin(), last_use.end(), static_cast<int>(nodes.size()));

  plan.offsets.assign(values.size(), 0);
  for (std::size_t b = 0; b < n_backends; ++b) {
    if (plan.uses_backend[b]) plan_arena(plan, static_cast<int>(b), last_use);
  }
  for (std::size_t v = 0; v < values.size(); ++v) {
    Value& val = values[v];
    if (val.kind == ValueKind::State) {
      // The graph's state holds plan.batch sequences' rows, one after another;
      // the executor keeps max_batch_ sequences' worth, and a step of fewer
      // sequences works on the first ones.
      if (plan.value_backend[v] < 0) continue;  // read by no node
      Backend& home = backend(plan.value_backend[v]);
      if (val.shape.empty() || val.shape[0] % plan.batch != 0) {
        fail("state '{}' {} does not split into {} sequences", val.name, shape_str(val.shape), plan.batch);
      }
      if (plan.batch > max_batch_) {
        fail("a step of {} sequences, but the cache holds at most {}", plan.batch, max_batch_);
      }
      Shape full = val.shape;
      full[0] = val.shape[0] / plan.batch * max_batch_;
      auto it = state_.find(val.name);
      if (it == state_.end()) it = state_.emplace(val.name, home.allocate(val.dtype, full)).first;
      if (it->second.shape() != full || it->second.dtype() != val.dtype) {
        fail("state '{}' changed shape from {} to {}", val.name, shape_str(it->second.shape()), shape_str(full));
      }
      if (it->second.device() != home.device()) fail("state '{}' moved to another device", val.name);
      val.tensor = Tensor::borrowed(val.dtype, val.shape, it->second.raw_mut(), home.device());
    } else if (val.kind == ValueKind::Input) {
      if (val.dtype != DType::I32 || val.shape.size() != 1) {
        fail("graph input '{}' must be i32 [n], found {} {}", val.name, dtype_name(val.dtype), shape_str(val.shape));
      }
      // Each plan has its own input buffers: a recorded step reads them where they are.
      Plan::InputSlot slot{static_cast<int>(v), std::vector<Tensor>(n_backends), 0};
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const Node& node = nodes[i];
        if (std::find(node.inputs.begin(), node.inputs.end(), static_cast<int>(v)) == node.inputs.end()) continue;
        Tensor& buffer = slot.buffers[static_cast<std::size_t>(plan.node_backend[i])];
        if (buffer.raw() == nullptr) buffer = backend(plan.node_backend[i]).allocate(DType::I32, val.shape);
        if (node.op == OpKind::Embedding && node.inputs[1] == static_cast<int>(v)) {
          const std::int64_t rows = values[node.inputs[0]].shape[0];
          slot.id_rows = slot.id_rows == 0 ? rows : std::min(slot.id_rows, rows);
        }
      }
      for (const Tensor& buffer : slot.buffers) {
        if (buffer.raw() != nullptr) {
          val.tensor = buffer;  // where find_value shows it: the first backend that reads it
          break;
        }
      }
      plan.inputs.push_back(std::move(slot));
    }
  }
}

// Greedy slot reuse among the intermediates that live on `b`: a node's output
// takes the smallest free slot that fits (or a new one); its inputs' slots are
// freed after it if this was their last use. Outputs never alias inputs, so
// kernels need not support in-place.
void Executor::plan_arena(Plan& plan, int b, const std::vector<int>& last_use) {
  auto& values = plan.graph.values();
  const auto& nodes = plan.graph.nodes();
  std::vector<std::size_t> slot_size;
  std::vector<bool> slot_free;
  std::vector<int> slot_of(values.size(), -1);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const int out = nodes[i].output;
    if (plan.node_backend[i] == b) {
      const std::size_t need =
          align_up(static_cast<std::size_t>(shape_numel(values[out].shape)) * dtype_size(values[out].dtype));
      int best = -1;
      for (std::size_t s = 0; s < slot_size.size(); ++s) {
        if (slot_free[s] && slot_size[s] >= need &&
            (best < 0 || slot_size[s] < slot_size[static_cast<std::size_t>(best)])) {
          best = static_cast<int>(s);
        }
      }
      if (best < 0) {
        slot_size.push_back(need);
        slot_free.push_back(false);
        best = static_cast<int>(slot_size.size()) - 1;
      }
      slot_free[static_cast<std::size_t>(best)] = false;
      slot_of[out] = best;
    }
    for (int in : nodes[i].inputs) {
      if (slot_of[in] >= 0 && last_use[in] == static_cast<int>(i)) {
        slot_free[static_cast<std::size_t>(slot_of[in])] = true;
      }
    }
  }
  std::vector<std::size_t> slot_offset(slot_size.size());
  std::size_t bytes = 0;
  for (std::size_t s = 0; s < slot_size.size(); ++s) {
    slot_offset[s] = bytes;
    bytes += slot_size[s];
  }
  // One arena per backend serves every plan; growing it re-points the plans made before.
  Tensor& arena = arenas_[static_cast<std::size_t>(b)];
  Backend& on = backend(b);
  if (bytes > arena.nbytes()) {
    arena = on.allocate(DType::U8, {static_cast<std::int64_t>(bytes)});
    for (auto& [key, other] : plans_) {
      if (!other) continue;
      for (Segment& segment : other->segments) {
        backend(segment.backend).forget_step(segment.step_key);
        segment.step_key = next_step_key();
      }
      for (std::size_t v = 0; v < other->graph.values().size(); ++v) {
        auto& val = other->graph.values()[v];
        if (val.kind == ValueKind::Intermediate && other->value_backend[v] == b) {
          val.tensor =
              Tensor::borrowed(val.dtype, val.shape, arena.data_mut<unsigned char>() + other->offsets[v], on.device());
        }
      }
    }
  }
  for (std::size_t v = 0; v < values.size(); ++v) {
    Value& val = values[v];
    if (val.kind != ValueKind::Intermediate || plan.value_backend[v] != b) continue;
    plan.offsets[v] = slot_offset[static_cast<std::size_t>(slot_of[v])];
    val.tensor = Tensor::borrowed(val.dtype, val.shape, arena.data_mut<unsigned char>() + plan.offsets[v], on.device());
  }
}

// Splits the nodes into runs on one backend and resolves each node's inputs
// where it runs: its own backend's value, or a copy that arrives before the
// run. A weight takes the form its reading op needs on its backend (a GPU
// keeps a matmul weight in bf16 or FP8, a lookup table in float), per use: a
// tied float lm_head is the embedding table read by two ops.
void Executor::plan_segments(Plan& plan) {
  auto& values = plan.graph.values();
  const auto& nodes = plan.graph.nodes();
  std::size_t weight_uses = 0;
  for (const Node& node : nodes) {
    for (int in : node.inputs) weight_uses += values[in].kind == ValueKind::Weight;
  }
  plan.prepared_weights.clear();
  plan.prepared_weights.reserve(weight_uses);  // no reallocation: node_inputs point into it
  plan.node_inputs.clear();
  plan.segments.clear();
  std::map<std::pair<int, int>, Tensor*> copies;  // (value, backend) -> its copy there
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const int b = plan.node_backend[i];
    if (plan.segments.empty() || plan.segments.back().backend != b) {
      plan.segments.push_back({b, i, i, {}, next_step_key()});
    }
    Segment& segment = plan.segments.back();
    segment.end = i + 1;
    std::vector<Tensor*> ins;
    for (int in : nodes[i].inputs) {
      Value& val = values[in];
      if (val.kind == ValueKind::Weight) {
        plan.prepared_weights.push_back(backend(b).prepare_weight(val.tensor, nodes[i].op));
        ins.push_back(&plan.prepared_weights.back());
      } else if (val.kind == ValueKind::Input) {
        auto slot = std::find_if(plan.inputs.begin(), plan.inputs.end(),
                                 [&](const Plan::InputSlot& s) { return s.value == in; });
        ins.push_back(&slot->buffers[static_cast<std::size_t>(b)]);
      } else if (plan.value_backend[in] == b) {
        ins.push_back(&val.tensor);
      } else {
        Tensor*& copy = copies[{in, b}];
        if (copy == nullptr) {
          copy = &plan.copies.emplace_back(backend(b).allocate(val.dtype, val.shape));
          segment.arrivals.push_back({&val.tensor, copy, plan.value_backend[in], b});
        }
        ins.push_back(copy);
      }
    }
    plan.node_inputs.push_back(std::move(ins));
  }
}

}  // namespace octet
