// Elementwise kernels: the embedding gather, SwiGLU's silu(gate) * up, the residual add,
// activations and a matmul's bias, and the conversions around the cuBLASLt GEMMs.
// Launch functions on device pointers, each enqueued on `stream`: plain C++
// (no CUDA syntax), so that the backend, compiled as C++20, can call them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace octet::cuda {

// out[t] = table[ids[t]]. Ids are checked on the host before they are uploaded.
void embedding(const float* table, std::int64_t dim, const std::int32_t* ids, int n, float* out, cudaStream_t stream);

void silu_mul(const float* gate, const float* up, std::int64_t n, float* out, cudaStream_t stream);
void add(const float* a, const float* b, std::int64_t n, float* out, cudaStream_t stream);

// Elementwise activations: GELU in its exact erf form and its tanh form (GPT-2's gelu_new), tanh, ReLU.
enum class Activation { Gelu, GeluTanh, Tanh, Relu };
void activation(Activation f, const float* x, std::int64_t n, float* out, cudaStream_t stream);
// y[r, c] += bias[c] for `rows` rows of n: a matmul's bias, after the product.
void add_bias(float* y, const float* bias, int rows, int n, cudaStream_t stream);

// x converted to bf16 rows of k_padded (zero-padded) for the bf16 GEMM: float
// weights once at upload, activations every step.
void convert_rows_bf16(const float* x, int rows, int k, int k_padded, std::uint16_t* out, cudaStream_t stream);

// y[m, n] = acc[m, n] * (row_scale[m] * col_scale[n]) for the first n_cols of
// acc's n_padded columns; a null scale pointer means no scale.
void scale_product(const float* acc, int rows, int n_cols, int n_padded, const float* row_scale, const float* col_scale,
                   float* y, cudaStream_t stream);

}  // namespace octet::cuda
