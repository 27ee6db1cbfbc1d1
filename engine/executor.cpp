#include "engine/executor.h"

#include "engine/error.h"

#include <algorithm>
#include <cstring>

namespace octet {

namespace {
constexpr std::size_t kAlign = 64;
std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

Executor::Executor(const DecoderModel& model, Backend& backend, int n_ctx)
    : model_(model), backend_(backend), n_ctx_(n_ctx) {
  if (n_ctx <= 0) fail("context length must be positive, got {}", n_ctx);
  tokens_ = Tensor::zeros(DType::I32, {n_ctx});
}

const Tensor& Executor::forward(std::span<const std::int32_t> tokens, int pos, bool all_logits) {
  const auto n = static_cast<int>(tokens.size());
  if (n == 0) fail("forward: no tokens to process");
  if (pos < 0 || pos + n > n_ctx_) {
    fail("forward: positions {}..{} do not fit the context of {} tokens", pos, pos + n - 1, n_ctx_);
  }
  Plan& plan = plan_for(n, all_logits);
  std::memcpy(tokens_.data_mut<std::int32_t>(), tokens.data(), tokens.size_bytes());
  const StepContext ctx{pos};
  for (std::size_t i = 0; i < plan.graph.nodes().size(); ++i) {
    const Node& node = plan.graph.nodes()[i];
    backend_.run(node, plan.node_inputs[i], plan.graph.values()[node.output].tensor, ctx);
  }
  last_ = &plan;
  return plan.graph.values()[plan.graph.output()].tensor;
}

const Tensor* Executor::find_value(const std::string& name) const {
  if (last_ == nullptr) return nullptr;
  const int i = last_->graph.find(name);
  return i < 0 ? nullptr : &last_->graph.values()[i].tensor;
}

Executor::Plan& Executor::plan_for(int n_tokens, bool all_logits) {
  auto& slot = plans_[{n_tokens, all_logits}];
  if (slot) return *slot;
  auto plan = std::make_unique<Plan>();
  plan->graph = model_.build_graph({n_tokens, n_ctx_, all_logits});
  if (plan->graph.output() < 0) fail("graph for {} tokens has no output", n_tokens);
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
      if (v.kind == ValueKind::Weight) dtype = v.dtype;
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
    arena_ = Tensor::zeros(DType::U8, {static_cast<std::int64_t>(plan.arena_bytes)});
    for (auto& [key, other] : plans_) {
      if (other) {
        for (std::size_t v = 0; v < other->graph.values().size(); ++v) {
          auto& val = other->graph.values()[v];
          if (val.kind == ValueKind::Intermediate) {
            val.tensor = Tensor::borrowed(val.dtype, val.shape, arena_.data_mut<unsigned char>() + other->offsets[v]);
          }
        }
      }
    }
  }
  plan.offsets.assign(values.size(), 0);
  for (std::size_t v = 0; v < values.size(); ++v) {
    Value& val = values[v];
    switch (val.kind) {
      case ValueKind::Intermediate:
        plan.offsets[v] = slot_offset[static_cast<std::size_t>(slot_of[v])];
        val.tensor = Tensor::borrowed(val.dtype, val.shape, arena_.data_mut<unsigned char>() + plan.offsets[v]);
        break;
      case ValueKind::State: {
        auto it = state_.find(val.name);
        if (it == state_.end()) it = state_.emplace(val.name, Tensor::zeros(val.dtype, val.shape)).first;
        if (it->second.shape() != val.shape) {
          fail("state '{}' changed shape from {} to {}", val.name, shape_str(it->second.shape()), shape_str(val.shape));
        }
        val.tensor = it->second;
        break;
      }
      case ValueKind::Input:
        if (val.dtype != DType::I32 || val.shape.size() != 1) {
          fail("graph input '{}' must be i32 [n_tokens], found {} {}", val.name, dtype_name(val.dtype),
               shape_str(val.shape));
        }
        val.tensor = Tensor::borrowed(DType::I32, val.shape, tokens_.data_mut<std::int32_t>());
        break;
      case ValueKind::Weight:
        break;
    }
  }
  plan.node_inputs.clear();
  for (const Node& node : nodes) {
    std::vector<Tensor*> ins;
    for (int in : node.inputs) ins.push_back(&values[in].tensor);
    plan.node_inputs.push_back(std::move(ins));
  }
}

}  // namespace octet
