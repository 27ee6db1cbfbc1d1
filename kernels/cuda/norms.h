// Row norms: RMSNorm (decoders) and LayerNorm (encoders), sums in double as the CPU.
// Launch functions on device pointers, each enqueued on `stream`: plain C++
// (no CUDA syntax), so that the backend, compiled as C++20, can call them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace octet::cuda {

// out = x / sqrt(mean(x^2) + eps) * w, per row.
void rms_norm(const float* x, const float* w, int rows, int dim, float eps, float* out, cudaStream_t stream);

// out = (x - mean) / sqrt(var + eps) * w + b, per row; mean and variance in double, as the CPU.
void layer_norm(const float* x, const float* w, const float* b, int rows, int dim, float eps, float* out,
                cudaStream_t stream);

}  // namespace octet::cuda
