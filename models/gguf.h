// GGUF files (llama.cpp's format): the architecture, hyperparameters and
// tokenizer come from the file's metadata, the tensors are dequantized to
// float32 as they load and then quantized to the chosen scheme like any
// other checkpoint's. Architectures: llama (and the models converted as
// llama: SmolLM, TinyLlama, Mistral, ...).
#pragma once

#include "engine/core/model.h"
#include "engine/io/model_registry.h"

#include <memory>
#include <string>

namespace octet::models {

std::unique_ptr<Model> load_gguf(const std::string& path, const LoadOptions& options);

}  // namespace octet::models
