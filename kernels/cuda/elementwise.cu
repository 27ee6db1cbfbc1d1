// Elementwise kernels: the embedding gather, SwiGLU's silu(gate) * up, the residual add,
// activations and a matmul's bias, and the conversions around the cuBLASLt GEMMs.
#include "kernels/cuda/elementwise.h"

#include "kernels/cuda/cuda_common.cuh"

#include <cuda_bf16.h>

namespace octet::cuda {

namespace {

__global__ void embedding_kernel(const float* table, std::int64_t dim, const std::int32_t* ids, float* out) {
  const float* row = table + static_cast<std::int64_t>(ids[blockIdx.x]) * dim;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[blockIdx.x * dim + i] = row[i];
}

__global__ void silu_mul_kernel(const float* gate, const float* up, std::int64_t n, float* out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    out[i] = __fmul_rn(__fdiv_rn(g, 1.0f + expf(-g)), up[i]);
  }
}

__global__ void add_kernel(const float* a, const float* b, std::int64_t n, float* out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

__global__ void activation_kernel(Activation f, const float* x, std::int64_t n, float* out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    switch (f) {
      case Activation::Gelu:  // the exact form, x * Phi(x)
        out[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        break;
      case Activation::GeluTanh:
        out[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        break;
      case Activation::Tanh:
        out[i] = tanhf(v);
        break;
      case Activation::Relu:
        out[i] = fmaxf(v, 0.0f);
        break;
    }
  }
}

__global__ void add_bias_kernel(float* y, const float* bias, int n) {
  float* row = y + static_cast<std::int64_t>(blockIdx.y) * n;
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < n; c += gridDim.x * blockDim.x) row[c] += bias[c];
}

__global__ void convert_rows_bf16_kernel(const float* x, int k, int k_padded, std::uint16_t* out) {
  const float* xr = x + static_cast<std::int64_t>(blockIdx.x) * k;
  std::uint16_t* yr = out + static_cast<std::int64_t>(blockIdx.x) * k_padded;
  for (int i = threadIdx.x; i < k_padded; i += blockDim.x) {
    yr[i] = i < k ? __bfloat16_as_ushort(__float2bfloat16_rn(xr[i])) : 0;
  }
}

__global__ void scale_product_kernel(const float* acc, int n_cols, int n_padded, const float* row_scale,
                                     const float* col_scale, float* y) {
  const int r = blockIdx.y;
  const float rs = row_scale != nullptr ? row_scale[r] : 1.0f;
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < n_cols; c += gridDim.x * blockDim.x) {
    const float cs = col_scale != nullptr ? col_scale[c] : 1.0f;
    y[static_cast<std::int64_t>(r) * n_cols + c] = acc[static_cast<std::int64_t>(r) * n_padded + c] * (rs * cs);
  }
}

}  // namespace

void embedding(const float* table, std::int64_t dim, const std::int32_t* ids, int n, float* out, cudaStream_t stream) {
  embedding_kernel<<<n, kThreads, 0, stream>>>(table, dim, ids, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void silu_mul(const float* gate, const float* up, std::int64_t n, float* out, cudaStream_t stream) {
  silu_mul_kernel<<<blocks_for(n), kThreads, 0, stream>>>(gate, up, n, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void add(const float* a, const float* b, std::int64_t n, float* out, cudaStream_t stream) {
  add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, n, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void activation(Activation f, const float* x, std::int64_t n, float* out, cudaStream_t stream) {
  activation_kernel<<<blocks_for(n), kThreads, 0, stream>>>(f, x, n, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void add_bias(float* y, const float* bias, int rows, int n, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(std::min((n + kThreads - 1) / kThreads, 1024)), static_cast<unsigned>(rows));
  add_bias_kernel<<<grid, kThreads, 0, stream>>>(y, bias, n);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void convert_rows_bf16(const float* x, int rows, int k, int k_padded, std::uint16_t* out, cudaStream_t stream) {
  convert_rows_bf16_kernel<<<rows, kThreads, 0, stream>>>(x, k, k_padded, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void scale_product(const float* acc, int rows, int n_cols, int n_padded, const float* row_scale, const float* col_scale,
                   float* y, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(std::min((n_cols + kThreads - 1) / kThreads, 1024)),
                  static_cast<unsigned>(rows));
  scale_product_kernel<<<grid, kThreads, 0, stream>>>(acc, n_cols, n_padded, row_scale, col_scale, y);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

}  // namespace octet::cuda
