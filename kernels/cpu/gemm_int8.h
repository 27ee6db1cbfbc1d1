// Integer matmuls with int8 weights stored [N, K] (per-output-channel scales).
// Own kernels: on CPUs without AVX-512 VNNI, oneDNN 2.6's int8 GEMM either
// saturates (u8 activations: vpmaddubsw overflows int16) or runs 5x slower than
// float (s8 activations), both measured on this project's AVX2 machine, and it
// has no int8 brgemm for AVX-VNNI alone (Intel's client CPUs from Alder Lake).
// Here both operands are clamped to [-127, 127]: with AVX2 the sign moves onto
// the weight, so every pair sum fits int16; with VNNI in 256 bits the products
// are summed in int32 directly. Either way the int32 result is exact.
#pragma once

#include <cstdint>

namespace octet::cpu {

// acc[m, n] = sum_k x[m, k] * w[n, k], exactly, in int32. |x|, |w| <= 127.
void gemm_s8s8_s32(const std::int8_t* x, const std::int8_t* w, std::int32_t* acc, std::int64_t m, std::int64_t k,
                   std::int64_t n);

// y[m, n] = x_scale[m] * w_scale[n] * sum_k x[m, k] * w[n, k] (+ bias[n]): the
// int8 x int8 product with its dequantization and bias fused into the same
// pass. `bias` may be null. Row i of y starts at y + i * ldy (0: n), so a
// product over a tile of weight rows can write its columns of a wider y.
void gemm_s8s8_f32(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale, float* y,
                   std::int64_t m, std::int64_t k, std::int64_t n, const float* bias = nullptr, std::int64_t ldy = 0);

// y[m, n] = w_scale[n] * sum_k x[m, k] * w[n, k]: float activations, int8
// weights converted in registers (the w8 scheme), for small m where reading
// the weights is the cost.
void gemm_f32s8_f32(const float* x, const std::int8_t* w, const float* w_scale, float* y, std::int64_t m,
                    std::int64_t k, std::int64_t n);

// The form of the kernels above this build runs, as `octet bench` names it:
// "octet:gemm_int8_avx_vnni" (VNNI in 256 bits), "octet:gemm_int8_avx2" or
// "octet:gemm_int8_scalar" (a build without AVX2).
const char* gemm_int8_kernel();

}  // namespace octet::cpu
