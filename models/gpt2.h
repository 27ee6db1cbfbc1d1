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
#include <vector>

namespace octet::models {

struct Gpt2Config {
  std::int64_t d = 0, n_layers = 0, n_heads = 0, ffn = 0, vocab = 0, positions = 0;
  float eps = 1e-5f;
  std::int32_t bos_id = -1;
  std::vector<std::int32_t> eos_ids;
  bool tie_word_embeddings = true;  // the head is the token embedding (else lm_head.weight)
};

// Throws if the numbers cannot describe a model (heads not dividing, sizes out of range).
void validate_gpt2_config(const Gpt2Config& c, const std::string& source);

// A GPT-2 whose weights `lookup` gives by Hugging Face name (without the
// "transformer." prefix), every matrix as [out, in] (the Linear layout:
// Hugging Face's Conv1D stores [in, out] and its lookup transposes):
// h.L.attn.c_attn.weight is [3 d, d], q, k and v rows in that order.
// Matmul weights are quantized as `options.quant` says while they load.
std::unique_ptr<Model> make_gpt2(const Gpt2Config& c, const WeightLookup& lookup, std::string source,
                                 const LoadOptions& options);

// The Hugging Face loading path (registered for model_type gpt2).
std::unique_ptr<Model> load_gpt2_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                    const LoadOptions& options);

}  // namespace octet::models
