// Attention scores q . k in int8 on AVX-512 VNNI, or on AVX-VNNI in 256 bits
// (an int8 model's prefill):
// each key and each query row quantized per head as quantize_row_int8 does
// (absmax / 127), the dot products summed exactly in int32 by vpdpbusd, 64
// multiply-adds an instruction where an f32 FMA does 16. With head_dim 64
// the float product q . k^T was half of a causal prefill's attention (a
// reduction of 64 per score written runs below the FMA peak); the int8
// kernel takes about a third of its time (110M shape, one layer on one
// Emerald Rapids thread: ~0.7 against ~2.3 ms), and the whole attention,
// quantizing included, 18% less on 2 threads. The softmax stays float; the
// product with v runs in int16 (values_int16.h: weights in [0, 1] lose too
// much as 8 bits).
#pragma once

#include <cstddef>
#include <cstdint>

namespace octet::cpu {

// Whether this build has the int8 kernel (compiled for AVX-512 VNNI, or in
// 256 bits for AVX-VNNI: Intel's client CPUs from Alder Lake); the functions
// below may be called only where it has. (With AVX2 alone vpmaddubsw does no
// more multiply-adds an instruction than an FMA: the float product runs.)
bool int8_scores_built();

// One head's keys, quantized and packed for the kernel, with room for the
// quantized rows of one block of queries (at most kMaxAttendBlockRows).
struct Int8Keys {
  const std::int8_t* packed = nullptr;  // groups of 16 keys: [head_dim / 4][16 keys][4 dims]
  const float* scale = nullptr;         // per key
  // 128 * each key's sum of int8 values: the queries enter the product as
  // unsigned bytes (value + 128), and this takes the 128s off.
  const std::int32_t* offset = nullptr;
  int n_keys = 0;
  int head_dim = 0;
  std::uint8_t* query_rows = nullptr;  // scratch for score_rows_int8
  float* query_scale = nullptr;
};

// Bytes of scratch for quantize_keys of up to `max_keys` keys of head_dim.
std::size_t int8_keys_bytes(int max_keys, int head_dim);

// Quantizes keys k[j * stride + d] (j < n_keys, d < head_dim) into `scratch`
// (int8_keys_bytes(n_keys or more, head_dim) bytes), each less the keys'
// mean (float sums over j in order, divided by n_keys): a query's scores all
// lose its product with the mean, which the softmax does not see.
Int8Keys quantize_keys(const float* k, std::int64_t stride, int n_keys, int head_dim, std::byte* scratch);

// scores[r * width + j] = scale * q8_r . k8_j * (q_r's scale) * (k_j's scale)
// for r < n_rows (q rows q_stride floats apart, quantized here), j < width
// <= keys.n_keys: the float product's scores less scale * q_r . mean, up to
// the two quantizations. `causal`: row r needs only its first width - (n_rows - 1 - r) scores (a
// causal block's rows), and those past them may be left as they were.
void score_rows_int8(const float* q, std::int64_t q_stride, int n_rows, const Int8Keys& keys, int width, bool causal,
                     float scale, float* scores);

}  // namespace octet::cpu
