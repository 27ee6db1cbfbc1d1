#include "engine/io/model_registry.h"

#include "engine/io/compressed_tensors.h"

#include <fmt/ranges.h>
#include <algorithm>
#include <filesystem>

namespace octet {

std::optional<Pooling> pooling_from_name(std::string_view name) {
  if (name == "auto") return Pooling::Auto;
  if (name == "first") return Pooling::First;
  if (name == "mean") return Pooling::Mean;
  if (name == "pooler") return Pooling::Pooler;
  return std::nullopt;
}

void ModelRegistry::add_hf_model(std::string model_type, HfModelFactory factory) {
  hf_models_[std::move(model_type)] = std::move(factory);
}

void ModelRegistry::add_file_format(std::string extension, FileModelLoader loader) {
  file_formats_[std::move(extension)] = std::move(loader);
}

void ModelRegistry::add_prefix(std::string prefix, FileModelLoader loader) {
  prefixes_[std::move(prefix)] = std::move(loader);
}

std::vector<std::string> ModelRegistry::model_types() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : hf_models_) out.push_back(name);
  return out;
}

namespace {

// A keep-float (or keep-dense) part that is in no weight name is a typo, not
// a request: without this check the model would quietly load fully quantized.
void require_parts_match(const Model& model, const std::vector<std::string>& parts, const char* option,
                         const std::string& path) {
  if (parts.empty()) return;
  std::vector<std::string> names;
  for (const auto& [name, tensor] : model.weights()) names.push_back(name);
  // A decoder's head is "lm_head.weight" to the recipe even where it is tied
  // to the embedding and, kept float, no weight of its own.
  if (model.info().kind == ModelKind::Decoder) names.push_back("lm_head.weight");
  for (const auto& part : parts) {
    const bool found = std::any_of(names.begin(), names.end(),
                                   [&](const std::string& n) { return n.find(part) != std::string::npos; });
    if (!found) {
      fail("{}: {} '{}' is part of no weight name (they look like '{}')", path, option, part, names[names.size() / 2]);
    }
  }
}

}  // namespace

std::unique_ptr<Model> ModelRegistry::load_model(const std::string& path, const LoadOptions& options) const {
  auto model = load_any_format(path, options);
  require_parts_match(*model, options.quant.keep_float, "keep-float", path);
  if (options.prune.pattern != SparsityPattern::Dense)
    require_parts_match(*model, options.prune.keep_dense, "keep-dense", path);
  // A checkpoint that says it is sparse must be: its tensors are checked against its config.json.
  const auto config_path = std::filesystem::path(path) / "config.json";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec) && std::filesystem::is_regular_file(config_path, ec)) {
    if (const auto sparsity = checkpoint_sparsity(read_json_file(config_path.string()), config_path.string())) {
      require_checkpoint_sparsity(*model, *sparsity, config_path.string());
    }
  }
  return model;
}

std::unique_ptr<Model> ModelRegistry::load_any_format(const std::string& path, const LoadOptions& options) const {
  namespace fs = std::filesystem;
  for (const auto& [prefix, loader] : prefixes_) {
    if (path.starts_with(prefix)) return loader(path.substr(prefix.size()), options);
  }
  if (!fs::exists(path)) fail("{}: no such file or directory", path);
  if (fs::is_regular_file(path)) {
    const std::string ext = fs::path(path).extension().string();
    auto it = file_formats_.find(ext);
    if (it == file_formats_.end()) {
      fail(
          "{}: unknown checkpoint file type '{}'; give a Hugging Face model directory, a .gguf file or a llama2.c .bin "
          "file",
          path, ext);
    }
    return it->second(path, options);
  }
  const std::string config_path = (fs::path(path) / "config.json").string();
  if (!fs::exists(config_path)) fail("{}: no config.json (is this a Hugging Face model directory?)", path);
  const Json config = read_json_file(config_path);
  const auto model_type = json_required<std::string>(config, "model_type", config_path);
  auto it = hf_models_.find(model_type);
  if (it == hf_models_.end()) {
    fail("{}: unknown model_type '{}'; octet runs models of type: {}", config_path, model_type,
         fmt::join(model_types(), ", "));
  }
  const WeightStore weights = WeightStore::open_dir(path);
  return it->second(config, config_path, weights, options);
}

Tensor prune_at_load(const std::string& name, const Tensor& w, const LoadOptions& options, const std::string& source) {
  if (!options.prune.prunes(name)) return w;
  if (w.quant() != nullptr) {
    fail("{}: '{}' is stored quantized; pruning needs float weights (prune the float checkpoint)", source, name);
  }
  std::span<const float> norms;
  if (options.prune.method == PruneMethod::Wanda) {
    const auto it = options.input_norms.find(name);
    if (it == options.input_norms.end()) fail("{}: Wanda has no calibration norms for '{}'", source, name);
    norms = it->second;
  }
  // A copy: a float32 weight may be the checkpoint's mapped (read-only) bytes.
  const Tensor source_values = to_f32(w);
  Tensor pruned = Tensor::zeros(DType::F32, w.shape());
  std::copy_n(source_values.data<float>(), w.numel(), pruned.data_mut<float>());
  try {
    prune_matrix(pruned, options.prune, norms);
  } catch (const Error& e) {
    fail("{}: '{}': {}", source, name, e.what());
  }
  w.release_file_pages();  // read once, as quantize_weight reads an unpruned weight
  return pruned;
}

}  // namespace octet
