// Attention: the decoder's causal attention over its KV cache (float or FP8),
// for prefill (tiled) and decode (split over the keys), and the encoder's
// masked attention. Lengths are device i32 per sequence, each clamped to
// 1..seq_len (EncoderSession makes them; a kernel cannot report a bad one).
// Launch functions on device pointers, each enqueued on `stream`: plain C++
// (no CUDA syntax), so that the backend, compiled as C++20, can call them.
#pragma once

#include "kernels/cuda/device_sequence.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace octet::cuda {

// q, k, v [batch * seq_len, n_heads * head_dim]: every row of sequence b
// attends to that sequence's first lengths[b] rows, without a causal mask.
void masked_attention(const float* q, const float* k, const float* v, const std::int32_t* lengths, int batch,
                      int seq_len, int n_heads, int head_dim, float* out, cudaStream_t stream);
// As attention_reserve, for sequences of seq_len.
void masked_attention_reserve(int seq_len, int head_dim);

// For each of `batch` sequences b (rows sequence after sequence; seqs[b] in
// device memory gives its cache slot, n_ctx rows from slot * n_ctx, and the
// position p of its first new token): appends its k and v ([n_tokens, kv_dim])
// to its slot's rows p.., then causal softmax attention of its q over its
// slot's rows 0..p + t, as cpu::attention.
// Prefill (n_tokens > 1; head_dim a multiple of 4 up to 64, or of 8 up to
// 128) runs a tiled kernel with an online softmax; other heads one block per
// query token and head.
struct AttentionArgs {
  int n_tokens, n_heads, n_kv_heads, head_dim, n_ctx;  // n_tokens and n_ctx per sequence
  int batch = 1;
};
// Decode (one token, head_dim up to 128) splits each head's keys over up to
// kMaxDecodeSplits blocks, which meet in `partial` (attention_partial_floats)
// and `counters` (batch * n_heads words, zero before the first call and left zero).
inline constexpr int kMaxDecodeSplits = 16;
struct AttentionScratch {
  float* partial;
  unsigned* counters;
};
std::size_t attention_partial_floats(int batch, int n_heads, int head_dim);
// A layer's caches in device memory, as cpu::KvCache: float rows (no
// scales), or E4M3 codes with a float scale per row and key/value head
// ([slots * n_ctx, n_kv_heads]), written with cpu::attention's arithmetic.
struct KvCache {
  void* k;
  void* v;
  float* k_scale = nullptr;
  float* v_scale = nullptr;
};
void attention(const float* q, const float* k, const float* v, const KvCache& cache, const DeviceSequence* seqs,
               const AttentionArgs& args, const AttentionScratch& scratch, float* out, cudaStream_t stream);
// Lets the attention kernel use the shared memory a context of n_ctx needs;
// throws octet::Error when the device cannot give that much.
void attention_reserve(int n_ctx, int head_dim);

}  // namespace octet::cuda
