// The GPU backend's kernels. Simple and correct first: each mirrors the CPU
// kernel of the same name (kernels/cpu/ops.h) closely enough that a decoder on
// either backend makes the same greedy choices; the matmuls, where the time
// goes, are cuBLASLt's (lt_matmul.cpp).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>

namespace octet::cuda {

namespace {

constexpr int kThreads = 256;

int blocks_for(std::int64_t n) {
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

__global__ void embedding_kernel(const float* table, std::int64_t dim, const std::int32_t* ids, float* out) {
  const float* row = table + static_cast<std::int64_t>(ids[blockIdx.x]) * dim;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[blockIdx.x * dim + i] = row[i];
}

__global__ void rms_norm_kernel(const float* x, const float* w, int dim, float eps, float* out) {
  const float* xr = x + static_cast<std::int64_t>(blockIdx.x) * dim;
  float* yr = out + static_cast<std::int64_t>(blockIdx.x) * dim;
  // Sum of squares in double, as on the CPU.
  double ss = 0.0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += static_cast<double>(xr[i]) * xr[i];
  ss = block_reduce(ss, Sum{}, 0.0);
  const float inv = static_cast<float>(1.0 / sqrt(ss / dim + eps));
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = __fmul_rn(__fmul_rn(xr[i], inv), w[i]);
}

// One thread per (head, rotated pair): the double-precision angle is cheap
// next to a serial walk over the heads.
__global__ void rope_kernel(const float* x, int n_heads, int head_dim, const int* pos, double theta, bool half_split,
                            float* out) {
  const int r = blockIdx.x, half = head_dim / 2;
  const double p = *pos + static_cast<double>(r);
  const std::int64_t row = static_cast<std::int64_t>(r) * n_heads * head_dim;
  for (int item = threadIdx.x; item < n_heads * half; item += blockDim.x) {
    const int h = item / half, i = item % half;
    const double freq = pow(theta, -2.0 * i / head_dim);
    double s_d, c_d;
    sincos(p * freq, &s_d, &c_d);
    const auto c = static_cast<float>(c_d), s = static_cast<float>(s_d);
    const int a = half_split ? i : 2 * i, b = half_split ? i + half : 2 * i + 1;
    const float* xh = x + row + static_cast<std::int64_t>(h) * head_dim;
    float* yh = out + row + static_cast<std::int64_t>(h) * head_dim;
    const float x0 = xh[a], x1 = xh[b];
    // No fused multiply-add: the CPU rounds each product, and so do we.
    yh[a] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
    yh[b] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
  }
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

__global__ void kv_append_kernel(const float* k, const float* v, float* k_cache, float* v_cache, const int* pos,
                                 std::int64_t kv_dim, std::int64_t n) {
  const std::int64_t offset = static_cast<std::int64_t>(*pos) * kv_dim;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    k_cache[offset + i] = k[i];
    v_cache[offset + i] = v[i];
  }
}

// One block per (query head, token). Warps take keys in turn (lanes split the
// head dimension, so cache reads are coalesced); scores live in shared memory.
__global__ void attention_kernel(const float* q, const float* k_cache, const float* v_cache, const int* pos,
                                 AttentionArgs a, float* out) {
  extern __shared__ float shared[];
  float* scores = shared;        // [n_ctx]
  float* qh = shared + a.n_ctx;  // [head_dim]
  const int h = blockIdx.x, t = blockIdx.y;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const int n_keys = *pos + t + 1;
  const std::int64_t kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * a.head_dim;
  const std::int64_t q_row = (static_cast<std::int64_t>(t) * a.n_heads + h) * a.head_dim;
  const float scale = 1.0f / sqrtf(static_cast<float>(a.head_dim));
  for (int d = threadIdx.x; d < a.head_dim; d += blockDim.x) qh[d] = q[q_row + d];
  __syncthreads();

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  for (int j = warp; j < n_keys; j += n_warps) {
    const float* kj = k_cache + j * kv_dim + static_cast<std::int64_t>(kvh) * a.head_dim;
    float dot = 0.0f;
    for (int d = lane; d < a.head_dim; d += 32) dot += qh[d] * kj[d];
    dot = warp_sum(dot);
    if (lane == 0) scores[j] = dot * scale;
  }
  __syncthreads();
  float local_max = -INFINITY;
  for (int j = threadIdx.x; j < n_keys; j += blockDim.x) local_max = fmaxf(local_max, scores[j]);
  const float max_score = block_reduce(local_max, Max{}, -INFINITY);
  float local_sum = 0.0f;
  for (int j = threadIdx.x; j < n_keys; j += blockDim.x) {
    scores[j] = expf(scores[j] - max_score);
    local_sum += scores[j];
  }
  const float inv_sum = 1.0f / block_reduce(local_sum, Sum{}, 0.0f);  // its barrier also publishes scores
  for (int d = threadIdx.x; d < a.head_dim; d += blockDim.x) {
    const float* vd = v_cache + static_cast<std::int64_t>(kvh) * a.head_dim + d;
    float acc = 0.0f;
    for (int j = 0; j < n_keys; ++j) acc += scores[j] * inv_sum * vd[j * kv_dim];
    out[q_row + d] = acc;
  }
}

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

// Prefill attention, tiled: a block takes kTileQ query tokens of one head and
// walks the keys in tiles of kTileK staged in shared memory, with an online
// softmax (running max and sum per query), so each key and value row is read
// once per query tile instead of once per query. Four neighbouring lanes share
// a query row, each owning the dimensions d = part + 4i: they add their
// partial dot products with two shuffles, so all four hold every score, and
// their shared-memory reads fall in four consecutive banks.
// The per-thread arrays are sized at compile time for head_dim <= 64. At
// head_dim 128 the same design needs 255 registers and measured slower than
// the one-block-per-query kernel on an H100 (Llama-7B prefill 10.4k against
// 12.6k tokens/s; at head_dim 64, Llama-1.1B, it is 1.37x faster), so wider
// heads keep that kernel.
constexpr int kTileQ = 32, kTileK = 32, kTiledThreads = kTileQ * 4, kTiledMaxHeadDim = 64;
constexpr int kDimsPerThread = kTiledMaxHeadDim / 4;

std::size_t tiled_attention_shared_bytes(int head_dim) {
  return sizeof(float) * 2 * static_cast<std::size_t>(kTileK) * head_dim;
}

__global__ void attention_tiled_kernel(const float* q, const float* k_cache, const float* v_cache, const int* pos,
                                       AttentionArgs a, float* out) {
  extern __shared__ float shared[];
  const int hd = a.head_dim, dq = hd / 4;
  float* ks = shared;            // [kTileK][hd]
  float* vs = ks + kTileK * hd;  // [kTileK][hd]
  const int h = blockIdx.x, t0 = blockIdx.y * kTileQ;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const int p0 = *pos;
  const std::int64_t kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * hd;
  const std::int64_t q_stride = static_cast<std::int64_t>(a.n_heads) * hd;
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  const int part = threadIdx.x % 4, t = t0 + static_cast<int>(threadIdx.x) / 4;
  const bool valid = t < a.n_tokens;
  float qr[kDimsPerThread], o[kDimsPerThread];
#pragma unroll
  for (int i = 0; i < kDimsPerThread; ++i) {
    qr[i] = valid && i < dq ? q[t * q_stride + static_cast<std::int64_t>(h) * hd + part + 4 * i] : 0.0f;
    o[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int last_key = p0 + min(t0 + kTileQ, a.n_tokens) - 1;  // the furthest key any row of this tile sees
  for (int j0 = 0; j0 <= last_key; j0 += kTileK) {
    __syncthreads();  // the previous tile is consumed
    for (int i = threadIdx.x; i < kTileK * hd; i += blockDim.x) {
      const int j = j0 + i / hd;
      const std::int64_t at = j * kv_dim + static_cast<std::int64_t>(kvh) * hd + i % hd;
      ks[i] = j <= last_key ? k_cache[at] : 0.0f;
      vs[i] = j <= last_key ? v_cache[at] : 0.0f;
    }
    __syncthreads();
    float score[kTileK];
    float tile_max = -INFINITY;
#pragma unroll
    for (int c = 0; c < kTileK; ++c) {
      float partial = 0.0f;
#pragma unroll
      for (int i = 0; i < kDimsPerThread; ++i) {
        if (i < dq) partial += qr[i] * ks[c * hd + part + 4 * i];
      }
      partial += __shfl_xor_sync(0xffffffffu, partial, 1);
      partial += __shfl_xor_sync(0xffffffffu, partial, 2);
      score[c] = valid && j0 + c <= p0 + t ? partial * scale : -INFINITY;
      tile_max = fmaxf(tile_max, score[c]);
    }
    const float m_new = fmaxf(m, tile_max);
    const float correction = m == -INFINITY ? 0.0f : expf(m - m_new);
    float tile_sum = 0.0f;
#pragma unroll
    for (int c = 0; c < kTileK; ++c) {
      score[c] = score[c] == -INFINITY ? 0.0f : expf(score[c] - m_new);
      tile_sum += score[c];
    }
    l = l * correction + tile_sum;
    m = m_new;
#pragma unroll
    for (int i = 0; i < kDimsPerThread; ++i) o[i] *= correction;
#pragma unroll
    for (int c = 0; c < kTileK; ++c) {
#pragma unroll
      for (int i = 0; i < kDimsPerThread; ++i) {
        if (i < dq) o[i] += score[c] * vs[c * hd + part + 4 * i];
      }
    }
  }
  if (!valid) return;
  float* y = out + t * q_stride + static_cast<std::int64_t>(h) * hd + part;
#pragma unroll
  for (int i = 0; i < kDimsPerThread; ++i) {
    if (i < dq) y[4 * i] = o[i] / l;
  }
}

__global__ void quantize_rows_fp8_kernel(const float* x, int k, int k_padded, std::uint8_t* q, float* scale) {
  quantize_row_fp8(x + static_cast<std::int64_t>(blockIdx.x) * k, k, k_padded,
                   q + static_cast<std::int64_t>(blockIdx.x) * k_padded, scale + blockIdx.x);
}

// FP8 GEMV for decode (m <= kGemvMaxRows): one warp per output channel reads
// its weight row once in 16-byte loads and serves all m tokens; exact float
// accumulation; both scales applied on the way out. At m = 1 cuBLASLt's FP8
// kernels (built for tiles of tokens) read weights at half the bandwidth.
constexpr int kGemvWarps = 8, kGemvRowsPerWarp = 2, kGemvUnroll = 4;

__device__ void add_fp8x16_dot(const uint4 w, const uint4 x, float& acc) {
  const auto* wb = reinterpret_cast<const __nv_fp8x2_storage_t*>(&w);
  const auto* xb = reinterpret_cast<const __nv_fp8x2_storage_t*>(&x);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float2 wf = __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(wb[i], __NV_E4M3)));
    const float2 xf = __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(xb[i], __NV_E4M3)));
    acc += wf.x * xf.x;
    acc += wf.y * xf.y;
  }
}

// Every block quantizes the m activation rows into shared memory itself (the
// same codes quantize_rows_fp8 makes: a few KB from L2 per block), so decode
// needs no separate quantization kernel, then runs the GEMV from there.
__global__ void gemv_fp8_kernel(const float* x, int k, const std::uint8_t* w, const float* w_scale, float* y, int m,
                                int n, int k_padded) {
  extern __shared__ uint4 shared_codes[];  // uint4: 16-byte aligned rows
  auto* xq = reinterpret_cast<std::uint8_t*>(shared_codes);
  __shared__ float x_scale[kGemvMaxRows];
  for (int i = 0; i < m; ++i) {
    quantize_row_fp8(x + static_cast<std::int64_t>(i) * k, k, k_padded, xq + i * k_padded, &x_scale[i]);
  }
  __syncthreads();
  // Each warp owns kGemvRowsPerWarp rows and keeps kGemvUnroll loads of each
  // in flight: enough bytes on the way to cover memory latency.
  const int lane = threadIdx.x % 32;
  const int row0 = (blockIdx.x * kGemvWarps + threadIdx.x / 32) * kGemvRowsPerWarp;
  if (row0 >= n) return;
  const uint4* wr[kGemvRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kGemvRowsPerWarp; ++r) {
    wr[r] = reinterpret_cast<const uint4*>(w + static_cast<std::int64_t>(min(row0 + r, n - 1)) * k_padded);
  }
  const int chunks = k_padded / 16;
  float acc[kGemvMaxRows][kGemvRowsPerWarp] = {};
  for (int c0 = lane; c0 < chunks; c0 += 32 * kGemvUnroll) {
    uint4 wv[kGemvUnroll][kGemvRowsPerWarp];
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
      const int c = c0 + 32 * u;
#pragma unroll
      for (int r = 0; r < kGemvRowsPerWarp; ++r) wv[u][r] = c < chunks ? __ldg(wr[r] + c) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
      const int c = c0 + 32 * u;
      if (c >= chunks) break;
#pragma unroll
      for (int i = 0; i < kGemvMaxRows; ++i) {
        if (i >= m) break;
        const uint4 xv = reinterpret_cast<const uint4*>(xq + i * k_padded)[c];
#pragma unroll
        for (int r = 0; r < kGemvRowsPerWarp; ++r) add_fp8x16_dot(wv[u][r], xv, acc[i][r]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kGemvMaxRows; ++i) {
    if (i >= m) break;
#pragma unroll
    for (int r = 0; r < kGemvRowsPerWarp; ++r) {
      const float sum = warp_sum(acc[i][r]);
      if (lane == 0 && row0 + r < n) {
        y[static_cast<std::int64_t>(i) * n + row0 + r] = sum * (x_scale[i] * w_scale[row0 + r]);
      }
    }
  }
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

void rms_norm(const float* x, const float* w, int rows, int dim, float eps, float* out, cudaStream_t stream) {
  rms_norm_kernel<<<rows, kThreads, 0, stream>>>(x, w, dim, eps, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void rope(const float* x, int rows, int n_heads, int head_dim, const int* pos, double theta, bool half_split,
          float* out, cudaStream_t stream) {
  rope_kernel<<<rows, std::min(1024, (n_heads * head_dim / 2 + 31) / 32 * 32), 0, stream>>>(x, n_heads, head_dim, pos,
                                                                                            theta, half_split, out);
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

namespace {
std::size_t attention_shared_bytes(int n_ctx, int head_dim) {
  return sizeof(float) * (static_cast<std::size_t>(n_ctx) + static_cast<std::size_t>(head_dim));
}
}  // namespace

void attention_reserve(int n_ctx, int head_dim) {
  int device = 0, limit = 0;
  OCTET_CUDA_CHECK(cudaGetDevice(&device));
  OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const std::size_t need = attention_shared_bytes(n_ctx, head_dim);
  if (need > static_cast<std::size_t>(limit)) {
    fail("CUDA attention keeps a context's scores in shared memory: {} tokens need {} bytes, this GPU has {}", n_ctx,
         need, limit);
  }
  OCTET_CUDA_CHECK(
      cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(need)));
  if (head_dim % 4 == 0 && head_dim <= kTiledMaxHeadDim) {
    OCTET_CUDA_CHECK(cudaFuncSetAttribute(attention_tiled_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(tiled_attention_shared_bytes(head_dim))));
  }
}

void attention(const float* q, const float* k, const float* v, float* k_cache, float* v_cache, const int* pos,
               const AttentionArgs& a, float* out, cudaStream_t stream) {
  const std::int64_t kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * a.head_dim;
  const std::int64_t n = a.n_tokens * kv_dim;
  kv_append_kernel<<<blocks_for(n), kThreads, 0, stream>>>(k, v, k_cache, v_cache, pos, kv_dim, n);
  OCTET_CUDA_CHECK(cudaGetLastError());
  if (a.n_tokens > 1 && a.head_dim % 4 == 0 && a.head_dim <= kTiledMaxHeadDim) {
    const dim3 grid(static_cast<unsigned>(a.n_heads), static_cast<unsigned>((a.n_tokens + kTileQ - 1) / kTileQ));
    attention_tiled_kernel<<<grid, kTiledThreads, tiled_attention_shared_bytes(a.head_dim), stream>>>(
        q, k_cache, v_cache, pos, a, out);
    OCTET_CUDA_CHECK(cudaGetLastError());
    return;
  }
  const std::size_t shared = attention_shared_bytes(a.n_ctx, a.head_dim);
  attention_kernel<<<dim3(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.n_tokens)), 128, shared, stream>>>(
      q, k_cache, v_cache, pos, a, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void quantize_rows_fp8(const float* x, int rows, int k, int k_padded, std::uint8_t* q, float* scale,
                       cudaStream_t stream) {
  quantize_rows_fp8_kernel<<<rows, kThreads, 0, stream>>>(x, k, k_padded, q, scale);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

bool gemv_fp8_fits(int m, int k_padded) {
  return m <= kGemvMaxRows && k_padded % 16 == 0 && m * k_padded <= kGemvMaxSharedBytes;
}

void gemv_fp8(const float* x, int k, const std::uint8_t* w, const float* w_scale, float* y, int m, int n, int k_padded,
              cudaStream_t stream) {
  if (!gemv_fp8_fits(m, k_padded)) fail("gemv_fp8: {} rows of {} do not fit", m, k_padded);
  const int rows_per_block = kGemvWarps * kGemvRowsPerWarp;
  gemv_fp8_kernel<<<(n + rows_per_block - 1) / rows_per_block, kGemvWarps * 32, static_cast<std::size_t>(m) * k_padded,
                    stream>>>(x, k, w, w_scale, y, m, n, k_padded);
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
