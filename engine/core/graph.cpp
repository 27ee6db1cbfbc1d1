#include "engine/core/graph.h"

#include "engine/core/error.h"

#include <charconv>

namespace octet {

std::string_view op_name(OpKind op) {
  switch (op) {
    case OpKind::Embedding:
      return "embedding";
    case OpKind::MatMul:
      return "matmul";
    case OpKind::RmsNorm:
      return "rms_norm";
    case OpKind::Rope:
      return "rope";
    case OpKind::Attention:
      return "attention";
    case OpKind::SiluMul:
      return "silu_mul";
    case OpKind::Add:
      return "add";
    case OpKind::LastRows:
      return "last_rows";
    case OpKind::LayerNorm:
      return "layer_norm";
    case OpKind::Gelu:
      return "gelu";
    case OpKind::GeluTanh:
      return "gelu_tanh";
    case OpKind::Tanh:
      return "tanh";
    case OpKind::Relu:
      return "relu";
    case OpKind::MaskedAttention:
      return "masked_attention";
    case OpKind::FirstRows:
      return "first_rows";
    case OpKind::MeanRows:
      return "mean_rows";
    case OpKind::L2Normalize:
      return "l2_normalize";
    case OpKind::Argmax:
      return "argmax";
  }
  return "unknown";
}

int Graph::add_value(Value value) {
  if (find(value.name) >= 0) fail("graph: value name '{}' used twice", value.name);
  values_.push_back(std::move(value));
  return static_cast<int>(values_.size()) - 1;
}

int Graph::add_input(std::string name, DType dtype, Shape shape) {
  return add_value({std::move(name), dtype, std::move(shape), ValueKind::Input, {}});
}

int Graph::add_weight(std::string name, Tensor tensor) {
  const DType dtype = tensor.dtype();
  Shape shape = tensor.shape();
  return add_value({std::move(name), dtype, std::move(shape), ValueKind::Weight, std::move(tensor)});
}

int Graph::add_state(std::string name, DType dtype, Shape shape) {
  return add_value({std::move(name), dtype, std::move(shape), ValueKind::State, {}});
}

int Graph::add_node(OpKind op, std::string name, std::vector<int> inputs, Shape shape, NodeParams params, DType dtype) {
  for (int i : inputs) {
    if (i < 0 || i >= static_cast<int>(values_.size())) {
      fail("graph: node '{}' ({}) has an unknown input", name, op_name(op));
    }
  }
  const int out = add_value({std::move(name), dtype, std::move(shape), ValueKind::Intermediate, {}});
  nodes_.push_back({op, std::move(inputs), out, params});
  return out;
}

int block_of(std::string_view value_name) {
  constexpr std::string_view kPrefix = "blk.";
  if (!value_name.starts_with(kPrefix)) return -1;
  const char* first = value_name.data() + kPrefix.size();
  const char* last = value_name.data() + value_name.size();
  unsigned block = 0;  // unsigned: "blk.-1." is no block
  const auto [end, error] = std::from_chars(first, last, block);
  if (error != std::errc() || end == last || *end != '.' || block > 1u << 20) return -1;
  return static_cast<int>(block);
}

int Graph::find(std::string_view name) const {
  for (std::size_t i = 0; i < values_.size(); ++i) {
    if (values_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace octet
