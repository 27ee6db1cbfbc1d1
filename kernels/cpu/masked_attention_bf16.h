// Encoder attention (masked_attention's contract, ops.h) with its two
// products in bf16 on oneDNN's brgemm kernels: AMX on Sapphire Rapids and
// later, AVX-512 BF16 on Cooper Lake and Zen 4. An int8 model's attention
// runs here where the CPU has AMX (NodeParams::bf16_attention), where the f32
// kernel's many small sgemms took a fifth of BERT-base int8's time. Without
// AMX the f32 kernel is the faster: on an Emerald Rapids host with AVX-512
// BF16 and no AMX, BERT-base int8's attention took 115-118 ms a batch of 32
// there against 200-204 ms here (2 threads).
//
// Each sequence in turn: q, k and v rounded to bf16 head by head ([heads,
// tokens, head_dim], the layout oneDNN's batched brgemm reads), scores =
// q k^T over every head in one call (float sums of exact bf16 products), a
// float softmax over the sequence's own keys rounded to bf16 (padding keys
// get weight 0), then out = p v in a second call, written back token-major.
// Primitives and buffers are made once per shape (prepare); a run allocates
// nothing. No oneDNN type appears in this header.
#pragma once

#include "kernels/cpu/ops.h"

#include <cstdint>
#include <memory>

namespace octet::cpu {

class MaskedAttentionBf16 {
 public:
  enum class Kernels {
    Amx,        // oneDNN's AMX brgemm only: declines elsewhere (what the backend uses)
    AnyBrgemm,  // AVX-512 BF16 too: lets tests check this kernel on CPUs without AMX
  };
  explicit MaskedAttentionBf16(Kernels kernels = Kernels::Amx);
  ~MaskedAttentionBf16();
  MaskedAttentionBf16(const MaskedAttentionBf16&) = delete;
  MaskedAttentionBf16& operator=(const MaskedAttentionBf16&) = delete;

  // Makes the primitives for sequences of `seq_len` tokens and `n_heads`
  // heads of `head_dim`; false where oneDNN would not run them on the bf16
  // brgemm kernels asked for here (the caller runs the f32 kernel instead).
  bool prepare(int seq_len, int n_heads, int head_dim);
  // masked_attention with bf16 products; false (nothing written) where
  // prepare declines the shape. Lengths outside 1..seq_len are refused.
  // With `out_q` and `out_scale`, each output row is also quantized to int8
  // as quantize_row_int8 does ([rows, dim], [rows]) while it is in cache:
  // the input of the int8 matmul after it.
  bool run(const float* q, const float* k, const float* v, const std::int32_t* lengths, const MaskedAttentionShape& s,
           float* out, std::int8_t* out_q = nullptr, float* out_scale = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet::cpu
