// Qwen2 (Qwen2ForCausalLM: biases on q, k and v) and Qwen3 (Qwen3ForCausalLM:
// RMSNorm of each head of q and k before the rotation): Llama blocks with
// those two differences, built by make_llama.
#pragma once

#include "engine/core/model.h"
#include "engine/io/json_file.h"
#include "engine/io/model_registry.h"
#include "engine/io/safetensors.h"

#include <memory>
#include <string>

namespace octet::models {

std::unique_ptr<Model> load_qwen2_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                     const LoadOptions& options);
std::unique_ptr<Model> load_qwen3_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                     const LoadOptions& options);

}  // namespace octet::models
