// Which model to load and how to run it; what was loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace octet {

struct ModelOptions {
  // A Hugging Face model directory, a .gguf file or a llama2.c .bin file. Empty:
  // the model that ships with octet (tinystories-mini for a Generator, the
  // sst2-mini sentiment classifier for a Classifier), as on the command line.
  std::string model;
  // The tokenizer file, when it is not beside the model (llama2.c .bin files).
  std::string tokenizer;
  // Matmul weights quantized at load: "f32", "w8", "int8" or "fp8". A checkpoint
  // that is already quantized runs in its own scheme.
  std::string quant = "f32";
  // Parts of weight names kept in f32 (e.g. "lm_head").
  std::vector<std::string> keep_float;
  std::string backend = "cpu";  // "cpu" or "cuda" (GPU 0)
  int threads = 0;              // CPU threads; 0 = all cores

  // Decoders only.
  int context = 0;               // tokens per sequence; 0 = the model's maximum
  std::string kv_cache = "f32";  // "f32" or "fp8"
  int parallel = 1;              // sequences generated together (continuous batching)

  // Encoders without a classification head: how a text becomes one vector:
  // "auto", "first", "mean" or "pooler" (as `octet classify --pooling`).
  std::string pooling = "auto";
};

struct ModelSummary {
  std::string path;          // what was loaded
  std::string architecture;  // "LlamaForCausalLM", "BertForSequenceClassification", ...
  std::string quant;         // the scheme the matmuls run in: "f32", "w8", "int8" or "fp8"
  std::int64_t vocab_size = 0;
  std::int64_t context_length = 0;
  std::vector<std::string> labels;  // encoders with a head: the classes, in output order
};

}  // namespace octet
