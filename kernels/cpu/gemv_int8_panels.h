// Small-M int8 products (decode) read straight from the packed weight oneDNN's
// AMX int8 kernels use, so that one packed copy serves every M and a decode
// step streams the weights at the machine's read bandwidth: oneDNN's own
// M = 1 brgemm read them at about half of it (17-21 of 37 GB/s on a Sapphire
// Rapids host, 2 threads).
//
// The layout ("panels"): the weight as a [K, N] matrix, zero-padded to
// multiples of 64 (Kp, Np), stored as Np / 64 panels of 64 output columns one
// after the other; a panel is Kp / 4 groups of 256 bytes, group g holding
// w[4g .. 4g + 3] of each of its 64 columns: [Kp / 4][64 columns][4]. (It is
// oneDNN's BA16a64b4a; MatmulInt8Dnnl checks that a packed copy has it.)
//
// The product: per group, each activation row's 4 bytes broadcast and one
// vpdpbusd per 16 columns (per 8 in 256 bits). vpdpbusd takes unsigned
// activations, so they are offset by 128 (x ^ 0x80) and 128 * sum(w) of each
// column (computed once, panel_offsets) is taken off: exact in int32 for K up
// to 65536. (Without VNNI the same int32 sums another way: int8_dot::Broadcast4.)
#pragma once

#include "kernels/cpu/int8_product.h"

#include <cstdint>
#include <span>

namespace octet::cpu {

constexpr std::int64_t kPanelColumns = 64;  // columns of a panel, and both dimensions' padding
constexpr std::int64_t kPanelMaxK = 65536;  // int32 sums of 255 * 127 * K stay exact below this

// Whether this build has the products over panels (otherwise nothing here
// runs): in 512 bits where it has AVX-512 VNNI, else in 256 where it has VNNI
// in 256 bits (AVX-VNNI: Intel's client CPUs from Alder Lake), else in 256
// with AVX2 alone (AMD Zen 1-3, Intel before Ice Lake: vpmaddubsw in place of
// vpdpbusd, int8_dot::Broadcast4). The same layout, sums and floats in all.
bool panels_built();
// Whether that product has VNNI (the 512-bit or the AVX-VNNI form): only
// then does it beat oneDNN's brgemm on a CPU that has one.
bool panels_have_vnni();
// Which: "avx512_vnni", "avx_vnni", "avx2", or "" (none).
const char* panels_form();

// 128 * sum over k of w[k, j] for every column j of a packed weight: Np values,
// the padding columns' zero. Only where panels_built().
void panel_offsets(const std::int8_t* packed, std::int64_t k, std::int64_t n, std::int32_t* offsets);

// y[m, n] = x_scale[m] * w_scale[n] * sum_k x[m, k] * w[k, n] (+ bias[n]) for a
// packed weight and its offsets; the floats gemm_s8s8_f32 gives for the same
// int32 sums. |x| <= 127, `bias` may be null, k <= kPanelMaxK. Only where
// panels_built().
void gemv_s8s8_f32_panels(const std::int8_t* x, const float* x_scale, const std::int8_t* packed,
                          const std::int32_t* offsets, const float* w_scale, float* y, std::int64_t m, std::int64_t k,
                          std::int64_t n, const float* bias = nullptr);

// Products of the same x with several packed weights (each product's w) of
// the same K in one parallel loop over all their panels (int8_product.h), at
// most kMaxInt8Products, each with its weight's offsets. Each y is what the
// single product writes.
struct PanelsProduct {
  Int8Product product;
  const std::int32_t* offsets;
};
void gemv_s8s8_f32_panels(const std::int8_t* x, const float* x_scale, std::span<const PanelsProduct> products,
                          std::int64_t m, std::int64_t k);

}  // namespace octet::cpu
