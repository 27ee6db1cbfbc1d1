// The encoder's pooling: the mean of a sequence's rows, and L2 normalization.
// Lengths are device i32 per sequence, each clamped to 1..seq_len
// (EncoderSession makes them; a kernel cannot report a bad one).
#include "kernels/cuda/pooling.h"

#include "kernels/cuda/cuda_common.cuh"

namespace octet::cuda {

namespace {

// One block per sequence, threads across the columns; sums in double.
__global__ void mean_rows_kernel(const float* x, const std::int32_t* lengths, int seq_len, int dim, float* out) {
  const int b = blockIdx.x, n = min(max(lengths[b], 1), seq_len);
  const float* xs = x + static_cast<std::int64_t>(b) * seq_len * dim;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    double sum = 0.0;
    for (int r = 0; r < n; ++r) sum += xs[static_cast<std::int64_t>(r) * dim + c];
    out[static_cast<std::int64_t>(b) * dim + c] = static_cast<float>(sum / n);
  }
}

// One block per row; a zero row stays zero, as torch.nn.functional.normalize.
__global__ void l2_normalize_kernel(const float* x, int dim, float* out) {
  const float* xr = x + static_cast<std::int64_t>(blockIdx.x) * dim;
  float* yr = out + static_cast<std::int64_t>(blockIdx.x) * dim;
  double ss = 0.0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += static_cast<double>(xr[i]) * xr[i];
  const double inv = 1.0 / fmax(sqrt(block_reduce(ss, Sum{}, 0.0)), 1e-12);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = static_cast<float>(xr[i] * inv);
}

}  // namespace

void mean_rows(const float* x, const std::int32_t* lengths, int batch, int seq_len, int dim, float* out,
               cudaStream_t stream) {
  mean_rows_kernel<<<batch, row_threads(dim), 0, stream>>>(x, lengths, seq_len, dim, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void l2_normalize(const float* x, int rows, int dim, float* out, cudaStream_t stream) {
  l2_normalize_kernel<<<rows, row_threads(dim), 0, stream>>>(x, dim, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

}  // namespace octet::cuda
