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
// and F8_E4M3 weights. octet reads the 8-bit channel-symmetric subset of it;
// anything else gets an error that names what is not supported.
#pragma once

#include "engine/core/model.h"
#include "engine/io/json_file.h"
#include "engine/io/safetensors.h"
#include "engine/quant/quant.h"

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

// Writes `model`'s weights (int8 ones with their scales) to out_dir/model.safetensors
// and out_dir/config.json: `hf_config` plus quantization_config for `recipe`.
void write_quantized_checkpoint(const Model& model, Json hf_config, const QuantRecipe& recipe,
                                const std::string& out_dir);

}  // namespace octet
