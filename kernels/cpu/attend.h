// The inner step both attention kernels share: a block of query rows of one
// head against keys and values, each `kv_stride` floats after the previous
// (a head's slice of consecutive rows). out = softmax(q . k * scale) v, with
// the two products on oneDNN's sgemm: one pass over the keys serves every row
// of the block (a row at a time, prefill attention ran at a third of the
// speed of the matmuls around it).
#pragma once

#include <cstddef>
#include <cstdint>

namespace octet::cpu {

// Query rows per block: enough that each key, once loaded, serves many rows;
// few enough that the causal triangle inside a block (computed, then masked) costs little.
constexpr int kAttendBlockRows = 32;

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
};

// Floats of `scores` scratch attend_block needs when its rows see at most `max_keys` keys.
constexpr std::size_t attend_block_scratch(int max_keys) {
  return static_cast<std::size_t>(kAttendBlockRows) * static_cast<std::size_t>(max_keys);
}

// b.n_rows <= kAttendBlockRows. Runs on the calling thread (oneDNN's sgemm
// uses one thread inside an OpenMP region).
void attend_block(const QueryBlock& b, float* scores);

}  // namespace octet::cpu
