// FP8 activation quantization, and the decode-sized FP8 GEMV on the tensor cores.
#include "kernels/cuda/fp8_gemv.h"

#include "kernels/cuda/cuda_common.cuh"

#include <cuda_fp8.h>

namespace octet::cuda {

namespace {

// One row's E4M3 codes and scale, by the whole block (every thread must call it).
__device__ void quantize_row_fp8(const float* xr, int k, int k_padded, std::uint8_t* qr, float* scale) {
  float absmax = 0.0f;
  for (int i = threadIdx.x; i < k; i += blockDim.x) absmax = fmaxf(absmax, fabsf(xr[i]));
  absmax = block_reduce(absmax, Max{}, 0.0f);
  const float inv = absmax > 0.0f ? __fdiv_rn(448.0f, absmax) : 0.0f;
  for (int i = threadIdx.x; i < k_padded; i += blockDim.x) {
    qr[i] = i < k ? __nv_cvt_float_to_fp8(__fmul_rn(xr[i], inv), __NV_SATFINITE, __NV_E4M3) : 0;
  }
  if (threadIdx.x == 0) *scale = __fdiv_rn(absmax, 448.0f);
}

__global__ void quantize_rows_fp8_kernel(const float* x, int k, int k_padded, std::uint8_t* q, float* scale) {
  quantize_row_fp8(x + static_cast<std::int64_t>(blockIdx.x) * k, k, k_padded,
                   q + static_cast<std::int64_t>(blockIdx.x) * k_padded, scale + blockIdx.x);
}

// FP8 GEMV for decode (m <= kGemvMaxRows tokens) on the FP8 tensor cores.
// A block owns 8 output channels (weight rows) and kGemvWarps warps split K
// between them. Each step a warp multiplies 64 bytes of K of its 8 rows by
// the same 64 bytes of every token: lane (g, t) loads the 16 bytes at
// 16 t of weight row g, and two m16n8k32 MMAs take the tokens as A (rows g
// and g + 8) and the weight rows as B. The sum over K does not care which
// byte the MMA calls which k, so A and B just use the same lane-to-byte map:
// each lane's 16 contiguous bytes are its four k-groups of 4. The MMA's sum
// of 32 exact E4M3 products is added to float accumulators after every MMA
// (Hopper's FP8 MMA keeps about 14 bits in its own accumulator). At m = 1 a
// CUDA-core version spent more time converting E4M3 to float than loading.
constexpr int kGemvWarps = 4, kGemvUnroll = 8, kGemvRowsPerBlock = 8;
constexpr int kMmaTokens = 16;  // the MMA's M: tokens g and g + 8 of every lane group
static_assert(kGemvMaxRows <= kMmaTokens);
constexpr int kGemvChunkBytes = 64;  // of one weight row per warp step: 4 lanes x 16 bytes

// Token rows in shared memory are padded to 64 (mod 128) bytes, so that the
// two halves of a warp's 8 token rows fall in different banks.
__host__ __device__ int gemv_row_stride(int k_padded) { return (k_padded + 127) / 128 * 128 + 64; }

__device__ void mma_e4m3(unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1,
                         float (&acc)[4]) {
#if __CUDA_ARCH__ >= 890
  float d0, d1, d2, d3;
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %10, %10, %10};\n"
      : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3)
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "f"(0.0f));
  acc[0] += d0;
  acc[1] += d1;
  acc[2] += d2;
  acc[3] += d3;
#else
  __trap();  // FP8 MMA needs compute 8.9; the backend never launches this below it
#endif
}

// The m token rows' E4M3 codes and scales, made by the whole block into
// shared memory with the arithmetic of quantize_row_fp8: one pass for every
// row's absmax, one for the codes (zeros from k to the row stride); one pass
// in all for a single row that fits in registers.
__device__ void quantize_rows_to_shared(const float* x, int m, int k, int stride, std::uint8_t* xq, float* x_scale) {
  __shared__ float warp_max[kGemvWarps][kGemvMaxRows];
  const bool vec = k % 4 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const auto code = [](float v, float inv) {
    return static_cast<unsigned>(__nv_cvt_float_to_fp8(__fmul_rn(v, inv), __NV_SATFINITE, __NV_E4M3));
  };
  // Batch-1 decode with rows up to kOnePassVectors float4s a thread: one read
  // of x, kept in registers from the absmax to the codes.
  constexpr int kOnePassVectors = 8;
  if (m == 1 && vec && k / 4 <= kOnePassVectors * static_cast<int>(blockDim.x)) {
    float4 v[kOnePassVectors];
    float mx = 0.0f;
#pragma unroll
    for (int u = 0; u < kOnePassVectors; ++u) {
      const int j = threadIdx.x + u * blockDim.x;
      v[u] = j < k / 4 ? reinterpret_cast<const float4*>(x)[j] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      mx = fmaxf(mx, fmaxf(fmaxf(fabsf(v[u].x), fabsf(v[u].y)), fmaxf(fabsf(v[u].z), fabsf(v[u].w))));
    }
    for (int offset = 16; offset > 0; offset /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, offset));
    if (lane == 0) warp_max[warp][0] = mx;
    __syncthreads();
    float absmax = 0.0f;
    for (int w = 0; w < kGemvWarps; ++w) absmax = fmaxf(absmax, warp_max[w][0]);
    const float inv = absmax > 0.0f ? __fdiv_rn(448.0f, absmax) : 0.0f;
#pragma unroll
    for (int u = 0; u < kOnePassVectors; ++u) {
      const int j = threadIdx.x + u * blockDim.x;
      if (j < k / 4) {
        reinterpret_cast<unsigned*>(xq)[j] =
            code(v[u].x, inv) | code(v[u].y, inv) << 8 | code(v[u].z, inv) << 16 | code(v[u].w, inv) << 24;
      }
    }
    for (int j = k + threadIdx.x; j < stride; j += blockDim.x) xq[j] = 0;
    if (threadIdx.x == 0) x_scale[0] = __fdiv_rn(absmax, 448.0f);
    __syncthreads();
    return;
  }
#pragma unroll
  for (int i = 0; i < kGemvMaxRows; ++i) {
    if (i >= m) break;
    const float* xr = x + static_cast<std::int64_t>(i) * k;
    float mx = 0.0f;
    if (vec) {
#pragma unroll 4
      for (int j = threadIdx.x; j < k / 4; j += blockDim.x) {
        const float4 v = reinterpret_cast<const float4*>(xr)[j];
        mx = fmaxf(mx, fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w))));
      }
    } else {
      for (int j = threadIdx.x; j < k; j += blockDim.x) mx = fmaxf(mx, fabsf(xr[j]));
    }
    for (int offset = 16; offset > 0; offset /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, offset));
    if (lane == 0) warp_max[warp][i] = mx;
  }
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < m) {
    float mx = 0.0f;
    for (int w = 0; w < kGemvWarps; ++w) mx = fmaxf(mx, warp_max[w][threadIdx.x]);
    x_scale[threadIdx.x] = mx;  // the absmax until the codes are made
  }
  __syncthreads();
  for (int i = 0; i < m; ++i) {
    const float absmax = x_scale[i];
    const float inv = absmax > 0.0f ? __fdiv_rn(448.0f, absmax) : 0.0f;
    const float* xr = x + static_cast<std::int64_t>(i) * k;
    std::uint8_t* qr = xq + i * stride;
    if (vec) {
      for (int j = threadIdx.x; j < k / 4; j += blockDim.x) {
        const float4 v = reinterpret_cast<const float4*>(xr)[j];
        reinterpret_cast<unsigned*>(qr)[j] =
            code(v.x, inv) | code(v.y, inv) << 8 | code(v.z, inv) << 16 | code(v.w, inv) << 24;
      }
      for (int j = k + threadIdx.x; j < stride; j += blockDim.x) qr[j] = 0;
    } else {
      for (int j = threadIdx.x; j < stride; j += blockDim.x) qr[j] = j < k ? code(xr[j], inv) : 0;
    }
  }
  __syncthreads();  // every thread has read x_scale[i] as the absmax
  if (static_cast<int>(threadIdx.x) < m) x_scale[threadIdx.x] = __fdiv_rn(x_scale[threadIdx.x], 448.0f);
  __syncthreads();
}

__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_fp8_kernel(const float* x, int k, const std::uint8_t* w, const float* w_scale, float* y, int m, int n,
                    int k_padded) {
  extern __shared__ uint4 shared_codes[];  // uint4: 16-byte aligned rows
  auto* xq = reinterpret_cast<std::uint8_t*>(shared_codes);
  __shared__ float x_scale[kGemvMaxRows];
  __shared__ float partial[kGemvWarps][kMmaTokens][kGemvRowsPerBlock];
  const int stride = gemv_row_stride(k_padded);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
  const int row0 = blockIdx.x * kGemvRowsPerBlock;
  // Rows past n (the last block) repeat row n - 1; their sums are dropped.
  const uint4* wr = reinterpret_cast<const uint4*>(w + static_cast<std::int64_t>(min(row0 + g, n - 1)) * k_padded);
  const int vectors = k_padded / 16, chunks = (k_padded + kGemvChunkBytes - 1) / kGemvChunkBytes;
  const auto load = [&](int c0, uint4(&v)[kGemvUnroll]) {
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
      const int at = (c0 + u) * 4 + t;
      v[u] = at < vectors ? __ldg(wr + at) : make_uint4(0, 0, 0, 0);
    }
  };
  // The warp's first two steps of weights are on their way while the block
  // quantizes x (a 4096 x 4096 matrix: all of it); each step then computes
  // one and asks for the one after the next.
  constexpr int kStride = kGemvWarps * kGemvUnroll;  // chunks between a warp's steps
  uint4 cur[kGemvUnroll], next[kGemvUnroll];
  load(warp * kGemvUnroll, cur);
  load(warp * kGemvUnroll + kStride, next);
  quantize_rows_to_shared(x, m, k, stride, xq, x_scale);

  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int c0 = warp * kGemvUnroll; c0 < chunks; c0 += kStride) {
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
      if (c0 + u >= chunks) break;  // the last step of a K that is not a multiple of the warps' stride
      const int at = (c0 + u) * kGemvChunkBytes + t * 16;
      const uint4 lo = g < m ? *reinterpret_cast<const uint4*>(xq + g * stride + at) : zero;
      const uint4 hi = g + 8 < m ? *reinterpret_cast<const uint4*>(xq + (g + 8) * stride + at) : zero;
      mma_e4m3(lo.x, hi.x, lo.y, hi.y, cur[u].x, cur[u].y, acc);
      mma_e4m3(lo.z, hi.z, lo.w, hi.w, cur[u].z, cur[u].w, acc);
    }
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) cur[u] = next[u];
    load(c0 + 2 * kStride, next);
  }
  // acc: tokens g and g + 8, rows 2t and 2t + 1. Sum the warps' shares of K.
  partial[warp][g][2 * t] = acc[0];
  partial[warp][g][2 * t + 1] = acc[1];
  partial[warp][g + 8][2 * t] = acc[2];
  partial[warp][g + 8][2 * t + 1] = acc[3];
  __syncthreads();
  for (int item = threadIdx.x; item < m * kGemvRowsPerBlock; item += blockDim.x) {
    const int i = item / kGemvRowsPerBlock, row = row0 + item % kGemvRowsPerBlock;
    if (row >= n) continue;
    float sum = 0.0f;
    for (int v = 0; v < kGemvWarps; ++v) sum += partial[v][i][item % kGemvRowsPerBlock];
    y[static_cast<std::int64_t>(i) * n + row] = sum * (x_scale[i] * w_scale[row]);
  }
}

}  // namespace

void quantize_rows_fp8(const float* x, int rows, int k, int k_padded, std::uint8_t* q, float* scale,
                       cudaStream_t stream) {
  quantize_rows_fp8_kernel<<<rows, kThreads, 0, stream>>>(x, k, k_padded, q, scale);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

bool gemv_fp8_fits(int m, int k_padded) {
  return m >= 1 && m <= kGemvMaxRows && k_padded % 16 == 0 && m * gemv_row_stride(k_padded) <= kGemvMaxSharedBytes;
}

void gemv_fp8(const float* x, int k, const std::uint8_t* w, const float* w_scale, float* y, int m, int n, int k_padded,
              cudaStream_t stream) {
  if (!gemv_fp8_fits(m, k_padded)) fail("gemv_fp8: {} rows of {} do not fit", m, k_padded);
  const std::size_t shared = static_cast<std::size_t>(m) * gemv_row_stride(k_padded);
  gemv_fp8_kernel<<<(n + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock, kGemvWarps * 32, shared, stream>>>(
      x, k, w, w_scale, y, m, n, k_padded);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

}  // namespace octet::cuda
