// Room engine/quant: quantization math and calibration. Includes engine/core only.
//
// Quantization math, once: symmetric 8-bit with one scale per row (per output
// channel for weights, per token for activations), round to nearest even.
// int8: scale = absmax / 127, clamp to [-127, 127] so that negation never
// overflows and |q| * |q'| pairs stay within int16 in SIMD dot products.
// fp8: E4M3 values, scale = absmax / 448 (E4M3's largest finite value) for
// activations; weights take absmax / 448 * f, f in [1, 2) chosen per row for
// the least squared error (quantize_weight).
#pragma once

#include "engine/core/tensor.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

// How a weight runs. Scheme names are the ones on the command line.
enum class QuantScheme {
  F32,   // float weights, float activations
  W8,    // int8 weights (per output channel), float activations
  Int8,  // int8 weights (per output channel), int8 activations (dynamic, per token)
  Fp8,   // E4M3 weights (per output channel), E4M3 activations (dynamic, per token)
};
std::string_view quant_scheme_name(QuantScheme scheme);
std::optional<QuantScheme> quant_scheme_from_name(std::string_view name);

// Which scheme each matmul weight gets: one scheme, with exceptions kept in
// float (`--keep-float lm_head,layers.0.`): a weight whose name contains any
// of the listed substrings stays f32. A model split by --gpu-layers N can
// run another scheme on the CPU (`--cpu-quant`): the weights of blocks N and
// later, and those outside the blocks (the head, which runs with the last
// block), get `rest_scheme`.
struct QuantRecipe {
  QuantScheme scheme = QuantScheme::F32;
  std::vector<std::string> keep_float;
  int rest_from = -1;  // the first block of `rest_scheme`; -1: `scheme` everywhere
  QuantScheme rest_scheme = QuantScheme::F32;
  QuantScheme scheme_for(std::string_view weight_name) const;
  // An embedding table's: the lookup runs with block 0 (engine/core/placement.h),
  // so a split recipe gives the table `scheme`; keep_float applies as above.
  QuantScheme table_scheme_for(std::string_view table_name) const;
};
// The scheme's name, or for a split recipe "fp8, int8 from block 11".
std::string recipe_name(const QuantRecipe& recipe);
// The transformer block a Hugging Face weight name belongs to: N of
// "layers.N." (Llama) or "layer.N." (the BERT family); -1 for other weights.
int block_of_weight(std::string_view weight_name);

// Scales that travel with a quantized tensor (see Tensor::quant()).
struct QuantParams {
  QuantScheme scheme;
  Tensor scale;  // f32 [rows]: row r of the tensor is q[r, :] * scale[r]
  // int8 only: a static per-tensor scale for the activations this weight
  // multiplies, from calibration (engine/quant/calibration.h); 0 = dynamic per token.
  float input_scale = 0.0f;
  // int8 only: the bytes are the CPU backend's compressed 2:4 rows
  // (kernels/cpu/gemm_int8_sparse24.h), [rows, packed bytes per row], not
  // [rows, cols] values. Only that backend's prepare_weight makes such a tensor.
  bool packed_two_four = false;
  // int8 only: the bytes are oneDNN's packed copy in the panels layout the
  // CPU backend reads for every M (kernels/cpu/matmul_int8_dnnl.h), [rows,
  // cols] by shape only, with padding after; made by pack_matmul_weights
  // (kernels/cpu/cpu_backend.h) so that a model holds one copy of each weight.
  bool packed_panels = false;
};

// Quantizes one row; returns its scale (absmax / 127; 0 for an all-zero row).
float quantize_row_int8(const float* x, std::int64_t n, std::int8_t* q);
// Quantizes one row with a fixed scale (static activations): round(x / scale),
// clamped to [-127, 127]; values beyond the calibrated range saturate.
void quantize_row_int8_static(const float* x, std::int64_t n, float scale, std::int8_t* q);
// E4M3 bits of x[i] * (448 / absmax), in float32 arithmetic exactly as the CUDA
// kernel does it; returns the scale absmax / 448 (0 for an all-zero row).
float quantize_row_fp8(const float* x, std::int64_t n, std::uint8_t* q);
// The dtype a scheme stores its weights in (F32 for F32).
DType weight_dtype(QuantScheme scheme);
// Per-row quantization of a [rows, cols] float tensor, in float64 arithmetic so
// the result does not depend on the compiler: for weights, at load time. FP8
// rows search their scale: see fp8_scale_factor in quant.cpp.
// The result is an I8 (F8E4M3 for fp8) tensor carrying QuantParams{scheme, scales}. A tensor
// that is already quantized (read from a quantized checkpoint) is returned as is.
Tensor quantize_weight(const Tensor& weight_f32, QuantScheme scheme);
// A token embedding table as the lookup reads it. Under the int8 schemes
// (int8, w8) its rows are int8 with a scale each, as a weight's rows are: a
// quarter of the float bytes, and a looked-up row is q * scale in float, what
// dequantize() gives. The table is tagged w8 (read as floats, never multiplied
// in int8), so nothing packs it for a product. A table read quantized from a
// checkpoint keeps its values; under the other schemes the table is float.
Tensor quantize_embedding(const Tensor& table, QuantScheme scheme);
// `quantized` (int8) with a static activation scale attached.
Tensor with_input_scale(const Tensor& quantized, float input_scale);
// The float tensor a quantized one stands for (q * scale).
Tensor dequantize(const Tensor& quantized);
// Bytes a tensor occupies in memory: its values, plus its scales if quantized.
std::size_t stored_bytes(const Tensor& tensor);
// Parameters and bytes of every weight of a model, as loaded.
struct ModelSize {
  std::int64_t parameters = 0;
  std::size_t bytes = 0;
};
ModelSize model_size(const std::vector<std::pair<std::string, Tensor>>& weights);

}  // namespace octet
