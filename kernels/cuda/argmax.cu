// Greedy decoding's argmax on the GPU.
#include "kernels/cuda/argmax.h"

#include "kernels/cuda/cuda_common.cuh"

namespace octet::cuda {

namespace {

// One block per row: each thread keeps the first largest of its columns,
// then the block keeps the largest of those, the lowest index on ties.
__global__ void argmax_rows_kernel(const float* x, int cols, std::int32_t* out) {
  const float* row = x + static_cast<std::int64_t>(blockIdx.x) * cols;
  float best = -INFINITY;
  int at = cols;  // none yet: loses every tie
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    if (row[j] > best || (at == cols && row[j] == best)) {
      best = row[j];
      at = j;
    }
  }
  __shared__ float best_of[kThreads / 32];
  __shared__ int at_of[kThreads / 32];
  const auto better = [](float v, int i, float w, int k) { return v > w || (v == w && i < k); };
  for (int offset = 16; offset > 0; offset /= 2) {
    const float v = __shfl_xor_sync(0xffffffffu, best, offset);
    const int i = __shfl_xor_sync(0xffffffffu, at, offset);
    if (better(v, i, best, at)) {
      best = v;
      at = i;
    }
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) {
    best_of[warp] = best;
    at_of[warp] = at;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) {
      if (better(best_of[w], at_of[w], best, at)) {
        best = best_of[w];
        at = at_of[w];
      }
    }
    out[blockIdx.x] = at < cols ? at : -1;  // a row of NaNs only: -1, as octet::argmax
  }
}

}  // namespace

void argmax_rows(const float* x, int rows, int cols, std::int32_t* out, cudaStream_t stream) {
  argmax_rows_kernel<<<rows, kThreads, 0, stream>>>(x, cols, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

}  // namespace octet::cuda
