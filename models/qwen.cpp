#include "models/qwen.h"

#include "models/llama.h"

namespace octet::models {

std::unique_ptr<Model> load_qwen2_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                     const LoadOptions& options) {
  LlamaConfig c = llama_config_from_json(config, config_path);
  c.family = "qwen2";
  c.qkv_bias = true;  // Qwen2's config does not say so: its q, k and v projections always have biases
  return make_llama_hf(c, config, config_path, weights, options);
}

std::unique_ptr<Model> load_qwen3_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                     const LoadOptions& options) {
  LlamaConfig c = llama_config_from_json(config, config_path);
  c.family = "qwen3";
  c.qk_norm = true;
  return make_llama_hf(c, config, config_path, weights, options);
}

}  // namespace octet::models
