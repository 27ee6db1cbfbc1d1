// The original llama2.c checkpoint format (karpathy/llama2.c "legacy" export):
// a header of 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len; negative vocab_size = separate classifier), then float32
// weights, stacked per kind across layers, in Meta's interleaved rotary layout.
#pragma once

#include "engine/core/model.h"
#include "engine/io/model_registry.h"

#include <memory>
#include <string>

namespace octet::models {

std::unique_ptr<Model> load_llama2c(const std::string& path, const LoadOptions& options);

}  // namespace octet::models
