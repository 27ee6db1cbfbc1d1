// FP8 activation quantization, and the decode-sized FP8 GEMV on the tensor cores.
// Launch functions on device pointers, each enqueued on `stream`: plain C++
// (no CUDA syntax), so that the backend, compiled as C++20, can call them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace octet::cuda {

// Per-row E4M3 quantization: q[r, :k] = e4m3(x[r] * (448 / absmax_r)) with
// saturation, columns k..k_padded zero, scale[r] = absmax_r / 448 (the same
// float arithmetic as octet::quantize_row_fp8 on the CPU).
void quantize_rows_fp8(const float* x, int rows, int k, int k_padded, std::uint8_t* q, float* scale,
                       cudaStream_t stream);
// The decode-sized FP8 product with activation quantization and both scales
// fused: y[i, j] = xs[i] * w_scale[j] * sum_p e4m3(x[i, p] / xs[i]) * e4m3(w[j, p])
// for m float rows x of k, with xs and the codes exactly as quantize_rows_fp8
// makes them. Weight rows are k_padded bytes. For gemv_fp8_fits(m, k_padded):
// every block keeps the m code rows in shared memory. The MMA takes up to 16
// tokens, but every block quantizes all m rows itself, so its reads of x grow
// with m: above 8 rows cuBLASLt runs the product.
inline constexpr int kGemvMaxRows = 8;
inline constexpr int kGemvMaxSharedBytes = 40 * 1024;
bool gemv_fp8_fits(int m, int k_padded);
void gemv_fp8(const float* x, int k, const std::uint8_t* w, const float* w_scale, float* y, int m, int n, int k_padded,
              cudaStream_t stream);

}  // namespace octet::cuda
