// GPT-2 (GPT2LMHeadModel): learned position embeddings, pre-LayerNorm blocks,
// Conv1D weights stored [in, out] (transposed at load), the fused c_attn
// split into q, k and v, gelu_new (GELU's tanh form), the head tied to the
// token embedding.
#pragma once

#include "engine/core/model.h"
#include "engine/io/json_file.h"
#include "engine/io/model_registry.h"
#include "engine/io/safetensors.h"

#include <memory>
#include <string>

namespace octet::models {

std::unique_ptr<Model> load_gpt2_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                    const LoadOptions& options);

}  // namespace octet::models
