// Attention's second product, weights . v, in 16-bit integers on AVX-512
// VNNI, or on AVX-VNNI in 256 bits (an int8 model's prefill, with its int8
// scores: scores_int8.h). The
// weights in [0, 1] lose too much as 8 bits: one key holding most of a row's
// weight leaves a tail of hundreds of keys each under half of an 8-bit step,
// all rounded to 0. As 15 bits they keep it (a tail key at 1/600 of the
// largest is 55 steps), and vpdpwssd still does 32 multiply-adds of 16-bit
// pairs an instruction where an f32 FMA does 16 (this CPU's: 4.2 G
// instructions a second against 5.4 for the FMA, one Emerald Rapids core).
//
// Each key's values are quantized to +-511 with a scale per key (absmax /
// 511), and that scale moves into the key's weight: weight_j * v_j = (weight_j
// * scale_j) * v8_j. Each row's scaled weights are rounded to 0..32767
// against that row's largest (bounded from above without a pass for it: the
// largest score plus log2 of the scale), so the row's weights use all 15 bits
// whatever its values' scales. Sums over 128 keys stay below 2^31 (128 *
// 32767 * 511 < 2^31), so the kernel adds them into floats every 128 keys.
#pragma once

#include <cstddef>
#include <cstdint>

namespace octet::cpu {

// Whether the int16 kernel runs for this head_dim (64 or 128, the head size
// of every decoder and encoder this project loads) in this build (AVX-512
// VNNI, or AVX-VNNI in 256 bits, as int8_scores_built); where not, the
// product stays float.
bool int16_values_fit(int head_dim);

// One head's values, quantized and packed for the kernel.
struct Int16Values {
  const std::int16_t* packed = nullptr;  // pairs of keys: [n_keys / 2 rounded up][head_dim][2]
  const float* scale = nullptr;          // per key (zero past n_keys, to a whole pair): absmax / 511
  const float* log2_scale = nullptr;     // per key: log2(scale) or at most 0.011 above it (-inf for 0)
  int n_keys = 0;
  int head_dim = 0;
};

// A row's weights as weights_int16 leaves them: the sum of its e_j (the
// softmax's denominator) and what one unit of its int16 weights is worth in
// e_j * scale_j.
struct RowWeights {
  float sum = 0.0f;
  float unit = 0.0f;
};

// Bytes of scratch for quantize_values of up to `max_keys` keys of head_dim.
std::size_t int16_values_bytes(int max_keys, int head_dim);

// Quantizes values v[j * stride + d] (j < n_keys, d < head_dim, where
// int16_values_fit(head_dim)) into `scratch` (int16_values_bytes(n_keys or
// more, head_dim) bytes).
Int16Values quantize_values(const float* v, std::int64_t stride, int n_keys, int head_dim, std::byte* scratch);

// A row of scores (`width` floats): e_j = e^(s_j - max) for its first n
// keys, as exp_row computes them; writes, over the start of the row, the
// int16 weights round(e_j * scale_j / unit) <= 32767 for j < width rounded
// up to a pair (zero from n on).
RowWeights weights_int16(float* row, int n, int width, const Int16Values& values);

// out[r * out_stride + d] = row_scale[r] * sum_j w_rj * v8_jd for r <
// n_rows, d < head_dim, j < width <= values.n_keys: w the rows weights_int16
// wrote (`width` floats apart); row_scale[r] = unit_r / sum_r gives the
// softmax's weights . v. `causal`: row r's weights past its first width -
// (n_rows - 1 - r) are zero (a causal block's rows), so the kernel may skip them.
void weighted_values_int16(const float* weight_rows, int n_rows, int width, bool causal, const Int16Values& values,
                           const float* row_scale, float* out, std::int64_t out_stride);

}  // namespace octet::cpu
