// Row norms: RMSNorm (decoders) and LayerNorm (encoders), sums in double as the CPU.
#include "kernels/cuda/norms.h"

#include "kernels/cuda/cuda_common.cuh"

namespace octet::cuda {

namespace {

// One block per row, as many threads as the row has float4s (up to 1024):
// a decode step has one row, and a block of 256 threads walking it measured
// 16 us under ncu on a 4096-wide row, most of it waiting on its own loads.
__global__ void rms_norm_kernel(const float* x, const float* w, int dim, float eps, float* out) {
  const float* xr = x + static_cast<std::int64_t>(blockIdx.x) * dim;
  float* yr = out + static_cast<std::int64_t>(blockIdx.x) * dim;
  const bool vec = dim % 4 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<std::uintptr_t>(w) % 16 == 0 && reinterpret_cast<std::uintptr_t>(out) % 16 == 0;
  // Sum of squares in double, as on the CPU.
  double ss = 0.0;
  if (vec) {
    for (int i = threadIdx.x; i < dim / 4; i += blockDim.x) {
      const float4 v = reinterpret_cast<const float4*>(xr)[i];
      ss += static_cast<double>(v.x) * v.x + static_cast<double>(v.y) * v.y + static_cast<double>(v.z) * v.z +
            static_cast<double>(v.w) * v.w;
    }
  } else {
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += static_cast<double>(xr[i]) * xr[i];
  }
  ss = block_reduce(ss, Sum{}, 0.0);
  const float inv = static_cast<float>(1.0 / sqrt(ss / dim + eps));
  if (vec) {
    for (int i = threadIdx.x; i < dim / 4; i += blockDim.x) {
      const float4 v = reinterpret_cast<const float4*>(xr)[i], g = reinterpret_cast<const float4*>(w)[i];
      reinterpret_cast<float4*>(yr)[i] =
          make_float4(__fmul_rn(__fmul_rn(v.x, inv), g.x), __fmul_rn(__fmul_rn(v.y, inv), g.y),
                      __fmul_rn(__fmul_rn(v.z, inv), g.z), __fmul_rn(__fmul_rn(v.w, inv), g.w));
    }
  } else {
    for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = __fmul_rn(__fmul_rn(xr[i], inv), w[i]);
  }
}

// One block per row. Mean, then the squares of deviations, in double, as
// the CPU computes them (BERT's eps is 1e-12: nothing may cancel).
__global__ void layer_norm_kernel(const float* x, const float* w, const float* b, int dim, float eps, float* out) {
  const float* xr = x + static_cast<std::int64_t>(blockIdx.x) * dim;
  float* yr = out + static_cast<std::int64_t>(blockIdx.x) * dim;
  double sum = 0.0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) sum += xr[i];
  const double mean = block_reduce(sum, Sum{}, 0.0) / dim;
  double ss = 0.0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += (xr[i] - mean) * (xr[i] - mean);
  ss = block_reduce(ss, Sum{}, 0.0);
  const float inv = static_cast<float>(1.0 / sqrt(ss / dim + eps)), m = static_cast<float>(mean);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    yr[i] = __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(xr[i], m), inv), w[i]), b[i]);
  }
}

}  // namespace

void rms_norm(const float* x, const float* w, int rows, int dim, float eps, float* out, cudaStream_t stream) {
  const int threads = std::clamp((dim / 4 + 31) / 32 * 32, 32, 1024);
  rms_norm_kernel<<<rows, threads, 0, stream>>>(x, w, dim, eps, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void layer_norm(const float* x, const float* w, const float* b, int rows, int dim, float eps, float* out,
                cudaStream_t stream) {
  layer_norm_kernel<<<rows, row_threads(dim), 0, stream>>>(x, w, b, dim, eps, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

}  // namespace octet::cuda
