#include "engine/executor.h"

#include "engine/error.h"

#include <algorithm>
#include <atomic>
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

Executor::Executor(const Model& model, Backend& backend, int n_ctx, int max_batch)
    : model_(model), backend_(backend), n_ctx_(n_ctx), max_batch_(max_batch) {
  if (n_ctx <= 0) fail("context length must be positive, got {}", n_ctx);
  if (max_batch <= 0) fail("the batch must hold at least one sequence, got {}", max_batch);
}

Executor::~Executor() {
  for (auto& [key, plan] : plans_) {
    if (plan) backend_.forget_step(plan->step_key);
  }
}

const Tensor& Executor::forward(std::span<const std::int32_t> tokens, int pos, bool all_logits, int batch) {
  if (tokens.empty()) fail("forward: no tokens to process");
  if (batch < 1 || batch > max_batch_) {
    fail("forward: {} sequences in one step, the cache holds 1 to {}", batch, max_batch_);
  }
  if (tokens.size() % static_cast<std::size_t>(batch) != 0) {
    fail("forward: {} tokens do not split into {} sequences of equal length", tokens.size(), batch);
  }
  const auto n = static_cast<int>(tokens.size() / static_cast<std::size_t>(batch));
  if (pos < 0 || pos + n > n_ctx_) {
    fail("forward: positions {}..{} do not fit the context of {} tokens", pos, pos + n - 1, n_ctx_);
  }
  const GraphInput input{"tokens", tokens};
  return run({n, n_ctx_, all_logits, batch}, std::span(&input, 1), pos);
}

const Tensor& Executor::run(const GraphRequest& request, std::span<const GraphInput> inputs, int pos) {
  Plan& plan = plan_for(request);
  if (inputs.size() != plan.inputs.size()) {
    fail("step: the graph takes {} inputs, {} given", plan.inputs.size(), inputs.size());
  }
  for (const GraphInput& input : inputs) {
    auto slot = std::find_if(plan.inputs.begin(), plan.inputs.end(),
                             [&](const Plan::InputSlot& s) { return plan.graph.values()[s.value].name == input.name; });
    if (slot == plan.inputs.end()) fail("step: the graph has no input '{}'", input.name);
    if (static_cast<std::int64_t>(input.data.size()) != slot->buffer.numel()) {
      fail("step: input '{}' has {} values, the graph takes {}", input.name, input.data.size(), slot->buffer.numel());
    }
    if (slot->id_rows > 0) {
      for (std::size_t t = 0; t < input.data.size(); ++t) {
        if (input.data[t] < 0 || input.data[t] >= slot->id_rows) {
          fail("{} id {} at position {} is outside the table of {} rows", input.name, input.data[t], t, slot->id_rows);
        }
      }
    }
    backend_.copy_to_device(slot->buffer, input.data.data(), input.data.size_bytes());
  }
  const StepContext ctx{pos};
  backend_.begin_step(ctx);
  auto enqueue = [&] {
    for (std::size_t i = 0; i < plan.graph.nodes().size(); ++i) {
      const Node& node = plan.graph.nodes()[i];
      backend_.run(node, plan.node_inputs[i], plan.graph.values()[node.output].tensor, ctx);
    }
  };
  backend_.run_step(plan.step_key, enqueue);
  last_ = &plan;
  const Tensor& out = plan.graph.values()[plan.graph.output()].tensor;
  if (backend_.device() == Device::Cpu) return out;
  // The output crosses to the host; the copy waits for the step to finish.
  if (host_output_.shape() != out.shape()) host_output_ = Tensor::zeros(out.dtype(), out.shape());
  backend_.copy_to_host(out, host_output_.raw_mut(), out.nbytes());
  return host_output_;
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
  auto& slot = plans_[{request.n_tokens, request.all_logits, request.batch}];
  if (slot) return *slot;
  auto plan = std::make_unique<Plan>();
  GraphRequest full = request;
  full.n_ctx = n_ctx_;
  plan->batch = request.batch;
  plan->graph = model_.build_graph(full);
  if (plan->graph.output() < 0) fail("graph for {} tokens has no output", request.n_tokens);
  place_and_check(*plan);
  plan_buffers(*plan);
  backend_.reserve(plan->graph, n_ctx_);
  slot = std::move(plan);
  return *slot;
}

// Every node runs on this executor's backend; refuse what it cannot run now,
// with the op, dtype and device named, rather than failing mid-step.
void Executor::place_and_check(Plan& plan) {
  for (const Node& node : plan.graph.nodes()) {
    DType dtype = DType::F32;
    for (int in : node.inputs) {
      const Value& v = plan.graph.values()[in];
      if (v.kind == ValueKind::Weight) {
        dtype = v.dtype;  // the first weight decides (a matmul's bias is float)
        break;
      }
    }
    if (!backend_.supports(node.op, dtype)) {
      fail("node '{}': the {} backend does not support {} with {} weights", plan.graph.values()[node.output].name,
           backend_.name(), op_name(node.op), dtype_name(dtype));
    }
  }
}

// Greedy slot reuse: a node's output takes the smallest free slot that fits
// (or a new one); its inputs' slots are freed after it if this was their last
// use. Outputs never alias inputs, so kernels need not support in-place.
void Executor::plan_buffers(Plan& plan) {
  auto& values = plan.graph.values();
  const auto& nodes = plan.graph.nodes();
  std::vector<int> last_use(values.size(), -1);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (int in : nodes[i].inputs) last_use[in] = static_cast<int>(i);
  }
  last_use[plan.graph.output()] = static_cast<int>(nodes.size());  // the output stays alive

  std::vector<std::size_t> slot_size;
  std::vector<bool> slot_free;
  std::vector<int> slot_of(values.size(), -1);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const int out = nodes[i].output;
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
    for (int in : nodes[i].inputs) {
      if (slot_of[in] >= 0 && last_use[in] == static_cast<int>(i)) {
        slot_free[static_cast<std::size_t>(slot_of[in])] = true;
      }
    }
  }
  std::vector<std::size_t> slot_offset(slot_size.size());
  for (std::size_t s = 0; s < slot_size.size(); ++s) {
    slot_offset[s] = plan.arena_bytes;
    plan.arena_bytes += slot_size[s];
  }
  // One arena serves every plan; growing it re-points the plans made before.
  if (plan.arena_bytes > arena_.nbytes()) {
    arena_ = backend_.allocate(DType::U8, {static_cast<std::int64_t>(plan.arena_bytes)});
    for (auto& [key, other] : plans_) {
      if (other) {
        backend_.forget_step(other->step_key);
        other->step_key = next_step_key();
        for (std::size_t v = 0; v < other->graph.values().size(); ++v) {
          auto& val = other->graph.values()[v];
          if (val.kind == ValueKind::Intermediate) {
            val.tensor = Tensor::borrowed(val.dtype, val.shape, arena_.data_mut<unsigned char>() + other->offsets[v],
                                          backend_.device());
          }
        }
      }
    }
  }
  plan.step_key = next_step_key();
  plan.offsets.assign(values.size(), 0);
  for (std::size_t v = 0; v < values.size(); ++v) {
    Value& val = values[v];
    switch (val.kind) {
      case ValueKind::Intermediate:
        plan.offsets[v] = slot_offset[static_cast<std::size_t>(slot_of[v])];
        val.tensor = Tensor::borrowed(val.dtype, val.shape, arena_.data_mut<unsigned char>() + plan.offsets[v],
                                      backend_.device());
        break;
      case ValueKind::State: {
        // The graph's state holds plan.batch sequences' rows, one after another;
        // the executor keeps max_batch_ sequences' worth, and a step of fewer
        // sequences works on the first ones.
        if (val.shape.empty() || val.shape[0] % plan.batch != 0) {
          fail("state '{}' {} does not split into {} sequences", val.name, shape_str(val.shape), plan.batch);
        }
        if (plan.batch > max_batch_) {
          fail("a step of {} sequences, but the cache holds at most {}", plan.batch, max_batch_);
        }
        Shape full = val.shape;
        full[0] = val.shape[0] / plan.batch * max_batch_;
        auto it = state_.find(val.name);
        if (it == state_.end()) it = state_.emplace(val.name, backend_.allocate(val.dtype, full)).first;
        if (it->second.shape() != full || it->second.dtype() != val.dtype) {
          fail("state '{}' changed shape from {} to {}", val.name, shape_str(it->second.shape()), shape_str(full));
        }
        val.tensor = Tensor::borrowed(val.dtype, val.shape, it->second.raw_mut(), backend_.device());
        break;
      }
      case ValueKind::Input: {
        if (val.dtype != DType::I32 || val.shape.size() != 1) {
          fail("graph input '{}' must be i32 [n], found {} {}", val.name, dtype_name(val.dtype), shape_str(val.shape));
        }
        // Each plan has its own input buffers: a recorded step reads them where they are.
        Plan::InputSlot slot{static_cast<int>(v), backend_.allocate(DType::I32, val.shape), 0};
        for (const Node& node : nodes) {
          if (node.op == OpKind::Embedding && node.inputs[1] == static_cast<int>(v)) {
            const std::int64_t rows = values[node.inputs[0]].shape[0];
            slot.id_rows = slot.id_rows == 0 ? rows : std::min(slot.id_rows, rows);
          }
        }
        val.tensor = slot.buffer;
        plan.inputs.push_back(std::move(slot));
        break;
      }
      case ValueKind::Weight:
        break;  // prepared per use below
    }
  }
  // A weight takes the form its reading op needs on the backend (a GPU keeps
  // a matmul weight in bf16 or FP8, a lookup table in float), per use: a tied
  // float lm_head is the embedding table read by two ops.
  std::size_t weight_uses = 0;
  for (const Node& node : nodes) {
    for (int in : node.inputs) weight_uses += values[in].kind == ValueKind::Weight;
  }
  plan.prepared_weights.clear();
  plan.prepared_weights.reserve(weight_uses);  // no reallocation: node_inputs point into it
  plan.node_inputs.clear();
  for (const Node& node : nodes) {
    std::vector<Tensor*> ins;
    for (int in : node.inputs) {
      if (values[in].kind == ValueKind::Weight) {
        plan.prepared_weights.push_back(backend_.prepare_weight(values[in].tensor, node.op));
        ins.push_back(&plan.prepared_weights.back());
      } else {
        ins.push_back(&values[in].tensor);
      }
    }
    plan.node_inputs.push_back(std::move(ins));
  }
}

}  // namespace octet
