// The CUDA kernels behind the GPU backend, as launch functions on device
// pointers, each enqueued on `stream`. Plain C++ (no CUDA syntax) so that the
// backend, compiled as C++20, can call them. Activations are float32 rows;
// `pos` is a device pointer to the position of the step's first token, so that
// a captured decode step replays for any position.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace octet::cuda {

// out[t] = table[ids[t]]. Ids are checked on the host before they are uploaded.
void embedding(const float* table, std::int64_t dim, const std::int32_t* ids, int n, float* out, cudaStream_t stream);

// out = x / sqrt(mean(x^2) + eps) * w, per row.
void rms_norm(const float* x, const float* w, int rows, int dim, float eps, float* out, cudaStream_t stream);

// Rotary embedding of `rows` tokens, sequences of tokens_per_sequence rows
// one after another, each at positions *pos, *pos + 1, ...; angles in
// double, as the CPU backend computes them. half_split: Hugging Face's
// (i, i + head_dim/2) pairs; otherwise adjacent (2i, 2i+1) pairs.
void rope(const float* x, int rows, int tokens_per_sequence, int n_heads, int head_dim, const int* pos, double theta,
          bool half_split, float* out, cudaStream_t stream);

void silu_mul(const float* gate, const float* up, std::int64_t n, float* out, cudaStream_t stream);
void add(const float* a, const float* b, std::int64_t n, float* out, cudaStream_t stream);

// Elementwise activations: GELU in its exact erf form, tanh, ReLU.
enum class Activation { Gelu, Tanh, Relu };
void activation(Activation f, const float* x, std::int64_t n, float* out, cudaStream_t stream);
// y[r, c] += bias[c] for `rows` rows of n: a matmul's bias, after the product.
void add_bias(float* y, const float* bias, int rows, int n, cudaStream_t stream);

// The encoder's ops. Lengths are device i32 per sequence, each clamped to
// 1..seq_len (EncoderSession makes them; a kernel cannot report a bad one).
// out = (x - mean) / sqrt(var + eps) * w + b, per row; mean and variance in double, as the CPU.
void layer_norm(const float* x, const float* w, const float* b, int rows, int dim, float eps, float* out,
                cudaStream_t stream);
// out[b] = the mean of sequence b's first lengths[b] rows (of seq_len), summed in double.
void mean_rows(const float* x, const std::int32_t* lengths, int batch, int seq_len, int dim, float* out,
               cudaStream_t stream);
// Each row divided by its Euclidean norm (at least 1e-12).
void l2_normalize(const float* x, int rows, int dim, float* out, cudaStream_t stream);
// q, k, v [batch * seq_len, n_heads * head_dim]: every row of sequence b
// attends to that sequence's first lengths[b] rows, without a causal mask.
void masked_attention(const float* q, const float* k, const float* v, const std::int32_t* lengths, int batch,
                      int seq_len, int n_heads, int head_dim, float* out, cudaStream_t stream);
// As attention_reserve, for sequences of seq_len.
void masked_attention_reserve(int seq_len, int head_dim);

// For each of `batch` sequences (rows sequence after sequence, each with
// its own n_ctx cache rows): appends its k and v ([n_tokens, kv_dim]) to its
// caches at rows *pos.., then causal softmax attention of its q over its
// cache rows 0..*pos + t, as cpu::attention.
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
// ([batch * n_ctx, n_kv_heads]), written with cpu::attention's arithmetic.
struct KvCache {
  void* k;
  void* v;
  float* k_scale = nullptr;
  float* v_scale = nullptr;
};
void attention(const float* q, const float* k, const float* v, const KvCache& cache, const int* pos,
               const AttentionArgs& args, const AttentionScratch& scratch, float* out, cudaStream_t stream);
// Lets the attention kernel use the shared memory a context of n_ctx needs;
// throws octet::Error when the device cannot give that much.
void attention_reserve(int n_ctx, int head_dim);

// out[r] = the index of row r's largest value, the first on ties (as
// octet::argmax; a NaN never wins): greedy decoding without the logits
// leaving the GPU.
void argmax_rows(const float* x, int rows, int cols, std::int32_t* out, cudaStream_t stream);

// Per-row E4M3 quantization: q[r, :k] = e4m3(x[r] * (448 / absmax_r)) with
// saturation, columns k..k_padded zero, scale[r] = absmax_r / 448 (the same
// float arithmetic as octet::quantize_row_fp8 on the CPU).
void quantize_rows_fp8(const float* x, int rows, int k, int k_padded, std::uint8_t* q, float* scale,
                       cudaStream_t stream);
// The decode-sized FP8 product with activation quantization and both scales
// fused: y[i, j] = xs[i] * w_scale[j] * sum_p e4m3(x[i, p] / xs[i]) * e4m3(w[j, p])
// for m float rows x of k, with xs and the codes exactly as quantize_rows_fp8
// makes them. Weight rows are k_padded bytes. For gemv_fp8_fits(m, k_padded):
// every block keeps the m code rows in shared memory. The MMA takes up to 16
// tokens, but every block quantizes all m rows itself, so its reads of x grow
// with m: above 8 rows cuBLASLt runs the product.
inline constexpr int kGemvMaxRows = 8;
inline constexpr int kGemvMaxSharedBytes = 40 * 1024;
bool gemv_fp8_fits(int m, int k_padded);
void gemv_fp8(const float* x, int k, const std::uint8_t* w, const float* w_scale, float* y, int m, int n, int k_padded,
              cudaStream_t stream);

// x converted to bf16 rows of k_padded (zero-padded) for the bf16 GEMM: float
// weights once at upload, activations every step.
void convert_rows_bf16(const float* x, int rows, int k, int k_padded, std::uint16_t* out, cudaStream_t stream);

// y[m, n] = acc[m, n] * (row_scale[m] * col_scale[n]) for the first n_cols of
// acc's n_padded columns; a null scale pointer means no scale.
void scale_product(const float* acc, int rows, int n_cols, int n_padded, const float* row_scale, const float* col_scale,
                   float* y, cudaStream_t stream);

}  // namespace octet::cuda
