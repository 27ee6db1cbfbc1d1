// The CPU kernels as plain functions on float32 rows, so each one can be
// tested against a float64 reference. Rows are contiguous, row-major.
// Loops over rows run on OpenMP threads.
#pragma once

#include "engine/core/backend.h"
#include "engine/core/graph.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace octet::cpu {

// out[t] = table[ids[t]]; throws octet::Error for an id outside [0, vocab).
void embedding(const float* table, std::int64_t vocab, std::int64_t dim, const std::int32_t* ids, std::int64_t n,
               float* out);
// The same from an int8 table with a scale per row: out[t] = table[ids[t]] *
// scale[ids[t]], in float, as dequantize() computes it.
void embedding_int8(const std::int8_t* table, const float* scale, std::int64_t vocab, std::int64_t dim,
                    const std::int32_t* ids, std::int64_t n, float* out);

// out = x / sqrt(mean(x^2) + eps) * w, per row of `dim` elements; with `q`
// and `q_scale`, each output row also quantized to int8 as layer_norm does.
void rms_norm(const float* x, const float* w, std::int64_t rows, std::int64_t dim, float eps, float* out,
              std::int8_t* q = nullptr, float* q_scale = nullptr);

// Where sequence b's rows are among a step's: [first, first + count). A
// sequence laid out by the executor (n_tokens set) says; otherwise every
// sequence has `uniform` rows, one after another.
struct SequenceRows {
  std::int64_t first, count;
};
inline SequenceRows rows_of(std::span<const SequenceStep> sequences, std::size_t b, std::int64_t uniform) {
  const SequenceStep& s = sequences[b];
  if (s.n_tokens > 0) return {s.first_row, s.n_tokens};
  return {static_cast<std::int64_t>(b) * uniform, uniform};
}

// The cosine and sine of each pair's angle at positions 0, 1, ..., as rope
// rotates by them: computed in double once per position and kept as floats
// (recomputing them per row, pow and sincos in double, was 7% of int8
// prefill on the 110M shape). rope grows the table to the positions it
// meets and starts it afresh for other frequencies or another head_dim.
class RopeAngles {
 public:
  // Makes the table hold positions [0, positions) for these frequencies.
  void cover(const RopeFrequencies& freqs, int head_dim, std::int64_t positions);
  // Room for `positions` of head_dim, so that covering up to them allocates
  // nothing (a decode step); untouched, the room costs no resident memory.
  void reserve(std::int64_t positions, int head_dim) { table_.reserve(static_cast<std::size_t>(positions * head_dim)); }
  // The head_dim / 2 pairs' cosines, then their sines, at `position` (< the positions covered).
  const float* at(std::int64_t position) const { return table_.data() + position * head_dim_; }

 private:
  RopeFrequencies freqs_;
  int head_dim_ = 0;
  std::int64_t positions_ = 0;
  std::vector<double> inv_freq_;  // rope_inv_freq of each pair
  std::vector<float> table_;
};

// Rotary position embedding of `rows` tokens, each row holding `n_heads` heads
// of `head_dim` (even) values. The rows are the sequences' (rows_of, with
// `seq_len` rows each where they do not say), one after another, sequence b
// at positions sequences[b].pos, +1, ....
// Pair i turns by rope_inv_freq(freqs, i, head_dim) radians per position,
// the cosines and sines kept in `angles`.
void rope(const float* x, std::int64_t rows, std::int64_t seq_len, int n_heads, int head_dim,
          std::span<const SequenceStep> sequences, const RopeFrequencies& freqs, RopeAngles& angles, RopeLayout layout,
          float* out);

// out = (x - mean) / sqrt(var + eps) * w + b, per row of `dim` elements.
// With `q` and `q_scale`, each output row is also quantized to int8 as
// quantize_row_int8 does (q [rows, dim], q_scale [rows]) while it is in
// cache: an int8 matmul's input, without another pass over memory. With
// `x2`, x is x + x2 (a residual add's, summed in float as add() does),
// added as each row is read rather than written out by the add first.
void layer_norm(const float* x, const float* w, const float* b, std::int64_t rows, std::int64_t dim, float eps,
                float* out, std::int8_t* q = nullptr, float* q_scale = nullptr, const float* x2 = nullptr);

// GELU, tanh and silu * up are in eltwise_f32.h (oneDNN's vectorized kernels).
void add(const float* a, const float* b, std::int64_t n, float* out);
void relu(const float* x, std::int64_t n, float* out);
// y[r, :] += bias, for `rows` rows of `cols`.
void add_bias(float* y, const float* bias, std::int64_t rows, std::int64_t cols);

struct AttentionShape {
  int n_tokens;    // new tokens in this step, per sequence, where the sequences do not say (rows_of)
  int n_heads;     // query heads
  int n_kv_heads;  // key/value heads; n_heads is a multiple (grouped-query attention)
  int head_dim;
  int n_ctx;  // cache rows per slot
  // Per sequence: its cache slot (rows slot * n_ctx ..) and the position of its first new token.
  std::span<const SequenceStep> sequences;
  // The products of sequences with a prompt's rows (kInt8ScoreRows or more)
  // in integers, where the build has the kernels (int8_scores_built): the
  // scores q . k in int8, each query row and key quantized per head
  // (scores_int8.h), and with head_dim 64 or 128 the weights . v in int16
  // (values_int16.h). An int8 model's prefill; the softmax stays float.
  bool integer_attention = false;
};
// One attention's keys and values, rows [slots * n_ctx, n_kv_heads * head_dim]:
// float (no scales), or the FP8 cache: E4M3 codes standing for code * scale,
// with one scale per row and key/value head ([slots * n_ctx, n_kv_heads]),
// absmax / 448 of that head's slice of the row (octet::quantize_row_fp8).
struct KvCache {
  void* k;
  void* v;
  float* k_scale = nullptr;
  float* v_scale = nullptr;
  bool fp8() const { return k_scale != nullptr; }
};
// For each sequence b (slot s, first position p): appends its k and v rows to
// the cache rows s * n_ctx + p.., then causal softmax attention of its q rows
// over its cache rows 0..p+t (in an FP8 cache, the values the codes stand for:
// a token's own key is read back quantized, as later steps will read it).
// q, out: [batch * n_tokens, n_heads * head_dim]; k, v: [batch * n_tokens,
// n_kv_heads * head_dim]. `scratch` holds attention_scratch_floats(n_ctx, ...).
void attention(const float* q, const float* k, const float* v, const KvCache& cache, const AttentionShape& shape,
               std::span<float> scratch, float* out);

// Floats of scratch either attention kernel needs for rows that see at most
// `max_keys` keys, on this many OpenMP threads; `fp8_head_dim`: an FP8
// cache's head width (each thread decodes a head's keys and values), 0 for
// float; `int8_head_dim`: the head width where AttentionShape::integer_attention
// may be set (each thread quantizes a head's keys and values), else 0.
std::size_t attention_scratch_floats(int max_keys, int fp8_head_dim = 0, int int8_head_dim = 0);

struct MaskedAttentionShape {
  int batch;    // sequences
  int seq_len;  // tokens per sequence, padding included
  int n_heads;
  int head_dim;
  // The products in integers as AttentionShape::integer_attention says
  // (sequences of kInt8ScoreRows tokens or more).
  bool integer_attention = false;
};
// Bidirectional attention within each sequence over its first lengths[b]
// tokens (1 <= lengths[b] <= seq_len). q, k, v, out: [batch * seq_len,
// n_heads * head_dim]. `scratch` holds masked_attention_scratch_floats(seq_len,
// head_dim where shape.integer_attention, else 0).
// With `out_q` and `out_scale`, each output row is also quantized to int8 as
// quantize_row_int8 does ([rows, dim], [rows]), the input of the int8 matmul
// after it: where there are sequences for every thread, each thread's
// sequence while its rows are in that core's cache.
std::size_t masked_attention_scratch_floats(int seq_len, int int8_head_dim = 0);
void masked_attention(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                      const MaskedAttentionShape& shape, std::span<float> scratch, float* out,
                      std::int8_t* out_q = nullptr, float* out_scale = nullptr);

// Mean pooling: out[b] = the mean of the first lengths[b] (1..seq_len) rows
// of sequence b in x [batch * seq_len, dim].
void mean_rows(const float* x, const std::int32_t* lengths, std::int64_t batch, std::int64_t seq_len, std::int64_t dim,
               float* out);
// out = x / max(||x||_2, 1e-12), per row of `dim` elements.
void l2_normalize(const float* x, std::int64_t rows, std::int64_t dim, float* out);

}  // namespace octet::cpu
