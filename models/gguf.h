// GGUF files (llama.cpp's format): the architecture, hyperparameters and
// tokenizer come from the file's metadata, the tensors are dequantized to
// float32 as they load and then quantized to the chosen scheme like any
// other checkpoint's. Architectures: llama (and the models converted as
// llama: SmolLM, TinyLlama, Mistral, ...), qwen2, qwen3 and gpt2.
#pragma once

#include "engine/core/model.h"
#include "engine/io/model_registry.h"
#include "models/llama.h"

#include <functional>
#include <memory>
#include <string>

namespace octet::models {

std::unique_ptr<Model> load_gguf(const std::string& path, const LoadOptions& options);

// The Hugging Face checkpoint of the model in the GGUF file `path` (llama, qwen2, qwen3).
HfForm gguf_as_hf(const std::string& path);

}  // namespace octet::models
