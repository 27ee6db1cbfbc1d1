#include "engine/compressed_tensors.h"

#include "engine/error.h"

#include <filesystem>
#include <fstream>

namespace octet {

namespace {

const Json kInt8ChannelWeights = {
    {"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", "channel"}, {"dynamic", false}};
const Json kInt8TokenActivations = {
    {"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", "token"}, {"dynamic", true}};

std::string scale_name(const std::string& weight_name) {
  const std::string suffix = ".weight";
  if (!weight_name.ends_with(suffix)) fail("cannot name the scale of tensor '{}'", weight_name);
  return weight_name + "_scale";
}

// Whether a weights/activations block says "8-bit symmetric int, `strategy`".
bool is_int8(const Json& block, const std::string& strategy) {
  return block.is_object() && block.value("num_bits", 0) == 8 && block.value("type", "") == "int" &&
         block.value("symmetric", false) && block.value("strategy", "") == strategy;
}

}  // namespace

std::optional<QuantScheme> checkpoint_scheme(const Json& config, const std::string& path) {
  const auto it = config.find("quantization_config");
  if (it == config.end() || it->is_null()) return std::nullopt;
  const Json& q = *it;
  const auto method = q.value("quant_method", "");
  if (method != "compressed-tensors") {
    fail("{}: quantization_config quant_method '{}' is not supported (octet reads compressed-tensors)", path, method);
  }
  const auto format = q.value("format", "");
  if (format != "int-quantized")
    fail("{}: compressed-tensors format '{}' is not supported (int-quantized is)", path, format);
  const auto groups = q.value("config_groups", Json::object());
  if (!groups.is_object() || groups.size() != 1) fail("{}: expected exactly one config group", path);
  const Json& group = groups.begin().value();
  if (!is_int8(group.value("weights", Json()), "channel")) {
    fail("{}: only 8-bit symmetric per-channel int weights are supported, found {}", path,
         group.value("weights", Json()).dump());
  }
  const Json activations = group.value("input_activations", Json());
  if (activations.is_null()) return QuantScheme::W8;
  if (is_int8(activations, "token") && activations.value("dynamic", false)) return QuantScheme::Int8;
  fail("{}: input_activations {} are not supported (dynamic per-token int8, or none)", path, activations.dump());
}

Tensor with_checkpoint_scales(const WeightStore& weights, const std::string& name, const Tensor& tensor,
                              QuantScheme scheme) {
  if (tensor.dtype() != DType::I8) return tensor;
  const std::string sname = scale_name(name);
  if (!weights.contains(sname)) fail("{}: int8 tensor '{}' has no '{}'", weights.describe(), name, sname);
  const Tensor scale = to_f32(weights.get(sname));
  const std::int64_t rows = tensor.rank() == 2 ? tensor.dim(0) : -1;
  if (rows < 0 || scale.numel() != rows || (scale.rank() == 2 && scale.dim(1) != 1)) {
    fail("{}: '{}' has shape {}, expected [{}, 1]", weights.describe(), sname, shape_str(scale.shape()), rows);
  }
  return tensor.with_quant(std::make_shared<const QuantParams>(QuantParams{scheme, scale.reshaped({rows})}));
}

void write_quantized_checkpoint(const DecoderModel& model, Json hf_config, const QuantRecipe& recipe,
                                const std::string& out_dir) {
  if (recipe.scheme == QuantScheme::F32) fail("nothing to write: the scheme is f32");
  std::vector<NamedTensor> tensors;
  bool writes_lm_head = false;
  for (const auto& [name, t] : model.weights()) {
    writes_lm_head |= name == "lm_head.weight";
    if (const QuantParams* q = t.quant()) {
      tensors.push_back({name, t});
      tensors.push_back({scale_name(name), q->scale.reshaped({t.dim(0), 1})});
    } else {
      tensors.push_back({name, to_f32(t)});
    }
  }
  Json group = {{"targets", {"Linear"}}, {"weights", kInt8ChannelWeights}, {"input_activations", nullptr}};
  if (recipe.scheme == QuantScheme::Int8) group["input_activations"] = kInt8TokenActivations;
  hf_config["quantization_config"] = {{"quant_method", "compressed-tensors"},
                                      {"format", "int-quantized"},
                                      {"config_groups", {{"group_0", group}}},
                                      {"ignore", recipe.keep_float}};
  // A tied head quantized on its own is no longer the embedding table.
  if (writes_lm_head) hf_config["tie_word_embeddings"] = false;
  hf_config["torch_dtype"] = "float32";

  std::filesystem::create_directories(out_dir);
  write_safetensors(out_dir + "/model.safetensors", tensors, {{"format", "pt"}, {"quantized_by", "octet"}});
  const std::string config_path = out_dir + "/config.json";
  std::ofstream out(config_path);
  out << hf_config.dump(2) << "\n";
  if (!out) fail("{}: cannot write", config_path);
}

}  // namespace octet
