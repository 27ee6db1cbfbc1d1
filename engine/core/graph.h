// A model as a graph of named nodes. Built once per model and token count by
// models/<family>.cpp; the executor plans its buffers and runs it on a backend.
// Every value has a name ("blk.3.attn_norm") so any intermediate can be found
// and compared against a reference run.
#pragma once

#include "engine/core/rope_frequency.h"
#include "engine/core/tensor.h"

#include <string>
#include <string_view>
#include <vector>

namespace octet {

enum class OpKind {
  Embedding,  // (table [vocab, d], ids i32 [T]) -> [T, d]
  MatMul,     // (x [T, K], w [N, K], optional bias [N]) -> x w^T (+ bias) [T, N]
  RmsNorm,    // (x [T, d], w [n]) -> [T, d]: every n values (n divides d: a row, or a head of one) normalized
  LayerNorm,  // (x [T, d], w [d], b [d]) -> (x - mean) / sqrt(var + eps) * w + b
  // Decoders run `batch` sequences of T tokens each, all at positions pos..pos+T-1
  // (rows sequence after sequence); each sequence has its own n_ctx cache rows.
  Rope,       // (x [B * T, heads * head_dim]) -> rotated by position
  Attention,  // (q, k, v, k_cache, v_cache [B * n_ctx, kv]) -> [B * T, heads * head_dim]; appends k, v to the caches
              // An FP8 cache (F8E4M3 caches) adds k_scale, v_scale [B * n_ctx, kv_heads]: value = code * scale.
  SiluMul,    // (gate [T, F], up [T, F]) -> silu(gate) * up
  Add,        // (a, b) same shape -> a + b
  LastRows,   // (x [B * T, d]) -> [B, d]: the last row of each of B sequences
  Gelu,       // (x) -> x * Phi(x), the exact erf form
  GeluTanh,   // (x) -> 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): GPT-2's gelu_new
  Tanh,       // (x) -> tanh(x)
  Relu,       // (x) -> max(x, 0)
  // Encoders: (q, k, v [B * T, heads * head_dim], lengths i32 [B]) -> [B * T, heads * head_dim];
  // every token of sequence b attends to its first lengths[b] tokens (no causal mask).
  MaskedAttention,
  FirstRows,    // (x [B * T, d]) -> [B, d]: the first row of each of B sequences
  MeanRows,     // (x [B * T, d], lengths i32 [B]) -> [B, d]: the mean of sequence b's first lengths[b] rows
  L2Normalize,  // (x [R, d]) -> each row divided by its Euclidean norm
  // (x [R, N]) -> i32 [R]: the index of each row's largest value, the first on
  // ties (octet::argmax); greedy decoding, so that only ids leave a GPU.
  Argmax,
};
std::string_view op_name(OpKind op);

// Models name every value of their N-th transformer block "blk.N.<what>"
// (e.g. "blk.3.attn_norm"); this returns N, or -1 for a value outside the
// blocks. Placement (--gpu-layers) splits a graph by it.
int block_of(std::string_view value_name);

// Rotary layouts: Hugging Face rotates (i, i + head_dim/2) pairs; the original
// Meta / llama2.c weights rotate adjacent (2i, 2i+1) pairs.
enum class RopeLayout { HalfSplit, Interleaved };

struct NodeParams {
  float eps = 0.0f;                                // RmsNorm, LayerNorm
  double rope_theta = 0.0;                         // Rope
  RopeLayout rope_layout = RopeLayout::HalfSplit;  // Rope
  RopeScaling rope_scaling = {};                   // Rope
  int head_dim = 0;                                // Rope, Attention, MaskedAttention
  int n_heads = 0;                                 // Attention (query heads), MaskedAttention
  int n_kv_heads = 0;                              // Attention
  int batch = 1;                                   // Rope, Attention: sequences in the step
  // MaskedAttention: the backend may round q, k, v and the softmax weights to
  // bf16 for the two products (float sums), where its hardware multiplies
  // bf16 fast (an int8 model's encoder: the int8 matmuls around it err more).
  bool bf16_attention = false;
  // Attention, MaskedAttention: the backend may take a prompt's two products
  // in integers, where it has such kernels (an int8 model): the scores q . k
  // in int8, each query row and key quantized per head, and the weights . v
  // in int16 (bf16_attention first where the hardware has both).
  bool integer_attention = false;
};

enum class ValueKind {
  Input,         // bound by the executor each step (token ids)
  Weight,        // bound at build time, read-only
  State,         // allocated once by the executor, kept across steps (KV cache)
  Intermediate,  // placed in the executor's arena by the planner
};

struct Value {
  std::string name;
  DType dtype;
  Shape shape;
  ValueKind kind;
  Tensor tensor;  // weights: the data; others: bound by the executor
};

struct Node {
  OpKind op;
  std::vector<int> inputs;  // indices into Graph::values()
  int output;
  NodeParams params;
};

class Graph {
 public:
  int add_input(std::string name, DType dtype, Shape shape);
  int add_weight(std::string name, Tensor tensor);
  int add_state(std::string name, DType dtype, Shape shape);
  // Adds a node whose output value (float32 unless `dtype` says) is called `name`.
  int add_node(OpKind op, std::string name, std::vector<int> inputs, Shape shape, NodeParams params = {},
               DType dtype = DType::F32);
  void set_output(int value) { output_ = value; }

  const std::vector<Value>& values() const { return values_; }
  std::vector<Value>& values() { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  int output() const { return output_; }
  int find(std::string_view name) const;  // -1 when absent
  // Every value is read after a step (calibration): a backend then writes
  // each one, even where it could fuse a producer into its only reader and
  // skip writing the value between them.
  void keep_values() { keep_values_ = true; }
  bool values_kept() const { return keep_values_; }

 private:
  int add_value(Value value);
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  int output_ = -1;
  bool keep_values_ = false;
};

}  // namespace octet
