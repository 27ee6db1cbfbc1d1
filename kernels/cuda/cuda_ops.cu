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

// One block per token. The angles depend on the pair, not the head: the
// block's first head_dim / 2 threads work out each pair's cos and sin once
// (in double, as the CPU does), then every (head, pair) rotates from shared
// memory. Per head in double, a decode step's rope measured 9 us under ncu.
__global__ void rope_kernel(const float* x, int tokens_per_sequence, int n_heads, int head_dim, const int* pos,
                            double theta, bool half_split, float* out) {
  extern __shared__ float angles[];  // cos, then sin, of each of the head_dim / 2 pairs
  const int r = blockIdx.x, half = head_dim / 2;
  const double p = *pos + static_cast<double>(r % tokens_per_sequence);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const double freq = pow(theta, -2.0 * i / head_dim);
    double s_d, c_d;
    sincos(p * freq, &s_d, &c_d);
    angles[i] = static_cast<float>(c_d);
    angles[half + i] = static_cast<float>(s_d);
  }
  __syncthreads();
  const std::int64_t row = static_cast<std::int64_t>(r) * n_heads * head_dim;
  for (int item = threadIdx.x; item < n_heads * half; item += blockDim.x) {
    const int h = item / half, i = item % half;
    const float c = angles[i], s = angles[half + i];
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

__global__ void activation_kernel(Activation f, const float* x, std::int64_t n, float* out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    switch (f) {
      case Activation::Gelu:  // the exact form, x * Phi(x)
        out[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
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

// Sequence b's n_tokens rows of k and v go to its cache rows b n_ctx + *pos...
__global__ void kv_append_kernel(const float* k, const float* v, float* k_cache, float* v_cache, const int* pos,
                                 std::int64_t kv_dim, AttentionArgs a) {
  const std::int64_t per_sequence = a.n_tokens * kv_dim, n = a.batch * per_sequence;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = i / per_sequence;
    const std::int64_t at = (b * a.n_ctx + *pos) * kv_dim + i % per_sequence;
    k_cache[at] = k[i];
    v_cache[at] = v[i];
  }
}

// The same into an FP8 cache: one warp per (new row, key/value head, k or v)
// quantizes the head's slice, with the float arithmetic of
// octet::quantize_row_fp8 (so both backends store the same codes and scales).
// Grid: one block per new row (sequence after sequence).
__global__ void kv_append_fp8_kernel(const float* k, const float* v, std::uint8_t* k_codes, std::uint8_t* v_codes,
                                     float* k_scale, float* v_scale, const int* pos, AttentionArgs a) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32, hd = a.head_dim;
  const std::int64_t r = blockIdx.x, kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * hd;
  const std::int64_t row = r / a.n_tokens * a.n_ctx + *pos + r % a.n_tokens;  // its cache row
  for (int job = warp; job < 2 * a.n_kv_heads; job += n_warps) {
    const bool is_v = job >= a.n_kv_heads;
    const int h = job % a.n_kv_heads;
    const float* x = (is_v ? v : k) + r * kv_dim + static_cast<std::int64_t>(h) * hd;
    std::uint8_t* codes = (is_v ? v_codes : k_codes) + row * kv_dim + static_cast<std::int64_t>(h) * hd;
    float absmax = 0.0f;
    for (int d = lane; d < hd; d += 32) absmax = fmaxf(absmax, fabsf(x[d]));
    for (int offset = 16; offset > 0; offset /= 2) absmax = fmaxf(absmax, __shfl_xor_sync(0xffffffffu, absmax, offset));
    const float inv = absmax > 0.0f ? __fdiv_rn(448.0f, absmax) : 0.0f;
    for (int d = lane; d < hd; d += 32)
      codes[d] = __nv_cvt_float_to_fp8(__fmul_rn(x[d], inv), __NV_SATFINITE, __NV_E4M3);
    if (lane == 0) (is_v ? v_scale : k_scale)[row * a.n_kv_heads + h] = __fdiv_rn(absmax, 448.0f);
  }
}

// How attention kernels read keys and values: rows of one head, (j, d) being
// row j (from the sequence's first) and column d of the head.
struct HeadRowsF32 {
  const float* rows;    // row 0, column 0
  std::int64_t stride;  // floats from a row to the next
  __device__ float operator()(std::int64_t j, int d) const { return rows[j * stride + d]; }
};
struct HeadRowsFp8 {
  const std::uint8_t* rows;  // E4M3 codes, row 0, column 0
  std::int64_t stride;
  const float* scales;  // row 0's scale for this head, the next row's n_kv_heads further
  int scale_stride;
  __device__ float operator()(std::int64_t j, int d) const {
    const __half code = __nv_cvt_fp8_to_halfraw(rows[j * stride + d], __NV_E4M3);  // exact: E4M3 fits in f16
    return __half2float(code) * scales[j * scale_stride];
  }
};

// A layer's caches, as the kernels take them: keys(first, kvh, a) are the
// rows of head kvh from cache row `first` on (a sequence's first row).
struct CacheF32 {
  const float* k;
  const float* v;
  __device__ HeadRowsF32 keys(std::int64_t first, int kvh, const AttentionArgs& a) const {
    return head(k, first, kvh, a);
  }
  __device__ HeadRowsF32 values(std::int64_t first, int kvh, const AttentionArgs& a) const {
    return head(v, first, kvh, a);
  }
  static __device__ HeadRowsF32 head(const float* c, std::int64_t first, int kvh, const AttentionArgs& a) {
    const std::int64_t kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * a.head_dim;
    return {c + first * kv_dim + static_cast<std::int64_t>(kvh) * a.head_dim, kv_dim};
  }
};
struct CacheFp8 {
  const std::uint8_t* k;
  const std::uint8_t* v;
  const float* k_scale;
  const float* v_scale;
  __device__ HeadRowsFp8 keys(std::int64_t first, int kvh, const AttentionArgs& a) const {
    return head(k, k_scale, first, kvh, a);
  }
  __device__ HeadRowsFp8 values(std::int64_t first, int kvh, const AttentionArgs& a) const {
    return head(v, v_scale, first, kvh, a);
  }
  static __device__ HeadRowsFp8 head(const std::uint8_t* c, const float* s, std::int64_t first, int kvh,
                                     const AttentionArgs& a) {
    const std::int64_t kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * a.head_dim;
    return {c + first * kv_dim + static_cast<std::int64_t>(kvh) * a.head_dim, kv_dim, s + first * a.n_kv_heads + kvh,
            a.n_kv_heads};
  }
};

// Every attention kernel runs sequence blockIdx.z: its query and output rows
// and its own n_ctx rows of the caches (from the returned first row).
__device__ std::int64_t select_sequence(const AttentionArgs& a, const float*& q, float*& out) {
  const std::int64_t b = blockIdx.z;
  const std::int64_t q_rows = b * a.n_tokens * a.n_heads * a.head_dim;
  q += q_rows;
  out += q_rows;
  return b * a.n_ctx;
}

// One query row against n_keys rows of k and v, by one block: its warps
// take keys in turn (lanes split the head dimension, so reads are
// coalesced), the scores live in shared memory, then each thread sums the
// weighted values of its dimensions. qh is the row, in shared memory.
template <typename Rows>
__device__ void attend_row(const float* qh, const Rows& k, const Rows& v, int n_keys, int head_dim, float* scores,
                           float* out) {
  const float scale = 1.0f / sqrtf(static_cast<float>(head_dim));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  for (int j = warp; j < n_keys; j += n_warps) {
    float dot = 0.0f;
    for (int d = lane; d < head_dim; d += 32) dot += qh[d] * k(j, d);
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
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j < n_keys; ++j) acc += scores[j] * inv_sum * v(j, d);
    out[d] = acc;
  }
}

// One block per (query head, token) over the cache: the fallback for shapes
// the tiled and split kernels do not take.
template <typename Cache>
__global__ void attention_kernel(const float* q, Cache cache, const int* pos, AttentionArgs a, float* out) {
  extern __shared__ float shared[];
  float* scores = shared;        // [n_ctx]
  float* qh = shared + a.n_ctx;  // [head_dim]
  const std::int64_t first = select_sequence(a, q, out);
  const int h = blockIdx.x, t = blockIdx.y;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const std::int64_t q_row = (static_cast<std::int64_t>(t) * a.n_heads + h) * a.head_dim;
  for (int d = threadIdx.x; d < a.head_dim; d += blockDim.x) qh[d] = q[q_row + d];
  __syncthreads();
  attend_row(qh, cache.keys(first, kvh, a), cache.values(first, kvh, a), *pos + t + 1, a.head_dim, scores, out + q_row);
}

// Encoder attention: one block per (head, row, sequence); every row of
// sequence b attends to its first lengths[b] rows (clamped to 1..seq_len, so
// that a bad length, which a kernel cannot report, stays inside its sequence).
__global__ void masked_attention_kernel(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                                        int seq_len, int n_heads, int head_dim, float* out) {
  extern __shared__ float shared[];
  float* scores = shared;        // [seq_len]
  float* qh = shared + seq_len;  // [head_dim]
  const int h = blockIdx.x, t = blockIdx.y, b = blockIdx.z;
  const std::int64_t dim = static_cast<std::int64_t>(n_heads) * head_dim;
  const std::int64_t first = static_cast<std::int64_t>(b) * seq_len * dim + static_cast<std::int64_t>(h) * head_dim;
  const std::int64_t row = first + t * dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) qh[d] = q[row + d];
  __syncthreads();
  const int n_keys = min(max(lengths[b], 1), seq_len);
  attend_row(qh, HeadRowsF32{k + first, dim}, HeadRowsF32{v + first, dim}, n_keys, head_dim, scores, out + row);
}

// Decode attention (one query token), split over the keys ("flash
// decoding"): one block per (head, split) so that a 32-head model fills the
// GPU. The warps of a block take kDecodeKeys keys at a time in turn, loading
// their key and value rows together (each lane owns dimensions lane + 32 i),
// with an online softmax per warp; the warps merge in shared memory, the
// splits in `partial`, by the block of a head that finishes last (counted in
// `counters`, which it leaves at zero for the next step).
constexpr int kDecodeWarps = 4, kDecodeKeys = 4, kDecodeDimsPerLane = 4;

__device__ void merge_softmax(float m_other, float l_other, float& m, float& l, float& weight_self,
                              float& weight_other) {
  const float m_new = fmaxf(m, m_other);
  weight_self = m == -INFINITY ? 0.0f : expf(m - m_new);
  weight_other = m_other == -INFINITY ? 0.0f : expf(m_other - m_new);
  l = l * weight_self + l_other * weight_other;
  m = m_new;
}

template <typename Cache>
__global__ void __launch_bounds__(kDecodeWarps * 32)
    attention_decode_kernel(const float* q, Cache cache, const int* pos, AttentionArgs a, int splits, float* partial,
                            unsigned* counters, float* out) {
  __shared__ float warp_m[kDecodeWarps], warp_l[kDecodeWarps], warp_o[kDecodeWarps][32 * kDecodeDimsPerLane];
  __shared__ bool last_block;
  const std::int64_t first = select_sequence(a, q, out);
  const int h = blockIdx.x, split = blockIdx.y, hd = a.head_dim;
  const int slot = h + static_cast<int>(blockIdx.z) * a.n_heads;  // this sequence's head in partial and counters
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const int n_keys = *pos + 1, per_split = (n_keys + splits - 1) / splits;
  const int begin = split * per_split, end = min(n_keys, begin + per_split);
  const auto keys = cache.keys(first, kvh, a);
  const auto values = cache.values(first, kvh, a);
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float qr[kDecodeDimsPerLane], o[kDecodeDimsPerLane];
#pragma unroll
  for (int i = 0; i < kDecodeDimsPerLane; ++i) {
    const int d = lane + 32 * i;
    qr[i] = d < hd ? q[static_cast<std::int64_t>(h) * hd + d] : 0.0f;
    o[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int j0 = begin + warp * kDecodeKeys; j0 < end; j0 += kDecodeWarps * kDecodeKeys) {
    float kr[kDecodeKeys][kDecodeDimsPerLane], vr[kDecodeKeys][kDecodeDimsPerLane];
#pragma unroll
    for (int u = 0; u < kDecodeKeys; ++u) {
#pragma unroll
      for (int i = 0; i < kDecodeDimsPerLane; ++i) {
        const int d = lane + 32 * i;
        const bool in = j0 + u < end && d < hd;
        kr[u][i] = in ? keys(j0 + u, d) : 0.0f;
        vr[u][i] = in ? values(j0 + u, d) : 0.0f;
      }
    }
    float score[kDecodeKeys];
    float step_max = -INFINITY;
#pragma unroll
    for (int u = 0; u < kDecodeKeys; ++u) {
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < kDecodeDimsPerLane; ++i) dot += qr[i] * kr[u][i];
      score[u] = j0 + u < end ? warp_sum(dot) * scale : -INFINITY;
      step_max = fmaxf(step_max, score[u]);
    }
    float p[kDecodeKeys], step_sum = 0.0f;
#pragma unroll
    for (int u = 0; u < kDecodeKeys; ++u) {
      p[u] = score[u] == -INFINITY ? 0.0f : expf(score[u] - step_max);
      step_sum += p[u];
    }
    float w_self, w_step;
    merge_softmax(step_max, step_sum, m, l, w_self, w_step);
#pragma unroll
    for (int i = 0; i < kDecodeDimsPerLane; ++i) {
      float acc = 0.0f;
#pragma unroll
      for (int u = 0; u < kDecodeKeys; ++u) acc += p[u] * vr[u][i];
      o[i] = o[i] * w_self + acc * w_step;
    }
  }
  // The warps' shares, merged by the block.
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < kDecodeDimsPerLane; ++i) warp_o[warp][lane + 32 * i] = o[i];
  __syncthreads();
  float* mine = partial + (static_cast<std::int64_t>(slot) * kMaxDecodeSplits + split) * (hd + 2);
  for (int d = threadIdx.x; d < hd + 2; d += blockDim.x) {
    float bm = -INFINITY, bl = 0.0f, bo = 0.0f;
    for (int w = 0; w < kDecodeWarps; ++w) {
      float w_self, w_other;
      merge_softmax(warp_m[w], warp_l[w], bm, bl, w_self, w_other);
      bo = bo * w_self + (d < hd ? warp_o[w][d] : 0.0f) * w_other;
    }
    mine[d] = d < hd ? bo : d == hd ? bm : bl;
  }
  // The last block of this head merges the splits.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last_block = atomicAdd(&counters[slot], 1u) == static_cast<unsigned>(splits - 1);
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  const float* head_partial = partial + static_cast<std::int64_t>(slot) * kMaxDecodeSplits * (hd + 2);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float hm = -INFINITY, hl = 0.0f, ho = 0.0f;
    for (int sp = 0; sp < splits; ++sp) {
      const float* part = head_partial + sp * (hd + 2);
      float w_self, w_other;
      merge_softmax(__ldcg(part + hd), __ldcg(part + hd + 1), hm, hl, w_self, w_other);
      ho = ho * w_self + __ldcg(part + d) * w_other;
    }
    out[static_cast<std::int64_t>(h) * hd + d] = ho / hl;
  }
  if (threadIdx.x == 0) counters[slot] = 0;
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
// once per query tile instead of once per query. kLanes neighbouring lanes
// share a query row, each owning the dimensions d = part + kLanes i: they add
// their partial dot products with log2(kLanes) shuffles, so all of them hold
// every score, and their shared-memory reads fall in consecutive banks.
// Every thread owns kDimsPerThread dimensions: heads up to 64 wide take 4
// lanes a query, up to 128 wide 8 (4 lanes at 128 needed 255 registers and
// ran slower than the one-block-per-query kernel on an H100).
constexpr int kTileQ = 32, kTileK = 32, kDimsPerThread = 16;

// Lanes per query for a head_dim, or 0 where the tiled kernel does not apply.
int tiled_attention_lanes(int head_dim) {
  if (head_dim % 4 == 0 && head_dim <= 4 * kDimsPerThread) return 4;
  if (head_dim % 8 == 0 && head_dim <= 8 * kDimsPerThread) return 8;
  return 0;
}

std::size_t tiled_attention_shared_bytes(int head_dim) {
  return sizeof(float) * 2 * static_cast<std::size_t>(kTileK) * head_dim;
}

template <int kLanes, typename Cache>
__global__ void __launch_bounds__(kTileQ* kLanes)
    attention_tiled_kernel(const float* q, Cache cache, const int* pos, AttentionArgs a, float* out) {
  extern __shared__ float shared[];
  const int hd = a.head_dim, dq = hd / kLanes;
  float* ks = shared;            // [kTileK][hd]
  float* vs = ks + kTileK * hd;  // [kTileK][hd]
  const std::int64_t first = select_sequence(a, q, out);
  const int h = blockIdx.x, t0 = blockIdx.y * kTileQ;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const auto keys = cache.keys(first, kvh, a);
  const auto values = cache.values(first, kvh, a);
  const int p0 = *pos;
  const std::int64_t q_stride = static_cast<std::int64_t>(a.n_heads) * hd;
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  const int part = threadIdx.x % kLanes, t = t0 + static_cast<int>(threadIdx.x) / kLanes;
  const bool valid = t < a.n_tokens;
  float qr[kDimsPerThread], o[kDimsPerThread];
#pragma unroll
  for (int i = 0; i < kDimsPerThread; ++i) {
    qr[i] = valid && i < dq ? q[t * q_stride + static_cast<std::int64_t>(h) * hd + part + kLanes * i] : 0.0f;
    o[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int last_key = p0 + min(t0 + kTileQ, a.n_tokens) - 1;  // the furthest key any row of this tile sees
  for (int j0 = 0; j0 <= last_key; j0 += kTileK) {
    __syncthreads();  // the previous tile is consumed
    for (int i = threadIdx.x; i < kTileK * hd; i += blockDim.x) {
      const int j = j0 + i / hd;
      ks[i] = j <= last_key ? keys(j, i % hd) : 0.0f;
      vs[i] = j <= last_key ? values(j, i % hd) : 0.0f;
    }
    __syncthreads();
    float score[kTileK];
    float tile_max = -INFINITY;
#pragma unroll
    for (int c = 0; c < kTileK; ++c) {
      float partial = 0.0f;
#pragma unroll
      for (int i = 0; i < kDimsPerThread; ++i) {
        if (i < dq) partial += qr[i] * ks[c * hd + part + kLanes * i];
      }
#pragma unroll
      for (int offset = 1; offset < kLanes; offset *= 2) partial += __shfl_xor_sync(0xffffffffu, partial, offset);
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
        if (i < dq) o[i] += score[c] * vs[c * hd + part + kLanes * i];
      }
    }
  }
  if (!valid) return;
  float* y = out + t * q_stride + static_cast<std::int64_t>(h) * hd + part;
#pragma unroll
  for (int i = 0; i < kDimsPerThread; ++i) {
    if (i < dq) y[kLanes * i] = o[i] / l;
  }
}

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
  const int threads = std::clamp((dim / 4 + 31) / 32 * 32, 32, 1024);
  rms_norm_kernel<<<rows, threads, 0, stream>>>(x, w, dim, eps, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void rope(const float* x, int rows, int tokens_per_sequence, int n_heads, int head_dim, const int* pos, double theta,
          bool half_split, float* out, cudaStream_t stream) {
  rope_kernel<<<rows, std::min(1024, (n_heads * head_dim / 2 + 31) / 32 * 32), sizeof(float) * head_dim, stream>>>(
      x, tokens_per_sequence, n_heads, head_dim, pos, theta, half_split, out);
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

namespace {
// A block per row, a thread per element up to 1024 (rows are a few thousand at most).
int row_threads(int dim) { return std::clamp((dim + 31) / 32 * 32, 32, 1024); }
}  // namespace

void layer_norm(const float* x, const float* w, const float* b, int rows, int dim, float eps, float* out,
                cudaStream_t stream) {
  layer_norm_kernel<<<rows, row_threads(dim), 0, stream>>>(x, w, b, dim, eps, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void mean_rows(const float* x, const std::int32_t* lengths, int batch, int seq_len, int dim, float* out,
               cudaStream_t stream) {
  mean_rows_kernel<<<batch, row_threads(dim), 0, stream>>>(x, lengths, seq_len, dim, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

void l2_normalize(const float* x, int rows, int dim, float* out, cudaStream_t stream) {
  l2_normalize_kernel<<<rows, row_threads(dim), 0, stream>>>(x, dim, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

namespace {
std::size_t attention_shared_bytes(int n_ctx, int head_dim) {
  return sizeof(float) * (static_cast<std::size_t>(n_ctx) + static_cast<std::size_t>(head_dim));
}

// The shared memory of one row's scores for `n_keys` keys, or why not.
int attention_shared_bytes_checked(int n_keys, int head_dim) {
  int device = 0, limit = 0;
  OCTET_CUDA_CHECK(cudaGetDevice(&device));
  OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const std::size_t need = attention_shared_bytes(n_keys, head_dim);
  if (need > static_cast<std::size_t>(limit)) {
    fail("CUDA attention keeps a context's scores in shared memory: {} tokens need {} bytes, this GPU has {}", n_keys,
         need, limit);
  }
  return static_cast<int>(need);
}
}  // namespace

void masked_attention_reserve(int seq_len, int head_dim) {
  OCTET_CUDA_CHECK(cudaFuncSetAttribute(masked_attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        attention_shared_bytes_checked(seq_len, head_dim)));
}

void masked_attention(const float* q, const float* k, const float* v, const std::int32_t* lengths, int batch,
                      int seq_len, int n_heads, int head_dim, float* out, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(n_heads), static_cast<unsigned>(seq_len), static_cast<unsigned>(batch));
  masked_attention_kernel<<<grid, 128, attention_shared_bytes(seq_len, head_dim), stream>>>(q, k, v, lengths, seq_len,
                                                                                            n_heads, head_dim, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

namespace {
template <typename Cache>
void reserve_attention_for(int n_ctx, int head_dim) {
  OCTET_CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<Cache>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        attention_shared_bytes_checked(n_ctx, head_dim)));
  const int shared_bytes = static_cast<int>(tiled_attention_shared_bytes(head_dim));
  if (tiled_attention_lanes(head_dim) == 4) {
    OCTET_CUDA_CHECK(cudaFuncSetAttribute(attention_tiled_kernel<4, Cache>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          shared_bytes));
  } else if (tiled_attention_lanes(head_dim) == 8) {
    OCTET_CUDA_CHECK(cudaFuncSetAttribute(attention_tiled_kernel<8, Cache>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          shared_bytes));
  }
}

// Attention over caches already holding this step's rows.
template <typename Cache>
void attend(const float* q, const Cache& cache, const int* pos, const AttentionArgs& a, const AttentionScratch& scratch,
            float* out, cudaStream_t stream) {
  const auto heads = static_cast<unsigned>(a.n_heads), sequences = static_cast<unsigned>(a.batch);
  const int lanes = tiled_attention_lanes(a.head_dim);
  if (a.n_tokens > 1 && lanes != 0) {
    const dim3 grid(heads, static_cast<unsigned>((a.n_tokens + kTileQ - 1) / kTileQ), sequences);
    const std::size_t shared = tiled_attention_shared_bytes(a.head_dim);
    if (lanes == 4) {
      attention_tiled_kernel<4><<<grid, kTileQ * 4, shared, stream>>>(q, cache, pos, a, out);
    } else {
      attention_tiled_kernel<8><<<grid, kTileQ * 8, shared, stream>>>(q, cache, pos, a, out);
    }
    OCTET_CUDA_CHECK(cudaGetLastError());
    return;
  }
  if (a.n_tokens == 1 && a.head_dim <= 32 * kDecodeDimsPerLane) {
    // Enough splits to give every SM blocks, none shorter than 32 keys.
    const int most = std::max(1, std::min(kMaxDecodeSplits, 264 / (a.n_heads * a.batch)));
    const int splits = std::clamp((a.n_ctx + 31) / 32, 1, most);
    attention_decode_kernel<<<dim3(heads, static_cast<unsigned>(splits), sequences), kDecodeWarps * 32, 0, stream>>>(
        q, cache, pos, a, splits, scratch.partial, scratch.counters, out);
    OCTET_CUDA_CHECK(cudaGetLastError());
    return;
  }
  const std::size_t shared = attention_shared_bytes(a.n_ctx, a.head_dim);
  attention_kernel<<<dim3(heads, static_cast<unsigned>(a.n_tokens), sequences), 128, shared, stream>>>(q, cache, pos, a,
                                                                                                       out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}
}  // namespace

void attention_reserve(int n_ctx, int head_dim) {
  reserve_attention_for<CacheF32>(n_ctx, head_dim);
  reserve_attention_for<CacheFp8>(n_ctx, head_dim);
}

std::size_t attention_partial_floats(int batch, int n_heads, int head_dim) {
  return static_cast<std::size_t>(batch) * n_heads * kMaxDecodeSplits * (static_cast<std::size_t>(head_dim) + 2);
}

void attention(const float* q, const float* k, const float* v, const KvCache& cache, const int* pos,
               const AttentionArgs& a, const AttentionScratch& scratch, float* out, cudaStream_t stream) {
  const std::int64_t kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * a.head_dim;
  if (cache.k_scale == nullptr) {
    auto* k_cache = static_cast<float*>(cache.k);
    auto* v_cache = static_cast<float*>(cache.v);
    kv_append_kernel<<<blocks_for(a.batch * a.n_tokens * kv_dim), kThreads, 0, stream>>>(k, v, k_cache, v_cache, pos,
                                                                                         kv_dim, a);
    OCTET_CUDA_CHECK(cudaGetLastError());
    attend(q, CacheF32{k_cache, v_cache}, pos, a, scratch, out, stream);
    return;
  }
  auto* k_codes = static_cast<std::uint8_t*>(cache.k);
  auto* v_codes = static_cast<std::uint8_t*>(cache.v);
  const int warps = std::min(8, 2 * a.n_kv_heads);
  kv_append_fp8_kernel<<<a.batch * a.n_tokens, 32 * warps, 0, stream>>>(k, v, k_codes, v_codes, cache.k_scale,
                                                                        cache.v_scale, pos, a);
  OCTET_CUDA_CHECK(cudaGetLastError());
  attend(q, CacheFp8{k_codes, v_codes, cache.k_scale, cache.v_scale}, pos, a, scratch, out, stream);
}

void argmax_rows(const float* x, int rows, int cols, std::int32_t* out, cudaStream_t stream) {
  argmax_rows_kernel<<<rows, kThreads, 0, stream>>>(x, cols, out);
  OCTET_CUDA_CHECK(cudaGetLastError());
}

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
