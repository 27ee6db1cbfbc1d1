// The inner step both attention kernels share: a block of query rows of one
// head against keys and values, each `kv_stride` floats after the previous
// (a head's slice of consecutive rows). out = softmax(q . k * scale) v, with
// the two products on oneDNN's sgemm: one pass over the keys serves every row
// of the block (a row at a time, prefill attention ran at a third of the
// speed of the matmuls around it).
#pragma once

#include "kernels/cpu/scores_int8.h"
#include "kernels/cpu/values_int16.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace octet::cpu {

// Query rows per block: enough that each key, once loaded, serves many rows;
// few enough that the causal triangle inside a block (computed, then masked)
// costs little (64 rather than 32: the 110M shape's prefill of 512 tokens
// spent 37.4-38.4 ms in attention instead of 42.8-44.4 on an Emerald Rapids
// host, 2 threads; 128 gave no more). Bidirectional (encoder) attention has
// no triangle: its blocks are taller, so the two products run as fewer,
// larger sgemms (BERT-base int8, batch 32 on Sapphire Rapids, 2 threads: 60
// -> 63 sentences/s).
constexpr int kAttendBlockRows = 64;
constexpr int kMaskedAttendBlockRows = 128;
constexpr int kMaxAttendBlockRows = std::max(kAttendBlockRows, kMaskedAttendBlockRows);

struct QueryBlock {
  const float* q;  // n_rows rows, q_stride floats apart
  std::int64_t q_stride;
  int n_rows;
  const float* k;  // keys and values, kv_stride floats apart
  const float* v;
  std::int64_t kv_stride;
  int n_keys;   // keys the first row sees
  bool causal;  // row r sees n_keys + r keys; otherwise every row sees n_keys
  int head_dim;
  float scale;
  float* out;  // n_rows rows, out_stride floats apart
  std::int64_t out_stride;
  // The keys quantized (scores_int8.h), at least the last row's: q . k in
  // int8 instead of float. Null: float.
  const Int8Keys* int8_keys = nullptr;
  // The values quantized (values_int16.h), at least the last row's: the
  // weights . v in int16 instead of float. Null: float.
  const Int16Values* int16_values = nullptr;
};

// Query rows of a sequence from which the kernel takes its products in
// integers, where asked (AttentionShape::integer_attention): a prompt's, not
// a decode step's (whose keys and values would be quantized for one row).
constexpr int kInt8ScoreRows = 16;

// Bytes of scratch attend_rows takes for keys and values of up to
// `max_keys` keys of head_dim in integers (int8 scores, int16 values).
inline std::size_t integer_attention_bytes(int max_keys, int head_dim) {
  return int8_keys_bytes(max_keys, head_dim) + int16_values_bytes(max_keys, head_dim);
}

// Rows t0.. t0 + n_rows - 1 of block b (causal: each sees t0 keys more).
inline QueryBlock rows_of_block(const QueryBlock& b, int t0, int n_rows) {
  QueryBlock rows = b;
  rows.q = b.q + t0 * b.q_stride;
  rows.out = b.out + t0 * b.out_stride;
  rows.n_rows = n_rows;
  if (b.causal) rows.n_keys = b.n_keys + t0;
  return rows;
}

// Floats of `scores` scratch attend_block needs for blocks of `block_rows`
// rows that see at most `max_keys` keys.
constexpr std::size_t attend_block_scratch(int max_keys, int block_rows = kAttendBlockRows) {
  return static_cast<std::size_t>(block_rows) * static_cast<std::size_t>(max_keys);
}

// Runs on the calling thread (oneDNN's sgemm uses one thread inside an OpenMP
// region); `scores` holds attend_block_scratch(keys of the last row, b.n_rows);
// 1 <= b.n_rows <= kMaxAttendBlockRows.
void attend_block(const QueryBlock& b, float* scores);

// attend_block over all of `rows` (one sequence's rows of one head, any
// number) in blocks of `block_rows`, on the calling thread. With
// `int8_scratch` (integer_attention_bytes(keys of the last row, head_dim)
// bytes, where int8_scores_built) and kInt8ScoreRows rows or more, the keys
// are quantized once for every block and the scores taken in int8, and
// where int16_values_fit the values too, for weights . v in int16.
void attend_rows(const QueryBlock& rows, int block_rows, float* scores, std::byte* int8_scratch);

// Runs attend_block on OpenMP threads for every block of `block_rows` query
// rows of `batch` sequences of `rows` query rows and `n_heads` heads, each
// thread on its own attend_block_scratch(max_keys, block_rows) share of
// `scratch`. `block_of(b, h, t0, n_rows)` gives the QueryBlock of sequence b,
// head h, rows t0.. t0 + n_rows - 1 (a block of no rows, where sequence b
// has fewer than `rows`, is skipped). Heads are the innermost work items, so
// that threads share the keys they read.
template <typename BlockOf>
void attend_blocks(int batch, int rows, int n_heads, int max_keys, int block_rows, float* scratch,
                   const BlockOf& block_of) {
  const int blocks = (rows + block_rows - 1) / block_rows;
  const std::int64_t work = static_cast<std::int64_t>(batch) * blocks * n_heads;
  // Dynamic: the blocks of a causal sequence grow with their position.
#pragma omp parallel for schedule(dynamic) if (work > 1)
  for (std::int64_t item = 0; item < work; ++item) {
    const int h = static_cast<int>(item % n_heads);
    const int t0 = static_cast<int>(item / n_heads % blocks) * block_rows;
    const int b = static_cast<int>(item / n_heads / blocks);
    const QueryBlock block = block_of(b, h, t0, std::min(block_rows, rows - t0));
    if (block.n_rows <= 0) continue;
    attend_block(block,
                 scratch + static_cast<std::size_t>(omp_get_thread_num()) * attend_block_scratch(max_keys, block_rows));
  }
}

// Runs attend_rows on OpenMP threads for all of each (sequence, head)'s
// `rows` query rows, `batch` sequences of `n_heads` heads, with the keys
// (and values) quantized once per sequence and head and the products in
// integers (where int8_scores_built): each thread on its own attend_block_scratch(max_keys,
// block_rows) share of `scratch` and integer_attention_bytes(max_keys,
// head_dim) share of `int8_scratch`. `block_of(b, h, 0, rows)` gives sequence b's rows
// of head h.
template <typename BlockOf>
void attend_heads_int8(int batch, int rows, int n_heads, int max_keys, int head_dim, int block_rows, float* scratch,
                       std::byte* int8_scratch, const BlockOf& block_of) {
  const std::size_t int8_bytes = integer_attention_bytes(max_keys, head_dim);
  const std::int64_t work = static_cast<std::int64_t>(batch) * n_heads;
#pragma omp parallel for schedule(dynamic) if (work > 1)
  for (std::int64_t item = 0; item < work; ++item) {
    const auto thread = static_cast<std::size_t>(omp_get_thread_num());
    attend_rows(block_of(static_cast<int>(item / n_heads), static_cast<int>(item % n_heads), 0, rows), block_rows,
                scratch + thread * attend_block_scratch(max_keys, block_rows), int8_scratch + thread * int8_bytes);
  }
}

}  // namespace octet::cpu
