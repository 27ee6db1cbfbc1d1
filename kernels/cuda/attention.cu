// Attention: the decoder's causal attention over its KV cache (float or FP8),
// for prefill (tiled) and decode (split over the keys), and the encoder's
// masked attention. Lengths are device i32 per sequence, each clamped to
// 1..seq_len (EncoderSession makes them; a kernel cannot report a bad one).
#include "kernels/cuda/attention.h"

#include "kernels/cuda/cuda_common.cuh"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

namespace octet::cuda {

namespace {

// Sequence b's n_tokens rows of k and v go to its cache rows slot n_ctx + pos...
__global__ void kv_append_kernel(const float* k, const float* v, float* k_cache, float* v_cache,
                                 const DeviceSequence* seqs, std::int64_t kv_dim, AttentionArgs a) {
  const std::int64_t per_sequence = a.n_tokens * kv_dim, n = a.batch * per_sequence;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const DeviceSequence seq = seqs[i / per_sequence];
    const std::int64_t at = (static_cast<std::int64_t>(seq.slot) * a.n_ctx + seq.pos) * kv_dim + i % per_sequence;
    k_cache[at] = k[i];
    v_cache[at] = v[i];
  }
}

// The same into an FP8 cache: one warp per (new row, key/value head, k or v)
// quantizes the head's slice, with the float arithmetic of
// octet::quantize_row_fp8 (so both backends store the same codes and scales).
// Grid: one block per new row (sequence after sequence).
__global__ void kv_append_fp8_kernel(const float* k, const float* v, std::uint8_t* k_codes, std::uint8_t* v_codes,
                                     float* k_scale, float* v_scale, const DeviceSequence* seqs, AttentionArgs a) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32, hd = a.head_dim;
  const std::int64_t r = blockIdx.x, kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * hd;
  const DeviceSequence seq = seqs[r / a.n_tokens];
  const std::int64_t row = static_cast<std::int64_t>(seq.slot) * a.n_ctx + seq.pos + r % a.n_tokens;  // its cache row
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
__device__ std::int64_t select_sequence(const AttentionArgs& a, const DeviceSequence* seqs, const float*& q,
                                        float*& out) {
  const std::int64_t b = blockIdx.z;
  const std::int64_t q_rows = b * a.n_tokens * a.n_heads * a.head_dim;
  q += q_rows;
  out += q_rows;
  return static_cast<std::int64_t>(seqs[b].slot) * a.n_ctx;
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
__global__ void attention_kernel(const float* q, Cache cache, const DeviceSequence* seqs, AttentionArgs a, float* out) {
  extern __shared__ float shared[];
  float* scores = shared;        // [n_ctx]
  float* qh = shared + a.n_ctx;  // [head_dim]
  const std::int64_t first = select_sequence(a, seqs, q, out);
  const int h = blockIdx.x, t = blockIdx.y;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const std::int64_t q_row = (static_cast<std::int64_t>(t) * a.n_heads + h) * a.head_dim;
  for (int d = threadIdx.x; d < a.head_dim; d += blockDim.x) qh[d] = q[q_row + d];
  __syncthreads();
  attend_row(qh, cache.keys(first, kvh, a), cache.values(first, kvh, a), seqs[blockIdx.z].pos + t + 1, a.head_dim,
             scores, out + q_row);
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
    attention_decode_kernel(const float* q, Cache cache, const DeviceSequence* seqs, AttentionArgs a, int splits,
                            float* partial,
                            unsigned* counters, float* out) {
  __shared__ float warp_m[kDecodeWarps], warp_l[kDecodeWarps], warp_o[kDecodeWarps][32 * kDecodeDimsPerLane];
  __shared__ bool last_block;
  const std::int64_t first = select_sequence(a, seqs, q, out);
  const int h = blockIdx.x, split = blockIdx.y, hd = a.head_dim;
  const int slot = h + static_cast<int>(blockIdx.z) * a.n_heads;  // this sequence's head in partial and counters
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const int n_keys = seqs[blockIdx.z].pos + 1, per_split = (n_keys + splits - 1) / splits;
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
    attention_tiled_kernel(const float* q, Cache cache, const DeviceSequence* seqs, AttentionArgs a, float* out) {
  extern __shared__ float shared[];
  const int hd = a.head_dim, dq = hd / kLanes;
  float* ks = shared;            // [kTileK][hd]
  float* vs = ks + kTileK * hd;  // [kTileK][hd]
  const std::int64_t first = select_sequence(a, seqs, q, out);
  const int h = blockIdx.x, t0 = blockIdx.y * kTileQ;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const auto keys = cache.keys(first, kvh, a);
  const auto values = cache.values(first, kvh, a);
  const int p0 = seqs[blockIdx.z].pos;
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

}  // namespace

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
void attend(const float* q, const Cache& cache, const DeviceSequence* seqs, const AttentionArgs& a,
            const AttentionScratch& scratch, float* out, cudaStream_t stream) {
  const auto heads = static_cast<unsigned>(a.n_heads), sequences = static_cast<unsigned>(a.batch);
  const int lanes = tiled_attention_lanes(a.head_dim);
  if (a.n_tokens > 1 && lanes != 0) {
    const dim3 grid(heads, static_cast<unsigned>((a.n_tokens + kTileQ - 1) / kTileQ), sequences);
    const std::size_t shared = tiled_attention_shared_bytes(a.head_dim);
    if (lanes == 4) {
      attention_tiled_kernel<4><<<grid, kTileQ * 4, shared, stream>>>(q, cache, seqs, a, out);
    } else {
      attention_tiled_kernel<8><<<grid, kTileQ * 8, shared, stream>>>(q, cache, seqs, a, out);
    }
    OCTET_CUDA_CHECK(cudaGetLastError());
    return;
  }
  if (a.n_tokens == 1 && a.head_dim <= 32 * kDecodeDimsPerLane) {
    // Enough splits to give every SM blocks, none shorter than 32 keys.
    const int most = std::max(1, std::min(kMaxDecodeSplits, 264 / (a.n_heads * a.batch)));
    const int splits = std::clamp((a.n_ctx + 31) / 32, 1, most);
    attention_decode_kernel<<<dim3(heads, static_cast<unsigned>(splits), sequences), kDecodeWarps * 32, 0, stream>>>(
        q, cache, seqs, a, splits, scratch.partial, scratch.counters, out);
    OCTET_CUDA_CHECK(cudaGetLastError());
    return;
  }
  const std::size_t shared = attention_shared_bytes(a.n_ctx, a.head_dim);
  attention_kernel<<<dim3(heads, static_cast<unsigned>(a.n_tokens), sequences), 128, shared, stream>>>(q, cache, seqs,
                                                                                                       a, out);
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

void attention(const float* q, const float* k, const float* v, const KvCache& cache, const DeviceSequence* seqs,
               const AttentionArgs& a, const AttentionScratch& scratch, float* out, cudaStream_t stream) {
  const std::int64_t kv_dim = static_cast<std::int64_t>(a.n_kv_heads) * a.head_dim;
  if (cache.k_scale == nullptr) {
    auto* k_cache = static_cast<float*>(cache.k);
    auto* v_cache = static_cast<float*>(cache.v);
    kv_append_kernel<<<blocks_for(a.batch * a.n_tokens * kv_dim), kThreads, 0, stream>>>(k, v, k_cache, v_cache, seqs,
                                                                                         kv_dim, a);
    OCTET_CUDA_CHECK(cudaGetLastError());
    attend(q, CacheF32{k_cache, v_cache}, seqs, a, scratch, out, stream);
    return;
  }
  auto* k_codes = static_cast<std::uint8_t*>(cache.k);
  auto* v_codes = static_cast<std::uint8_t*>(cache.v);
  const int warps = std::min(8, 2 * a.n_kv_heads);
  kv_append_fp8_kernel<<<a.batch * a.n_tokens, 32 * warps, 0, stream>>>(k, v, k_codes, v_codes, cache.k_scale,
                                                                        cache.v_scale, seqs, a);
  OCTET_CUDA_CHECK(cudaGetLastError());
  attend(q, CacheFp8{k_codes, v_codes, cache.k_scale, cache.v_scale}, seqs, a, scratch, out, stream);
}

}  // namespace octet::cuda
