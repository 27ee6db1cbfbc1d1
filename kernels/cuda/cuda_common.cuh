// What every kernel file of the CUDA backend shares: the default block size,
// a grid for n elements, and warp and block reductions.
#pragma once

#include "kernels/cuda/cuda_check.h"

#include <algorithm>
#include <cstdint>

namespace octet::cuda {

inline constexpr int kThreads = 256;

inline int blocks_for(std::int64_t n) {
  return static_cast<int>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65535));
}

template <typename T>
__device__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Reduces over the block (blockDim.x a multiple of 32); every thread gets the result.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T partial[32];
  __shared__ T result;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : identity;
    for (int offset = 16; offset > 0; offset /= 2) w = op(w, __shfl_xor_sync(0xffffffffu, w, offset));
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

struct Sum {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// A block per row, a thread per element up to 1024 (rows are a few thousand at most).
inline int row_threads(int dim) { return std::clamp((dim + 31) / 32 * 32, 32, 1024); }

}  // namespace octet::cuda
