// The encoder's pooling: the mean of a sequence's rows, and L2 normalization.
// Lengths are device i32 per sequence, each clamped to 1..seq_len
// (EncoderSession makes them; a kernel cannot report a bad one).
// Launch functions on device pointers, each enqueued on `stream`: plain C++
// (no CUDA syntax), so that the backend, compiled as C++20, can call them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace octet::cuda {

// out[b] = the mean of sequence b's first lengths[b] rows (of seq_len), summed in double.
void mean_rows(const float* x, const std::int32_t* lengths, int batch, int seq_len, int dim, float* out,
               cudaStream_t stream);
// Each row divided by its Euclidean norm (at least 1e-12).
void l2_normalize(const float* x, int rows, int dim, float* out, cudaStream_t stream);

}  // namespace octet::cuda
