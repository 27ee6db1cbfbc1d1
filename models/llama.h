// Llama-family decoders (Llama 1/2/3, TinyLlama, Mistral shapes): config,
// weight-name table and graph. Only description here: the loops live in the
// executor and the kernels.
#pragma once

#include "engine/core/model.h"
#include "engine/io/json_file.h"
#include "engine/io/model_registry.h"
#include "engine/io/safetensors.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace octet::models {

struct LlamaConfig {
  std::string family = "llama";  // `octet info`'s name for it: llama, qwen2, qwen3
  std::string architecture = "LlamaForCausalLM";
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t n_layers = 0;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab_size = 0;
  std::int64_t context_length = 0;
  float rms_norm_eps = 1e-5f;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;  // rope_scaling (or transformers 5's rope_parameters): linear, llama3
  RopeLayout rope_layout = RopeLayout::HalfSplit;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // biases on the q, k and v projections (Qwen2)
  bool qk_norm = false;   // RMSNorm of each head of q and k before the rotation (Qwen3)
  std::int32_t bos_id = 1;
  std::vector<std::int32_t> eos_ids{2};
};

// Reads and checks a Hugging Face config.json of model_type llama or mistral
// (and the keys Qwen2 and Qwen3 share with them).
LlamaConfig llama_config_from_json(const Json& config, const std::string& path);
// The config.json a Hugging Face checkpoint of `c` has (model_type from
// c.family: llama, qwen2 or qwen3): what llama_config_from_json reads back as `c`.
Json llama_config_to_json(const LlamaConfig& c);
// Throws if the numbers cannot describe a model (heads not dividing, ...).
void validate_llama_config(const LlamaConfig& config, const std::string& source);

// What a Hugging Face checkpoint of a model read from another format holds
// (`octet quantize` and `octet prune` write one from a GGUF or llama2.c file):
struct HfForm {
  Json config;  // config.json
  // A weight of the loaded model in Hugging Face's row order: Meta's and
  // llama.cpp's q and k rows put rotary pairs side by side (the interleaved
  // layout), which this undoes, per-row scales included.
  std::function<Tensor(const std::string& name, const Tensor& weight)> to_hf_rows;
};
HfForm llama_as_hf(const LlamaConfig& c);

// Matmul weights are quantized as `options.quant` says while they load.
std::unique_ptr<Model> make_llama(const LlamaConfig& config, const WeightLookup& lookup, bool has_lm_head,
                                  std::string source, const LoadOptions& options);

// A model of config `c` from a Hugging Face directory's weights (quantized
// checkpoints included): the loading path every Llama-like family shares.
std::unique_ptr<Model> make_llama_hf(const LlamaConfig& c, const Json& config, const std::string& config_path,
                                     const WeightStore& weights, const LoadOptions& options);

// The Hugging Face loading path (registered for model_type llama and mistral).
std::unique_ptr<Model> load_llama_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                     const LoadOptions& options);

}  // namespace octet::models
