// The original llama2.c checkpoint format (karpathy/llama2.c "legacy" export):
// a header of 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len; negative vocab_size = separate classifier), then float32
// weights, stacked per kind across layers, in Meta's interleaved rotary layout.
#pragma once

#include "engine/core/model.h"
#include "engine/io/model_registry.h"
#include "models/llama.h"

#include <memory>
#include <string>

namespace octet::models {

std::unique_ptr<Model> load_llama2c(const std::string& path, const LoadOptions& options);

// The Hugging Face checkpoint of the llama2.c file `path` (q and k rows put
// back in Hugging Face's order): what `octet quantize` and `octet prune` write.
HfForm llama2c_as_hf(const std::string& path);

}  // namespace octet::models
