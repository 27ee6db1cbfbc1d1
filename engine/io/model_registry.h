// Room engine/io: readers of files from other tools (safetensors, JSON, compressed-tensors)
// and the model registry. Includes engine/core and engine/quant, never text/ or session/.
//
// Which code loads which checkpoint. Families register themselves in one
// explicit function (models/registry.cpp), never through static initialisers.
#pragma once

#include "engine/core/model.h"
#include "engine/io/json_file.h"
#include "engine/io/safetensors.h"
#include "engine/quant/pruning.h"
#include "engine/quant/quant.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace octet {

// How an encoder without a classification head turns a sequence into one vector.
enum class Pooling {
  Auto,    // what the checkpoint says (sentence-transformers' pooling module), else Pooler where it has one, else First
  First,   // the first token's ([CLS]) final hidden state
  Mean,    // the mean of the sequence's final hidden states, padding left out
  Pooler,  // BERT's pooler: dense + tanh over the first token
};
std::optional<Pooling> pooling_from_name(std::string_view name);  // auto, first, mean, pooler

// How to load: the quantization applied to matmul weights as they load;
// optional SmoothQuant factors by norm weight name (engine/quant/calibration.h):
// the norm's weight is divided by them and the columns of the matmuls it
// feeds multiplied, before quantization; optional static activation scales
// for int8 weights, by weight name (calibrated; 0 or absent = dynamic); the
// pooling of a bare encoder; and a decoder's KV cache: float (F32), or FP8
// (F8E4M3, one scale per token and key/value head: a quarter of the bytes).
struct LoadOptions {
  QuantRecipe quant;
  std::map<std::string, std::vector<float>> smoothing = {};
  std::map<std::string, float> input_scales = {};
  Pooling pooling = Pooling::Auto;
  DType kv_cache = DType::F32;
  // One-shot pruning of the matmul weights before they are quantized
  // (engine/quant/pruning.h); Wanda's activation norms by weight name.
  PruneRecipe prune = {};
  std::map<std::string, std::vector<float>> input_norms = {};
};

// What a model family does with each matmul weight before quantizing it: `w`
// pruned as options.prune says (a float32 copy), or `w` itself where the
// recipe leaves the weight `name` dense. Throws octet::Error naming `source`
// and the weight when it is stored quantized or Wanda has no norms for it.
Tensor prune_at_load(const std::string& name, const Tensor& w, const LoadOptions& options, const std::string& source);

// A weight by its Hugging Face name, its shape checked: what a family's
// model builder reads, whatever the file format.
using WeightLookup = std::function<Tensor(const std::string& name, const Shape& shape)>;

// Builds a model from a Hugging Face directory's config.json and weights.
using HfModelFactory = std::function<std::unique_ptr<Model>(const Json& config, const std::string& config_path,
                                                            const WeightStore& weights, const LoadOptions& options)>;
// Loads a single-file checkpoint in a non-Hugging Face format.
using FileModelLoader = std::function<std::unique_ptr<Model>(const std::string& path, const LoadOptions& options)>;

class ModelRegistry {
 public:
  void add_hf_model(std::string model_type, HfModelFactory factory);
  void add_file_format(std::string extension, FileModelLoader loader);  // e.g. ".bin"
  // Paths starting with `prefix` go to `loader` with the rest ("synthetic:" + "llama-110m").
  void add_prefix(std::string prefix, FileModelLoader loader);

  // A directory with config.json + safetensors, or a file whose extension is registered.
  std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options = {}) const;
  std::vector<std::string> model_types() const;

 private:
  std::unique_ptr<Model> load_any_format(const std::string& path, const LoadOptions& options) const;
  std::map<std::string, HfModelFactory> hf_models_;
  std::map<std::string, FileModelLoader> file_formats_;
  std::map<std::string, FileModelLoader> prefixes_;
};

}  // namespace octet
