// Int8 weights with 2:4 sparsity (in every group of 4 consecutive weights of a
// row at most 2 are nonzero), stored compressed for the memory-bound decode
// product. Each row's k columns are ceil(k / 64) chunks of 64 columns (16
// groups), zero-padded; a chunk is
//
//   mask    8 bytes, a little-endian uint64: bit c set where column c of the
//           chunk is kept; exactly 2 bits in each group's 4 (a group with
//           fewer nonzeros keeps zeros to make 2; padding groups keep columns
//           0 and 1)
//   values  32 bytes: the 32 kept weights in column order
//
// 5/8 of the dense bytes. The rows go in quads (4 rows; the last quad padded
// with zero rows), and a quad is one stream of 160-byte steps, one per chunk:
// the 4 rows' masks (4 x 8 bytes), then their values (4 x 32 bytes). After the
// last quad: an int32 per row (padding rows included), 128 * the sum of its
// weights. With AVX-512 VBMI2 and VNNI the product expands each chunk's 32
// values to their 64 columns with one vpexpandb under the mask, and one load
// of 64 activations serves the quad's 4 rows (vpdpbusd); with AVX2 it gathers,
// for each activation row, the 32 activations facing a chunk's values (byte
// shuffles whose control it derives from the mask) and runs the exact int8 dot
// product of gemm_int8.h on 32 lanes.
#pragma once

#include "kernels/cpu/int8_product.h"

#include <cstdint>
#include <span>

namespace octet::cpu {

// Int32 sums of 255 * 127 * k / 2 (the offset activations times the kept
// weights) stay exact up to this k.
constexpr std::int64_t kSparse24MaxK = 131072;

// A row's share of the packed bytes: its chunks, 5/8 of k (k padded to 64).
std::int64_t sparse24_row_bytes(std::int64_t k);

// Bytes of a packed [n, k] weight: its quads and the rows' offsets.
std::int64_t sparse24_packed_bytes(std::int64_t n, std::int64_t k);

// Packs w [n, k] (k a multiple of 4, at most kSparse24MaxK) into `packed`
// (sparse24_packed_bytes(n, k) bytes). False, with `packed` partly written,
// where k is not such, or some group of 4 holds more than 2 nonzeros.
bool pack_sparse24(const std::int8_t* w, std::int64_t n, std::int64_t k, std::uint8_t* packed);

// Which code runs: the best this build has (AVX-512 VBMI2 + VNNI where the
// build's CPU has them: vpexpandb and vpdpbusd on 64 columns a turn, else
// AVX2), or the AVX2 one, so that tests check both where both exist.
enum class Sparse24Kernel { Best, Avx2 };
bool sparse24_has_avx512();

// Dense rows [n0, n0 + rows) of a packed weight into `dense` [rows, k]
// (prefill expands tiles and runs the dense kernel on them).
void unpack_sparse24(const std::uint8_t* packed, std::int64_t k, std::int64_t n0, std::int64_t rows, std::int8_t* dense,
                     Sparse24Kernel kernel = Sparse24Kernel::Best);

// acc[m, n] = sum_k x[m, k] * w[n, k], exactly, in int32; w packed. |x| <= 127.
void gemm_s8s8_s32_sparse24(const std::int8_t* x, const std::uint8_t* w, std::int32_t* acc, std::int64_t m,
                            std::int64_t k, std::int64_t n, Sparse24Kernel kernel = Sparse24Kernel::Best);

// y[m, n] = x_scale[m] * w_scale[n] * sum_k x[m, k] * w[n, k] (+ bias[n]), w
// packed: gemm_s8s8_f32 of the dense weight, for small m (decode), where
// reading the weights is the cost. `bias` may be null.
void gemm_s8s8_f32_sparse24(const std::int8_t* x, const float* x_scale, const std::uint8_t* w, const float* w_scale,
                            float* y, std::int64_t m, std::int64_t k, std::int64_t n, const float* bias = nullptr);

// Products of the same x with several packed weights (each product's w) of
// the same k in one parallel loop over all their quads (int8_product.h), at
// most kMaxInt8Products. Each y is what the single product writes.
void gemm_s8s8_f32_sparse24(const std::int8_t* x, const float* x_scale, std::span<const Int8Product> products,
                            std::int64_t m, std::int64_t k);

}  // namespace octet::cpu
