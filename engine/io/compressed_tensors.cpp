#include "engine/io/compressed_tensors.h"

#include "engine/core/error.h"
#include "engine/io/sparse24_bitmask.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace octet {

namespace {

constexpr const char* kSparse24Bitmask = "sparse-24-bitmask";

// The weights and input_activations blocks octet writes: `type` is "int" or "float".
Json channel_weights(const char* type) {
  return {{"num_bits", 8}, {"type", type}, {"symmetric", true}, {"strategy", "channel"}, {"dynamic", false}};
}
Json token_activations(const char* type) {
  return {{"num_bits", 8}, {"type", type}, {"symmetric", true}, {"strategy", "token"}, {"dynamic", true}};
}
const Json kStaticInt8Activations = {
    {"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", "tensor"}, {"dynamic", false}};

std::string scale_name(const std::string& weight_name) {
  const std::string suffix = ".weight";
  if (!weight_name.ends_with(suffix)) fail("cannot name the scale of tensor '{}'", weight_name);
  return weight_name + "_scale";
}

// "x.weight" -> "x.input_scale": the static activation scale of that matmul.
std::string input_scale_name(const std::string& weight_name) {
  return weight_name.substr(0, weight_name.size() - std::string(".weight").size()) + ".input_scale";
}

// Whether a weights/activations block says "8-bit symmetric `type`, `strategy`".
bool is_8bit(const Json& block, const std::string& type, const std::string& strategy, const std::string& path) {
  return block.is_object() && json_optional<std::int64_t>(block, "num_bits", 0, path) == 8 &&
         json_optional<std::string>(block, "type", "", path) == type &&
         json_optional<bool>(block, "symmetric", false, path) &&
         json_optional<std::string>(block, "strategy", "", path) == strategy;
}

// The config group of int8 embedding tables (quantize_embedding): int8 rows
// with a scale each, looked up as floats.
Json embedding_group() {
  return {{"targets", {"Embedding"}}, {"weights", channel_weights("int")}, {"input_activations", nullptr}};
}
bool is_embedding_group(const Json& group) {
  return group.is_object() && group.value("targets", Json()) == Json{"Embedding"};
}

// The weights the model's Embedding ops look up.
std::vector<std::string> embedding_table_names(const Model& model) {
  std::vector<std::string> names;
  const Graph graph = model.build_graph({1, 8, false});
  for (const Node& node : graph.nodes()) {
    if (node.op == OpKind::Embedding) names.push_back(graph.values()[node.inputs[0]].name);
  }
  return names;
}

}  // namespace

std::optional<CheckpointQuant> checkpoint_scheme(const Json& config, const std::string& path) {
  const auto it = config.find("quantization_config");
  if (it == config.end() || it->is_null()) return std::nullopt;
  const Json& q = *it;
  if (!q.is_object()) fail("{}: quantization_config is not an object", path);
  const auto method = json_optional<std::string>(q, "quant_method", "", path);
  if (method != "compressed-tensors") {
    fail("{}: quantization_config quant_method '{}' is not supported (octet reads compressed-tensors)", path, method);
  }
  const auto format = json_optional<std::string>(q, "format", "", path);
  if (format != "int-quantized" && format != "float-quantized") {
    fail("{}: compressed-tensors format '{}' is not supported (int-quantized and float-quantized are)", path, format);
  }
  const std::string type = format == "int-quantized" ? "int" : "float";
  const auto groups = json_optional<Json>(q, "config_groups", Json::object(), path);
  // One group of Linear layers, and one of int8 embedding tables beside it (octet writes it: engine/quant/quant.h).
  if (!groups.is_object() || groups.empty() || groups.size() > 2) {
    fail("{}: expected one config group (and one of Embedding tables), found {}", path, groups.size());
  }
  const Json* linear = nullptr;
  for (const auto& [name, group] : groups.items()) {
    if (!is_embedding_group(group)) {
      if (linear != nullptr) fail("{}: expected one config group of Linear layers, found two", path);
      linear = &group;
      continue;
    }
    const Json table = json_optional<Json>(group, "weights", Json(), path);
    if (type != "int" || !is_8bit(table, "int", "channel", path) ||
        !json_optional<Json>(group, "input_activations", Json(), path).is_null()) {
      fail(
          "{}: config group '{}' of Embedding tables: only int8 per-channel weights without activations are "
          "supported (in an int-quantized checkpoint), found {}",
          path, name, group.dump());
    }
  }
  if (linear == nullptr) return CheckpointQuant{QuantScheme::W8};  // only the tables are quantized
  const Json& group = *linear;
  const Json weights = json_optional<Json>(group, "weights", Json(), path);
  if (!is_8bit(weights, type, "channel", path)) {
    fail("{}: only 8-bit symmetric per-channel {} weights are supported, found {}", path, type, weights.dump());
  }
  const Json activations = json_optional<Json>(group, "input_activations", Json(), path);
  const bool dynamic_tokens =
      is_8bit(activations, type, "token", path) && json_optional<bool>(activations, "dynamic", false, path);
  if (type == "int" && activations.is_null()) return CheckpointQuant{QuantScheme::W8};
  if (dynamic_tokens) return CheckpointQuant{type == "int" ? QuantScheme::Int8 : QuantScheme::Fp8};
  if (type == "int" && activations == kStaticInt8Activations) return CheckpointQuant{QuantScheme::Int8, true};
  fail("{}: input_activations {} are not supported (dynamic per-token {}{})", path, activations.dump(), type,
       type == "int" ? ", static per-tensor, or none" : "");
}

Tensor with_checkpoint_scales(const WeightStore& weights, const std::string& name, const Tensor& tensor,
                              const CheckpointQuant& quant) {
  const QuantScheme scheme = quant.scheme;
  if (tensor.dtype() != DType::I8 && tensor.dtype() != DType::F8E4M3) return tensor;
  if (tensor.dtype() != weight_dtype(scheme)) {
    fail("{}: tensor '{}' is {} but the quantization_config says {}", weights.describe(), name,
         dtype_name(tensor.dtype()), quant_scheme_name(scheme));
  }
  const std::string sname = scale_name(name);
  if (!weights.contains(sname)) fail("{}: 8-bit tensor '{}' has no '{}'", weights.describe(), name, sname);
  const Tensor scale = to_f32(weights.get(sname));
  const std::int64_t rows = tensor.rank() == 2 ? tensor.dim(0) : -1;
  if (rows < 0 || scale.numel() != rows || (scale.rank() == 2 && scale.dim(1) != 1)) {
    fail("{}: '{}' has shape {}, expected [{}, 1]", weights.describe(), sname, shape_str(scale.shape()), rows);
  }
  const Tensor q = tensor.with_quant(std::make_shared<const QuantParams>(QuantParams{scheme, scale.reshaped({rows})}));
  if (!quant.static_activations) return q;
  const std::string iname = input_scale_name(name);
  if (!weights.contains(iname)) fail("{}: static activations, but '{}' has no '{}'", weights.describe(), name, iname);
  const Tensor input_scale = to_f32(weights.get(iname));
  if (input_scale.numel() != 1) {
    fail("{}: '{}' has shape {}, expected [1]", weights.describe(), iname, shape_str(input_scale.shape()));
  }
  return with_input_scale(q, input_scale.data<float>()[0]);
}

void write_checkpoint(const Model& model, Json hf_config, const QuantRecipe& recipe, const std::string& out_dir,
                      const StoredWeight& to_stored) {
  // The weights stored compressed: those the sparsity_config targets, when its format says so.
  std::vector<std::string> compressed;
  if (const auto sparsity = checkpoint_sparsity(hf_config, out_dir + "/config.json");
      sparsity && sparsity->compressed) {
    compressed = sparse_weight_names(model, sparsity->ignore);
  }
  std::vector<NamedTensor> tensors;
  // `name`'s values as they are stored: the tensor itself, or its sparse-24-bitmask parts.
  const auto push_values = [&](const std::string& name, const Tensor& t) {
    if (std::find(compressed.begin(), compressed.end(), name) == compressed.end()) {
      tensors.push_back({name, t});
      return;
    }
    const std::string base = name.ends_with(".weight") ? name.substr(0, name.size() - 7) : name;
    Sparse24Bitmask parts = compress_sparse24_bitmask(t, fmt::format("{}: '{}'", out_dir, name));
    tensors.push_back({base + ".compressed", std::move(parts.compressed)});
    tensors.push_back({base + ".bitmask", std::move(parts.bitmask)});
    tensors.push_back({base + ".shape", std::move(parts.shape)});
  };
  bool writes_lm_head = false;
  int static_inputs = 0, quantized = 0, tables = 0;
  const std::vector<std::string> embeddings = embedding_table_names(model);
  for (const auto& [name, weight] : model.weights()) {
    const Tensor t = to_stored ? to_stored(name, weight) : weight;
    writes_lm_head |= name == "lm_head.weight";
    if (const QuantParams* q = t.quant()) {
      if (q->packed_panels || q->packed_two_four)
        fail("'{}' is held in the CPU backend's packed form: not writable", name);
      push_values(name, t);
      tensors.push_back({scale_name(name), q->scale.reshaped({t.dim(0), 1})});
      if (std::find(embeddings.begin(), embeddings.end(), name) != embeddings.end()) {
        ++tables;
        continue;
      }
      ++quantized;
      if (q->input_scale > 0.0f) {
        Tensor s = Tensor::zeros(DType::F32, {1});
        s.data_mut<float>()[0] = q->input_scale;
        tensors.push_back({input_scale_name(name), s});
        ++static_inputs;
      }
    } else {
      push_values(name, to_f32(t));
    }
  }
  const bool fp8 = recipe.scheme == QuantScheme::Fp8;
  const char* type = fp8 ? "float" : "int";
  Json group = {{"targets", {"Linear"}}, {"weights", channel_weights(type)}, {"input_activations", nullptr}};
  if (recipe.scheme != QuantScheme::W8) group["input_activations"] = token_activations(type);
  if (static_inputs > 0) {
    // One config group: all or none of the int8 weights carry static scales.
    if (static_inputs != quantized)
      fail("{} of {} int8 weights have static activation scales", static_inputs, quantized);
    group["input_activations"] = kStaticInt8Activations;
  }
  if (quantized > 0 || tables > 0) {
    Json groups = Json::object();
    if (quantized > 0) groups["group_0"] = group;
    if (tables > 0) groups["group_1"] = embedding_group();
    hf_config["quantization_config"] = {{"quant_method", "compressed-tensors"},
                                        {"format", fp8 ? "float-quantized" : "int-quantized"},
                                        {"config_groups", groups},
                                        {"ignore", recipe.keep_float}};
  } else {
    hf_config.erase("quantization_config");
  }
  // A tied head quantized on its own is no longer the embedding table.
  if (writes_lm_head) hf_config["tie_word_embeddings"] = false;
  hf_config["torch_dtype"] = "float32";

  std::filesystem::create_directories(out_dir);
  write_safetensors(out_dir + "/model.safetensors", tensors, {{"format", "pt"}, {"quantized_by", "octet"}});
  write_json_file(out_dir + "/config.json", hf_config);
}

std::optional<CheckpointSparsity> checkpoint_sparsity(const Json& config, const std::string& config_path) {
  const auto it = config.find("sparsity_config");
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) fail("{}: sparsity_config is not an object", config_path);
  const Json& j = *it;
  const auto format = json_optional<std::string>(j, "format", "dense", config_path);
  if (format != "dense" && format != kSparse24Bitmask) {
    fail(
        "{}: sparsity_config format '{}' is not read (octet reads \"dense\", the zeros stored as zeros, and "
        "\"sparse-24-bitmask\")",
        config_path, format);
  }
  CheckpointSparsity s;
  s.compressed = format == kSparse24Bitmask;
  const auto structure = json_optional<std::string>(j, "sparsity_structure", "unstructured", config_path);
  if (structure == "2:4") {
    s.pattern = SparsityPattern::TwoFour;
  } else if (structure == "unstructured") {
    s.pattern = SparsityPattern::Unstructured;
  } else {
    fail("{}: sparsity_structure '{}' is not read (2:4 or unstructured)", config_path, structure);
  }
  if (s.compressed && s.pattern != SparsityPattern::TwoFour) {
    fail("{}: sparsity_config format '{}' needs sparsity_structure 2:4, not '{}'", config_path, format, structure);
  }
  s.global_sparsity = json_optional<double>(j, "global_sparsity", 0.0, config_path);
  if (!(s.global_sparsity >= 0.0 && s.global_sparsity < 1.0)) {
    fail("{}: global_sparsity {} is not in [0, 1)", config_path, s.global_sparsity);
  }
  s.ignore = json_optional<std::vector<std::string>>(j, "ignore", {}, config_path);
  return s;
}

Json sparsity_config_json(const PruneRecipe& recipe, double global_sparsity) {
  return {{"format", recipe.pattern == SparsityPattern::TwoFour ? kSparse24Bitmask : "dense"},
          {"sparsity_structure", recipe.pattern == SparsityPattern::TwoFour ? "2:4" : "unstructured"},
          {"global_sparsity", global_sparsity},
          {"targets", {"Linear"}},
          {"ignore", recipe.keep_dense},
          {"registry_requires_subclass", false}};
}

namespace {

// A weight's zeros, and whether each group of 4 values holds 2 of them.
// (holds_two_four, engine/quant/pruning.h, asks only the second and stops at
// the first group that breaks it: a packing decision for every weight.)
struct ZeroCount {
  std::int64_t zeros = 0;
  bool two_four = true;
};

template <typename T, typename IsZero>
ZeroCount count_zeros(const T* v, std::int64_t n, const IsZero& is_zero) {
  ZeroCount c;
  int fewest = 4;  // the fewest zeros in a whole group (a loop the compiler vectorizes)
  std::int64_t g = 0;
  for (; g + 4 <= n; g += 4) {
    const int z = int{is_zero(v[g])} + int{is_zero(v[g + 1])} + int{is_zero(v[g + 2])} + int{is_zero(v[g + 3])};
    c.zeros += z;
    fewest = std::min(fewest, z);
  }
  int tail = 0;
  for (; g < n; ++g) tail += int{is_zero(v[g])};
  c.zeros += tail;
  c.two_four = fewest >= 2 && (n % 4 == 0 || tail >= 2);
  return c;
}

// In any of the dtypes a weight is stored in (another dtype counts no zeros).
ZeroCount count_zeros(const Tensor& t) {
  const std::int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::F32:
      return count_zeros(t.data<float>(), n, [](float x) { return x == 0.0f; });
    case DType::I8:
      return count_zeros(t.data<std::int8_t>(), n, [](std::int8_t x) { return x == 0; });
    case DType::F8E4M3:
      return count_zeros(t.data<std::uint8_t>(), n, [](std::uint8_t x) { return (x & 0x7F) == 0; });  // +0 and -0
    default:
      return {0, n == 0};
  }
}

}  // namespace

std::vector<std::string> sparse_weight_names(const Model& model, const std::vector<std::string>& ignore) {
  // The weights the matmuls read; one that other ops read too is a head tied
  // to the embedding table: "lm_head.weight" to the pruning recipe, which
  // leaves it dense by default.
  std::vector<std::string> matmuls, shared;
  const Graph graph = model.build_graph({1, 8, false});
  for (const Node& node : graph.nodes()) {
    if (node.op == OpKind::MatMul) {
      matmuls.push_back(graph.values()[node.inputs[1]].name);
    } else {
      for (const auto input : node.inputs) shared.push_back(graph.values()[input].name);
    }
  }
  std::vector<std::string> names;
  for (const auto& [name, t] : model.weights()) {
    if (std::find(matmuls.begin(), matmuls.end(), name) == matmuls.end() || t.rank() != 2) continue;
    const bool tied_head = std::find(shared.begin(), shared.end(), name) != shared.end();
    const std::string role = tied_head ? "lm_head.weight" : name;
    if (std::none_of(ignore.begin(), ignore.end(),
                     [&](const std::string& part) { return !part.empty() && role.find(part) != std::string::npos; })) {
      names.push_back(name);
    }
  }
  return names;
}

MeasuredSparsity measure_sparsity(const Model& model, const std::vector<std::string>& ignore) {
  const auto names = sparse_weight_names(model, ignore);
  std::int64_t zeros = 0;
  MeasuredSparsity m;
  for (const auto& [name, t] : model.weights()) {
    if (std::find(names.begin(), names.end(), name) == names.end()) continue;
    const ZeroCount c = count_zeros(t);
    const bool two_four = t.dim(1) % 4 == 0 && c.two_four;
    zeros += c.zeros;
    m.weights += t.numel();
    if (!two_four && m.breaks_two_four.empty()) m.breaks_two_four = name;
  }
  m.zero_fraction = m.weights > 0 ? static_cast<double>(zeros) / static_cast<double>(m.weights) : 0.0;
  return m;
}

void require_checkpoint_sparsity(const Model& model, const CheckpointSparsity& sparsity,
                                 const std::string& config_path) {
  const MeasuredSparsity m = measure_sparsity(model, sparsity.ignore);
  if (sparsity.pattern == SparsityPattern::TwoFour && !m.breaks_two_four.empty()) {
    fail("{}: sparsity_config says 2:4, but '{}' has a group of 4 weights with fewer than 2 zeros", config_path,
         m.breaks_two_four);
  }
  // Per-row rounding may leave a row a zero short of the share; a hundredth more is not pruning.
  if (m.zero_fraction + 0.01 < sparsity.global_sparsity) {
    fail("{}: sparsity_config says {:.1f}% of the weights are zero, but {:.1f}% are", config_path,
         100.0 * sparsity.global_sparsity, 100.0 * m.zero_fraction);
  }
}

}  // namespace octet
