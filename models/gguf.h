// GGUF files (llama.cpp's format): the architecture, hyperparameters and
// tokenizer come from the file's metadata, the tensors are dequantized to
// float32 as they load and then quantized to the chosen scheme like any
// other checkpoint's. Architectures: llama (and the models converted as
// llama: SmolLM, TinyLlama, Mistral, ...), qwen2, qwen3 and gpt2.
#pragma once

#include "engine/core/model.h"
#include "engine/io/model_registry.h"

#include <functional>
#include <memory>
#include <string>

namespace octet::models {

std::unique_ptr<Model> load_gguf(const std::string& path, const LoadOptions& options);

// What a Hugging Face checkpoint of the model in the GGUF file `path` holds
// (`octet quantize` and `octet prune` write one from a GGUF file):
struct GgufAsHf {
  Json config;  // config.json
  // A weight of the model load_gguf made, in Hugging Face's row order:
  // llama.cpp's converter permutes Llama's q and k rows (rotary pairs
  // adjacent), which this undoes, scales (per row) included.
  std::function<Tensor(const std::string& name, const Tensor& weight)> to_hf_rows;
};
GgufAsHf gguf_as_hf(const std::string& path);

}  // namespace octet::models
