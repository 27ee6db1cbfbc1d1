// Quantized checkpoints in the compressed-tensors layout (the format
// llm-compressor writes and vLLM reads): int8 `*.weight` tensors beside
// float `*.weight_scale` tensors of shape [out, 1], and a
// `quantization_config` in config.json:
//   {"quant_method": "compressed-tensors", "format": "int-quantized",
//    "config_groups": {"group_0": {"targets": ["Linear"],
//        "weights": {"num_bits": 8, "type": "int", "symmetric": true, "strategy": "channel"},
//        "input_activations": {... "strategy": "token", "dynamic": true} or null}},
//    "ignore": [...]}
// FP8 checkpoints are the same with format "float-quantized", `"type": "float"`
// and F8_E4M3 weights. An int8 checkpoint's token embedding table is int8
// too, with its scales (engine/quant/quant.h, quantize_embedding), in a second
// group: {"targets": ["Embedding"], "weights": {int8 channel},
// "input_activations": null}; `--keep-float embed_tokens` (word_embeddings for
// BERT) writes it float, for runtimes that read quantized Linear layers only. octet reads the 8-bit
// channel-symmetric subset of it; anything else gets an error that names what
// is not supported.
#pragma once

#include "engine/core/model.h"
#include "engine/io/json_file.h"
#include "engine/io/safetensors.h"
#include "engine/quant/pruning.h"
#include "engine/quant/quant.h"

#include <functional>
#include <optional>
#include <string>

namespace octet {

// What a config.json's quantization_config describes: the scheme, and for
// int8 whether activations use calibrated static per-tensor scales
// (`"strategy": "tensor", "dynamic": false`, with `*.input_scale` tensors).
struct CheckpointQuant {
  QuantScheme scheme;
  bool static_activations = false;
};
// nullopt when config.json has no quantization_config.
std::optional<CheckpointQuant> checkpoint_scheme(const Json& config, const std::string& config_path);

// `tensor` as read from the checkpoint, with its `*.weight_scale` (and
// `*.input_scale`, for static activations) attached if it is 8-bit.
Tensor with_checkpoint_scales(const WeightStore& weights, const std::string& name, const Tensor& tensor,
                              const CheckpointQuant& quant);

// Writes `model`'s weights (8-bit ones with their scales) to
// out_dir/model.safetensors and out_dir/config.json: `hf_config` plus, unless
// `recipe` is f32, the quantization_config for it. Where `hf_config` holds a
// sparsity_config of format sparse-24-bitmask, the weights it targets are
// stored so (engine/io/sparse24_bitmask.h).
// `to_stored` (if given) maps each weight to the tensor written for it (a
// GGUF model's rows put back in Hugging Face's order).
using StoredWeight = std::function<Tensor(const std::string& name, const Tensor& weight)>;
void write_checkpoint(const Model& model, Json hf_config, const QuantRecipe& recipe, const std::string& out_dir,
                      const StoredWeight& to_stored = {});

// Sparsity, in compressed-tensors' sparsity_config:
//   {"format": "dense" or "sparse-24-bitmask", "sparsity_structure": "2:4" or "unstructured",
//    "global_sparsity": 0.5, "targets": ["Linear"], "ignore": ["lm_head"]}
// The "dense" format stores the zeros as zeros, in the weights' own dtype;
// "sparse-24-bitmask" (2:4 only) stores the kept half and a bitmask, 5/8 of
// an 8-bit weight's bytes. octet writes and reads both, beside any
// quantization_config: 2:4 as sparse-24-bitmask, unstructured as dense.
struct CheckpointSparsity {
  SparsityPattern pattern = SparsityPattern::Dense;
  bool compressed = false;     // sparse-24-bitmask
  double global_sparsity = 0;  // the share of zeros among the targeted weights
  std::vector<std::string> ignore;
};
// nullopt when config.json has no sparsity_config; throws naming what octet does not read.
std::optional<CheckpointSparsity> checkpoint_sparsity(const Json& config, const std::string& config_path);
Json sparsity_config_json(const PruneRecipe& recipe, double global_sparsity);

// The weights a sparsity_config with `ignore` targets: the 2-d weights the
// model's matmuls read (its Linear layers) whose name (for a head tied to the
// embedding table, "lm_head.weight") contains no part of `ignore`.
std::vector<std::string> sparse_weight_names(const Model& model, const std::vector<std::string>& ignore);
// The share of zeros among the matmul weights outside `ignore`, and whether
// each of them holds 2:4 (at least 2 zeros in every group of 4 of a row).
struct MeasuredSparsity {
  double zero_fraction = 0;
  std::int64_t weights = 0;     // values counted
  std::string breaks_two_four;  // the first weight that does not hold 2:4, "" when all do
};
MeasuredSparsity measure_sparsity(const Model& model, const std::vector<std::string>& ignore);
// Throws octet::Error naming `config_path` and the weight when the model's
// weights do not hold what its sparsity_config says.
void require_checkpoint_sparsity(const Model& model, const CheckpointSparsity& sparsity,
                                 const std::string& config_path);

}  // namespace octet
