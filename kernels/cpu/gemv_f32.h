// Float products of a few rows (decode) against float weights stored [N, K]:
// the weights streamed once, at the machine's read bandwidth, each thread
// down its own contiguous rows, prefetching ahead. oneDNN's sgemm read them at
// ~76% of it at M = 1 (1.1B shape, Sapphire Rapids host, 2 threads).
#pragma once

#include <cstdint>

namespace octet::cpu {

constexpr std::int64_t kGemvF32MaxRows = 4;  // the most rows of x it takes

// Whether this build has the product (AVX-512); MatmulF32 runs oneDNN otherwise.
bool gemv_f32_available();

// y[i, j] = sum_k x[i, k] * w[j, k] (+ bias[j]) for m <= kGemvF32MaxRows; row
// i of y starts at y + i * ldy. `bias` may be null. Only where
// gemv_f32_available().
void gemv_f32(const float* x, const float* w, float* y, std::int64_t m, std::int64_t k, std::int64_t n,
              std::int64_t ldy, const float* bias);

}  // namespace octet::cpu
