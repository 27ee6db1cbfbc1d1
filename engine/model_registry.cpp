#include "engine/model_registry.h"

#include <fmt/ranges.h>
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

std::unique_ptr<Model> ModelRegistry::load_model(const std::string& path, const LoadOptions& options) const {
  namespace fs = std::filesystem;
  for (const auto& [prefix, loader] : prefixes_) {
    if (path.starts_with(prefix)) return loader(path.substr(prefix.size()), options);
  }
  if (!fs::exists(path)) fail("{}: no such file or directory", path);
  if (fs::is_regular_file(path)) {
    const std::string ext = fs::path(path).extension().string();
    auto it = file_formats_.find(ext);
    if (it == file_formats_.end()) {
      fail("{}: unknown checkpoint file type '{}'; give a Hugging Face model directory or a llama2.c .bin file", path,
           ext);
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

}  // namespace octet
