#include "kernels/cpu/cpu_backend.h"

#include "engine/core/error.h"
#include "engine/quant/pruning.h"
#include "engine/quant/quant.h"
#include "engine/session/sampler.h"
#include "kernels/cpu/eltwise_f32.h"
#include "kernels/cpu/gemm_int8.h"
#include "kernels/cpu/gemm_int8_sparse24.h"
#include "kernels/cpu/gemv_int8_panels.h"
#include "kernels/cpu/masked_attention_bf16.h"
#include "kernels/cpu/matmul_f32.h"
#include "kernels/cpu/matmul_int8_dnnl.h"
#include "kernels/cpu/ops.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace octet {

namespace {

// A weight the backend holds as compressed 2:4 rows: int8 with 2:4 sparsity
// (holds_two_four) and rows short enough for exact int32 sums; longer ones
// run dense.
bool packs_as_two_four(const Tensor& w) { return holds_two_four(w) && w.dim(1) <= cpu::kSparse24MaxK; }

// A 2:4 int8 weight (packs_as_two_four) as the backend's compressed rows
// (kernels/cpu/gemm_int8_sparse24.h): [rows, the packed bytes over the rows,
// rounded up] (dim 0 stays the row count the matmul reads), its scales kept,
// QuantParams::packed_two_four set.
Tensor packed_two_four_rows(const Tensor& weight) {
  const std::int64_t n = weight.dim(0), k = weight.dim(1);
  Tensor packed = Tensor::zeros(DType::I8, {n, (cpu::sparse24_packed_bytes(n, k) + n - 1) / n});
  if (!cpu::pack_sparse24(weight.data<std::int8_t>(), n, k, packed.data_mut<std::uint8_t>())) {
    fail("cpu backend: a 2:4 weight [{}, {}] did not pack", n, k);  // packs_as_two_four said it would
  }
  auto params = std::make_shared<QuantParams>(*weight.quant());
  params->packed_two_four = true;
  return packed.with_quant(std::move(params));
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads) : n_threads_(n_threads) { use_threads(); }

  std::string name() const override { return "cpu"; }
  bool runs_mixed_steps() const override { return true; }
  bool runs_ragged_steps() const override { return true; }

  bool supports(OpKind op, DType dtype) const override {
    return dtype == DType::F32 || (op == OpKind::MatMul && (dtype == DType::I8 || dtype == DType::F8E4M3)) ||
           (op == OpKind::Embedding && dtype == DType::I8);
  }

  // Scratch for the largest step of `graph`, so that running it allocates nothing.
  void reserve(const Graph& graph, int n_ctx) override {
    use_threads();  // before the scratch is sized per thread
    grow(attention_scratch_, cpu::attention_scratch_floats(n_ctx));
    find_quantizing_producers(graph);
    find_nodes_run_by_their_reader(graph);
    find_outputs_read_as_int8_only(graph);
    find_sibling_matmuls(graph);
    for (const Node& node : graph.nodes()) {
      if (node.op == OpKind::Attention) {
        const int fp8_head_dim = node.inputs.size() > 5 ? node.params.head_dim : 0;  // an FP8 KV cache
        const int int8_head_dim = node.params.integer_attention ? node.params.head_dim : 0;
        grow(attention_scratch_, cpu::attention_scratch_floats(n_ctx, fp8_head_dim, int8_head_dim));
      }
      if (node.op == OpKind::Rope) rope_angles_.reserve(n_ctx, node.params.head_dim);
      if (node.op == OpKind::MaskedAttention) {
        const auto rows = graph.values()[node.inputs[0]].shape[0], batch = graph.values()[node.inputs[3]].shape[0];
        grow(attention_scratch_,
             cpu::masked_attention_scratch_floats(static_cast<int>(rows / batch),
                                                  node.params.integer_attention ? node.params.head_dim : 0));
        if (node.params.bf16_attention) {
          masked_attention_bf16_.prepare(static_cast<int>(rows / batch), node.params.n_heads, node.params.head_dim);
        }
      }
      if (node.op != OpKind::MatMul) continue;
      const Shape& x = graph.values()[node.inputs[0]].shape;
      const Value& w = graph.values()[node.inputs[1]];
      if (w.dtype == DType::F32) continue;  // float matmuls need no scratch
      const auto rows = static_cast<std::size_t>(x[0]),
                 tile = static_cast<std::size_t>(std::min<std::int64_t>(kW8TileRows, w.shape[0]) * x[1]);
      if (w.dtype == DType::F8E4M3) {
        grow(x_fp8_, rows * static_cast<std::size_t>(x[1]));
        grow(x_decoded_, rows * static_cast<std::size_t>(x[1]));
        grow(x_scale_, rows);
        grow(w_tile_, tile);
      } else if (w.tensor.quant() != nullptr && w.tensor.quant()->scheme == QuantScheme::Int8) {
        grow(x_int8_, static_cast<std::size_t>(x[0] * x[1]));
        grow(x_scale_, static_cast<std::size_t>(x[0]));
        if (x[0] > kDirectRows) grow(w_int8_tile_, tile);  // a 2:4 weight's rows expanded
        // oneDNN's primitives for this shape (no-op on CPUs without VNNI); prepare_weight packs the weight.
        matmul_int8_dnnl_.prepare(x[0], x[1], w.shape[0]);
        if (runs_with_reader_.contains(&node)) {  // and for matmul_then_gelu's blocks of rows
          const std::int64_t n = w.shape[0], block_rows = fused_block_rows(n);
          matmul_int8_dnnl_.prepare(std::min(block_rows, x[0]), x[1], n);
          if (x[0] % block_rows != 0) matmul_int8_dnnl_.prepare(x[0] % block_rows, x[1], n);
          grow(fused_block_, static_cast<std::size_t>(std::min(block_rows, x[0]) * n));
          grow(fused_int8_, static_cast<std::size_t>(x[0] * n));
          grow(fused_scale_, static_cast<std::size_t>(x[0]));
        }
      } else if (x[0] > kDirectRows) {
        grow(w_tile_, tile);
      }
    }
  }

  // An int8 matmul weight with 2:4 sparsity is packed once into compressed
  // rows (5/8 of the bytes, which is what a memory-bound decode step costs;
  // prefill expands them); another int8 weight is packed once for oneDNN's
  // brgemm kernels or the own panels kernels where the CPU has VNNI
  // (MatmulInt8Dnnl; the product finds the packed copy by the weight's
  // address); a weight the model already holds in either packed form is
  // taken as it is (pack_matmul_weights); every other weight is read where
  // it is.
  Tensor prepare_weight(const Tensor& weight, OpKind op) override {
    const QuantParams* q = weight.quant();
    if (op != OpKind::MatMul || weight.dtype() != DType::I8 || q == nullptr || q->scheme != QuantScheme::Int8) {
      return weight;
    }
    const void* data = weight.raw();
    if (q->packed_panels) {  // the model holds oneDNN's copy itself (pack_matmul_weights)
      if (!packed_int8_weights_.contains(data)) {
        if (!matmul_int8_dnnl_.adopt_panels(weight)) {
          fail("cpu backend: a weight [{}, {}] packed for another CPU's layout cannot run here", weight.dim(0),
               weight.dim(1));
        }
        packed_int8_weights_.emplace(data, weight);
      }
      return weight;
    }
    if (q->packed_two_four) return weight;  // the model holds the packed rows itself (pack_matmul_weights)
    if (const auto it = two_four_weights_.find(data); it != two_four_weights_.end()) return it->second.packed;
    if (packs_as_two_four(weight)) {
      const Tensor packed = packed_two_four_rows(weight);
      two_four_weights_.emplace(data, TwoFourWeight{weight, packed});
      return packed;
    }
    if (!packed_int8_weights_.contains(data) &&
        matmul_int8_dnnl_.pack(weight.data<std::int8_t>(), weight.dim(1), weight.dim(0))) {
      packed_int8_weights_.emplace(data, weight);  // keeps the address from being reused by another weight
      // Every product now reads the packed copy: a checkpoint's pages of this
      // weight leave the process's memory (read again only by a kernel that
      // declines the packed copy, or another backend, from the file).
      weight.release_file_pages();
    }
    return weight;
  }

  void forget_graph(const Graph& graph) override {
    for (const Node& node : graph.nodes()) {
      quantizing_producers_.erase(&node);
      read_as_int8_only_.erase(&node);
      runs_with_reader_.erase(&node);
      runs_with_siblings_.erase(&node);
    }
  }

  void begin_step(const StepContext& /*ctx*/) override {
    use_threads();
    prequantized_ = {};
    deferred_.reset();
    siblings_.clear();
  }

  // A node deferred to its reader runs alone if the step ends first.
  void run_step(std::uint64_t /*step_key*/, StepFunction enqueue) override {
    enqueue();
    run_deferred_alone();
    run_siblings_alone();
  }

  void run(const Node& node, std::span<Tensor* const> in, Tensor& out, const StepContext& ctx) override {
    // A value left in a GPU's memory (a copy the executor missed in a split
    // placement) would be a wild pointer here: refuse it by name instead.
    for (const Tensor* t : in) {
      if (t->device() != Device::Cpu) fail("cpu backend: {} reads a value in GPU memory", op_name(node.op));
    }
    if (out.device() != Device::Cpu) fail("cpu backend: {} writes to GPU memory", op_name(node.op));
    // A deferred node waits for the reader that runs both; any other node finds it run.
    if (deferred_ && !(&node == deferred_->reader && in[0]->raw() == deferred_->out->raw() &&
                       reads_before_writing(*deferred_, out))) {
      run_deferred_alone();
    }
    // Sibling matmuls wait for the last of their group, which runs them all;
    // any other node finds them run.
    const auto sibling = runs_with_siblings_.find(&node);
    const Node* last = sibling != runs_with_siblings_.end() ? sibling->second : &node;
    if (!siblings_.empty() &&
        !(last == siblings_.front().reader && in.size() >= 2 && in[0]->raw() == siblings_.front().inputs()[0]->raw())) {
      run_siblings_alone();
    }
    if (const auto reader = runs_with_reader_.find(&node);
        reader != runs_with_reader_.end() && may_defer(node, in, out, *reader->second)) {
      deferred_ = Deferred{&node, reader->second, {}, in.size(), &out, &ctx};
      std::copy(in.begin(), in.end(), deferred_->input_slots.begin());
      return;
    }
    if (sibling != runs_with_siblings_.end() && in.size() <= 3 && siblings_.size() + 1 < cpu::kMaxInt8Products) {
      siblings_.push_back(Deferred{&node, last, {}, in.size(), &out, &ctx});
      std::copy(in.begin(), in.end(), siblings_.back().input_slots.begin());
      return;
    }
    if (!siblings_.empty()) {
      if (run_with_siblings(node, in, out)) return;
      run_siblings_alone();
    }
    execute(node, in, out, ctx);
  }

 private:
  // Runs one node now (run() decides whether it waits for its reader).
  void execute(const Node& node, std::span<Tensor* const> in, Tensor& out, const StepContext& ctx) {
    const NodeParams& p = node.params;
    float* y = out.data_mut<float>();
    switch (node.op) {
      case OpKind::Embedding:
        if (const QuantParams* q = in[0]->quant()) {  // an int8 table (quantize_embedding)
          cpu::embedding_int8(in[0]->data<std::int8_t>(), q->scale.data<float>(), in[0]->dim(0), in[0]->dim(1),
                              in[1]->data<std::int32_t>(), in[1]->dim(0), y);
        } else {
          cpu::embedding(in[0]->data<float>(), in[0]->dim(0), in[0]->dim(1), in[1]->data<std::int32_t>(), in[1]->dim(0),
                         y);
        }
        return;
      case OpKind::MatMul:
        matmul(*in[0], *in[1], in.size() > 2 ? in[2]->data<float>() : nullptr, y, prequantized(node, *in[0]));
        return;
      case OpKind::LayerNorm: {
        const bool quantize = quantizes_output(node, out);
        // Of the sum of a deferred residual add's two inputs, which that add did not write.
        const bool of_sum = deferred_.has_value();
        const float* x = of_sum ? deferred_->inputs()[0]->data<float>() : in[0]->data<float>();
        const float* x2 = of_sum ? deferred_->inputs()[1]->data<float>() : nullptr;
        deferred_.reset();
        cpu::layer_norm(x, in[1]->data<float>(), in[2]->data<float>(), in[0]->dim(0), in[0]->dim(1), p.eps, y,
                        quantize ? pre_int8_.data() : nullptr, quantize ? pre_scale_.data() : nullptr, x2);
        if (quantize) prequantized_ = {node.output, y, out.dim(0), out.dim(1), pre_int8_.data(), pre_scale_.data()};
        return;
      }
      case OpKind::RmsNorm: {
        // Rows as long as the weight: a row of x, or one head of it (Qwen3's
        // q and k norms, which no matmul reads: whole rows are quantized).
        const bool quantize = quantizes_output(node, out) && in[1]->numel() == out.dim(1);
        cpu::rms_norm(in[0]->data<float>(), in[1]->data<float>(), in[0]->numel() / in[1]->numel(), in[1]->numel(),
                      p.eps, y, quantize ? pre_int8_.data() : nullptr, quantize ? pre_scale_.data() : nullptr);
        if (quantize) prequantized_ = {node.output, y, out.dim(0), out.dim(1), pre_int8_.data(), pre_scale_.data()};
        return;
      }
      case OpKind::Rope:
        cpu::rope(in[0]->data<float>(), in[0]->dim(0), tokens_per_sequence(node, in[0]->dim(0), ctx),
                  static_cast<int>(in[0]->dim(1) / p.head_dim), p.head_dim, ctx.sequences,
                  RopeFrequencies{p.rope_theta, p.rope_scaling}, rope_angles_, p.rope_layout, y);
        return;
      case OpKind::Attention: {
        const cpu::AttentionShape shape{static_cast<int>(tokens_per_sequence(node, in[0]->dim(0), ctx)),
                                        p.n_heads,
                                        p.n_kv_heads,
                                        p.head_dim,
                                        static_cast<int>(per_sequence(node, in[3]->dim(0))),
                                        ctx.sequences,
                                        p.integer_attention};
        cpu::KvCache cache{in[3]->raw_mut(), in[4]->raw_mut()};
        const DType cache_dtype = in.size() > 5 ? DType::F8E4M3 : DType::F32;
        if (in[3]->dtype() != cache_dtype || in[4]->dtype() != cache_dtype) {
          fail("cpu backend: attention's KV cache is {}, expected {}", dtype_name(in[3]->dtype()),
               dtype_name(cache_dtype));
        }
        if (in.size() > 5) {
          cache.k_scale = in[5]->data_mut<float>();
          cache.v_scale = in[6]->data_mut<float>();
        }
        cpu::attention(in[0]->data<float>(), in[1]->data<float>(), in[2]->data<float>(), cache, shape,
                       attention_scratch_, y);
        return;
      }
      case OpKind::SiluMul:
        if (quantizes_output(node, out) && read_as_int8_only_.contains(&node) &&
            row_scratch_.size() >= static_cast<std::size_t>(omp_get_max_threads() * out.dim(1))) {
          silu_mul_int8_rows(in[0]->data<float>(), in[1]->data<float>(), out.dim(0), out.dim(1));
          prequantized_ = {node.output, y, out.dim(0), out.dim(1), pre_int8_.data(), pre_scale_.data()};
        } else if (quantizes_output(node, out)) {
          const float* gate = in[0]->data<float>();
          const float* up = in[1]->data<float>();
          eltwise_and_quantize(out.dim(0), out.dim(1), y, [&](std::int64_t offset, std::int64_t n) {
            eltwise_.silu_mul(gate + offset, up + offset, n, y + offset);
          });
          prequantized_ = {node.output, y, out.dim(0), out.dim(1), pre_int8_.data(), pre_scale_.data()};
        } else {
          eltwise_.silu_mul(in[0]->data<float>(), in[1]->data<float>(), in[0]->numel(), y);
        }
        return;
      case OpKind::Add:
        cpu::add(in[0]->data<float>(), in[1]->data<float>(), in[0]->numel(), y);
        return;
      case OpKind::Gelu:
        if (deferred_) {  // its matmul's (run() checked): both run here, and only the int8 rows are written
          const Deferred matmul = *deferred_;
          deferred_.reset();
          matmul_then_gelu(matmul);
          prequantized_ = {node.output, y, out.dim(0), out.dim(1), fused_int8_.data(), fused_scale_.data()};
          return;
        }
        if (quantizes_output(node, out)) {
          const float* x = in[0]->data<float>();
          eltwise_and_quantize(out.dim(0), out.dim(1), y,
                               [&](std::int64_t offset, std::int64_t n) { eltwise_.gelu(x + offset, n, y + offset); });
          prequantized_ = {node.output, y, out.dim(0), out.dim(1), pre_int8_.data(), pre_scale_.data()};
        } else {
          eltwise_.gelu(in[0]->data<float>(), in[0]->numel(), y);
        }
        return;
      case OpKind::GeluTanh:
        eltwise_.gelu_tanh(in[0]->data<float>(), in[0]->numel(), y);
        return;
      case OpKind::Tanh:
        eltwise_.tanh(in[0]->data<float>(), in[0]->numel(), y);
        return;
      case OpKind::Relu:
        cpu::relu(in[0]->data<float>(), in[0]->numel(), y);
        return;
      case OpKind::MaskedAttention: {
        const auto batch = static_cast<int>(in[3]->dim(0));
        const cpu::MaskedAttentionShape shape{batch, static_cast<int>(in[0]->dim(0) / batch), p.n_heads, p.head_dim,
                                              p.integer_attention};
        const bool quantize = quantizes_output(node, out);
        if (p.bf16_attention &&
            masked_attention_bf16_.run(in[0]->data<float>(), in[1]->data<float>(), in[2]->data<float>(),
                                       in[3]->data<std::int32_t>(), shape, y, quantize ? pre_int8_.data() : nullptr,
                                       quantize ? pre_scale_.data() : nullptr)) {
          if (quantize) prequantized_ = {node.output, y, out.dim(0), out.dim(1), pre_int8_.data(), pre_scale_.data()};
          return;
        }
        cpu::masked_attention(in[0]->data<float>(), in[1]->data<float>(), in[2]->data<float>(),
                              in[3]->data<std::int32_t>(), shape, attention_scratch_, y,
                              quantize ? pre_int8_.data() : nullptr, quantize ? pre_scale_.data() : nullptr);
        if (quantize) prequantized_ = {node.output, y, out.dim(0), out.dim(1), pre_int8_.data(), pre_scale_.data()};
        return;
      }
      case OpKind::MeanRows: {
        const std::int64_t batch = out.dim(0);
        cpu::mean_rows(in[0]->data<float>(), in[1]->data<std::int32_t>(), batch, in[0]->dim(0) / batch, in[0]->dim(1),
                       y);
        return;
      }
      case OpKind::L2Normalize:
        cpu::l2_normalize(in[0]->data<float>(), in[0]->dim(0), in[0]->dim(1), y);
        return;
      case OpKind::Argmax: {
        const std::int64_t cols = in[0]->dim(1);
        for (std::int64_t r = 0; r < in[0]->dim(0); ++r) {
          out.data_mut<std::int32_t>()[r] =
              argmax(std::span(in[0]->data<float>() + r * cols, static_cast<std::size_t>(cols)));
        }
        return;
      }
      case OpKind::FirstRows:
      case OpKind::LastRows: {
        const std::int64_t cols = in[0]->dim(1), batch = out.dim(0);
        // A decoder's step says where each sequence's rows are (a ragged
        // step's differ in number); an encoder's batch is padded evenly.
        const bool laid_out = static_cast<std::int64_t>(ctx.sequences.size()) == batch;
        for (std::int64_t b = 0; b < batch; ++b) {
          const cpu::SequenceRows rows =
              laid_out ? cpu::rows_of(ctx.sequences, static_cast<std::size_t>(b), in[0]->dim(0) / batch)
                       : cpu::SequenceRows{b * (in[0]->dim(0) / batch), in[0]->dim(0) / batch};
          const std::int64_t row = rows.first + (node.op == OpKind::FirstRows ? 0 : rows.count - 1);
          std::memcpy(y + b * cols, in[0]->data<float>() + row * cols, sizeof(float) * static_cast<std::size_t>(cols));
        }
        return;
      }
    }
    fail("cpu backend: unhandled op {}", op_name(node.op));
  }

  // OpenMP's thread count is a per-thread setting: a step run from another
  // thread than the one that made the backend (a server's scheduler) sets it again.
  void use_threads() const {
    if (n_threads_ > 0 && omp_get_max_threads() != n_threads_) omp_set_num_threads(n_threads_);
  }

  int n_threads_ = 0;  // 0: OpenMP's default (every core)
  // w8 and 2:4 int8 at up to this many rows read the stored weights directly
  // (decode); above it, weights are expanded in tiles of kW8TileRows rows
  // (dequantized to float for w8, to dense int8 for 2:4) and multiplied as such.
  static constexpr std::int64_t kDirectRows = 8;
  // 2:4 int8 reads its packed rows directly up to this many rows, then
  // expands them for oneDNN: on the 1.1B shape, 2 Sapphire Rapids threads,
  // prefill of 16 / 20 / 24 / 28 tokens ran at 217 / 221 / 225 / 233 tok/s
  // direct against 151 / 184 / 233 / 258 expanded (the direct product is bound
  // by its multiplies, 4 activation rows per pass over a quad, AMX's are not).
  static constexpr std::int64_t kTwoFourDirectRows = 20;
  static constexpr std::int64_t kW8TileRows = 256;
  static constexpr std::size_t kMaxQuantizingProducers = 1 << 16;

  // Tokens of each sequence where a step's sequences feed equally many (a
  // ragged step's sequences each say theirs: 0).
  static std::int64_t tokens_per_sequence(const Node& node, std::int64_t rows, const StepContext& ctx) {
    return ctx.ragged() ? 0 : per_sequence(node, rows);
  }

  // Rows of one of the node's `batch` sequences, out of `rows` in all.
  static std::int64_t per_sequence(const Node& node, std::int64_t rows) {
    if (node.params.batch < 1 || rows % node.params.batch != 0) {
      fail("cpu {}: {} rows do not split into {} sequences", op_name(node.op), rows, node.params.batch);
    }
    return rows / node.params.batch;
  }

  template <typename T>
  static void grow(std::vector<T>& v, std::size_t n) {
    if (v.size() < n) v.resize(n);
  }

  // An int8 matmul's input quantized by the node that wrote it (LayerNorm,
  // RmsNorm, GELU, SiLU * up), row by row while each row was in cache:
  // per-token int8 values and scales in pre_int8_ / pre_scale_. The matmuls that read graph value
  // `value` at `data` in this step use them rather than quantizing again.
  struct Prequantized {
    int value = -1;
    const void* data = nullptr;
    std::int64_t rows = 0, cols = 0;
    const std::int8_t* q = nullptr;  // the rows quantized [rows, cols]
    const float* scale = nullptr;    // and their scales [rows]
  };

  // A node waiting for the one node that reads its output (runs_with_reader_), which runs both.
  struct Deferred {
    const Node* node;
    const Node* reader;                  // compared, never read
    std::array<Tensor*, 3> input_slots;  // a copy: the caller's span may not outlive run()
    std::size_t n_inputs;
    Tensor* out;  // not written: the reader reads the node's inputs instead
    const StepContext* ctx;
    std::span<Tensor* const> inputs() const { return std::span(input_slots).first(n_inputs); }
  };

  // Producers whose output an int8 matmul with per-token scales reads, with
  // more rows than a decode step (there quantizing is cheap either way):
  // they quantize as they write. By node address: run gets the graph's nodes.
  void find_quantizing_producers(const Graph& graph) {
    // forget_graph drops a dead graph's nodes; graphs reserved outside an
    // executor (tests, the matmul bench) are never forgotten, and a bound
    // keeps a long-lived backend from collecting them. Forgetting only costs
    // speed: a live graph's producers then do not fuse.
    if (quantizing_producers_.size() > kMaxQuantizingProducers) quantizing_producers_.clear();
    const auto& values = graph.values();
    std::vector<const Node*> producer(values.size(), nullptr);
    for (const Node& node : graph.nodes()) producer[static_cast<std::size_t>(node.output)] = &node;
    for (const Node& node : graph.nodes()) {
      if (node.op != OpKind::MatMul) continue;
      const Value& x = values[static_cast<std::size_t>(node.inputs[0])];
      if (!int8_per_token(values[static_cast<std::size_t>(node.inputs[1])].tensor) || x.shape[0] <= kDirectRows)
        continue;
      const Node* from = producer[static_cast<std::size_t>(node.inputs[0])];
      if (from == nullptr ||
          (from->op != OpKind::LayerNorm && from->op != OpKind::RmsNorm && from->op != OpKind::Gelu &&
           from->op != OpKind::SiluMul && from->op != OpKind::MaskedAttention)) {
        continue;
      }
      quantizing_producers_.insert(from);
      grow(pre_int8_, static_cast<std::size_t>(x.shape[0] * x.shape[1]));
      grow(pre_scale_, static_cast<std::size_t>(x.shape[0]));
    }
  }

  // Nodes that wait for the node right after them, their output's only
  // reader, which then runs both without the first's output ever written:
  // - an int8 matmul and the GELU that quantizes its output for int8 matmuls
  //   alone (BERT's ffn_up, ffn_act): matmul_then_gelu, in blocks of rows;
  // - a residual add and the LayerNorm of its sum (BERT's post-norm
  //   residuals): layer_norm adds the two rows as it reads them.
  // BERT-base int8, batch 32: each of these floats (12-50 MB per layer and
  // node) went to memory and came back. Not where the graph keeps every value.
  void find_nodes_run_by_their_reader(const Graph& graph) {
    if (runs_with_reader_.size() > kMaxQuantizingProducers) runs_with_reader_.clear();
    if (graph.values_kept()) return;
    const auto& values = graph.values();
    const auto& nodes = graph.nodes();
    const auto readers = readers_of(graph);
    const auto int8_dynamic = [&](const Node& node) {
      if (node.op != OpKind::MatMul) return false;
      const Tensor& w = values[static_cast<std::size_t>(node.inputs[1])].tensor;
      return int8_per_token(w) && !packs_as_two_four(w);
    };
    for (std::size_t i = 0; i + 1 < nodes.size(); ++i) {
      const Node& node = nodes[i];
      const Node& next = nodes[i + 1];
      const auto& node_readers = readers[static_cast<std::size_t>(node.output)];
      if (node_readers.size() != 1 || node_readers[0] != &next || next.inputs[0] != node.output ||
          node.output == graph.output()) {
        continue;
      }
      if (node.op == OpKind::Add && next.op == OpKind::LayerNorm) {
        runs_with_reader_[&node] = &next;
        continue;
      }
      if (!int8_dynamic(node) || next.op != OpKind::Gelu || !quantizing_producers_.contains(&next)) continue;
      if (values[static_cast<std::size_t>(node.inputs[0])].shape[0] <= kDirectRows) continue;
      const auto& gelu_readers = readers[static_cast<std::size_t>(next.output)];
      const bool int8_readers = std::all_of(gelu_readers.begin(), gelu_readers.end(), [&](const Node* r) {
        return int8_dynamic(*r) && r->inputs[0] == next.output;
      });
      if (int8_readers && next.output != graph.output()) runs_with_reader_[&node] = &next;
    }
  }

  // For each of the graph's values, the nodes that read it.
  static std::vector<std::vector<const Node*>> readers_of(const Graph& graph) {
    std::vector<std::vector<const Node*>> readers(graph.values().size());
    for (const Node& node : graph.nodes()) {
      for (const int in : node.inputs) readers[static_cast<std::size_t>(in)].push_back(&node);
    }
    return readers;
  }

  // Quantizing producers (SiLU * up) whose floats nobody reads: every reader
  // an int8 matmul of per-token activations, which reads the int8 rows, and
  // the value not the graph's output nor kept. They write only the int8 rows.
  void find_outputs_read_as_int8_only(const Graph& graph) {
    if (read_as_int8_only_.size() > kMaxQuantizingProducers) read_as_int8_only_.clear();
    if (graph.values_kept()) return;
    const auto& values = graph.values();
    const auto readers = readers_of(graph);
    for (const Node& node : graph.nodes()) {
      if (node.op != OpKind::SiluMul || !quantizing_producers_.contains(&node) || node.output == graph.output())
        continue;
      const auto& node_readers = readers[static_cast<std::size_t>(node.output)];
      const bool int8_only =
          !node_readers.empty() && std::all_of(node_readers.begin(), node_readers.end(), [&](const Node* r) {
            return r->op == OpKind::MatMul && r->inputs[0] == node.output && r->inputs[1] != node.output &&
                   int8_per_token(values[static_cast<std::size_t>(r->inputs[1])].tensor);
          });
      if (!int8_only) continue;
      read_as_int8_only_.insert(&node);
      grow(row_scratch_, static_cast<std::size_t>(omp_get_max_threads()) *
                             static_cast<std::size_t>(values[static_cast<std::size_t>(node.output)].shape[1]));
    }
  }

  // An int8 weight whose activations are quantized per token (no
  // calibrated static scale): the matmuls whose inputs a producer may
  // quantize, and which may run inside their GELU.
  static bool int8_per_token(const Tensor& w) {
    const QuantParams* q = w.quant();
    return w.dtype() == DType::I8 && q != nullptr && q->scheme == QuantScheme::Int8 && q->input_scale == 0.0f;
  }

  // Whether the reader can read the deferred node's inputs while writing
  // `out`: the arena may give the reader's output the slot of an input whose
  // last reader was the deferred node. The same rows (an add's row summed
  // where it lies) are fine; a shifted overlap is not.
  static bool reads_before_writing(const Deferred& d, const Tensor& out) {
    const auto* o = static_cast<const unsigned char*>(out.raw());
    for (const Tensor* t : d.inputs()) {
      const auto* i = static_cast<const unsigned char*>(t->raw());
      const bool apart = i + t->nbytes() <= o || o + out.nbytes() <= i;
      if (!apart && !(i == o && t->nbytes() == out.nbytes())) return false;
    }
    return true;
  }

  // Whether `node` (found by find_nodes_run_by_their_reader) may wait for
  // `reader` in this run: the shapes and buffers it needs are there.
  bool may_defer(const Node& node, std::span<Tensor* const> in, const Tensor& out, const Node& reader) const {
    if (in.size() > 3) return false;  // more than Deferred holds
    if (node.op == OpKind::Add) {
      return reader.op == OpKind::LayerNorm && in[0]->numel() == out.numel() && in[1]->numel() == out.numel();
    }
    const Tensor& x = *in[0];
    const Tensor& w = *in[1];
    return node.op == OpKind::MatMul && reader.op == OpKind::Gelu && int8_per_token(w) && !w.quant()->packed_two_four &&
           x.rank() == 2 && x.dim(0) > kDirectRows &&
           fused_int8_.size() >= static_cast<std::size_t>(x.dim(0) * w.dim(0)) &&
           fused_scale_.size() >= static_cast<std::size_t>(x.dim(0)) &&
           fused_block_.size() >= static_cast<std::size_t>(std::min(fused_block_rows(w.dim(0)), x.dim(0)) * w.dim(0));
  }

  // Whether `node` quantizes its output as it writes it. The size check
  // guards against a node of a freed graph whose address a new one reuses.
  bool quantizes_output(const Node& node, const Tensor& out) const {
    return quantizing_producers_.contains(&node) && out.rank() == 2 &&
           pre_int8_.size() >= static_cast<std::size_t>(out.numel()) &&
           pre_scale_.size() >= static_cast<std::size_t>(out.dim(0));
  }

  // Whether the matmul `node` reads, as `x`, the value its producer quantized this step.
  const Prequantized* prequantized(const Node& node, const Tensor& x) const {
    const bool made = prequantized_.value == node.inputs[0] && prequantized_.data == x.raw() &&
                      prequantized_.rows == x.dim(0) && prequantized_.cols == x.dim(1);
    return made ? &prequantized_ : nullptr;
  }

  // silu(gate) * up quantized row by row into pre_int8_ / pre_scale_, each
  // row's floats in this thread's row of row_scratch_ only (nothing reads
  // them: read_as_int8_only_). Written to the output and read back, they were
  // 4 MiB a layer of the 110M shape's prompt of 512 going to memory and back.
  void silu_mul_int8_rows(const float* gate, const float* up, std::int64_t rows, std::int64_t cols) {
#pragma omp parallel for if (rows > 4)
    for (std::int64_t r = 0; r < rows; ++r) {
      float* row = row_scratch_.data() + static_cast<std::size_t>(omp_get_thread_num() * cols);
      eltwise_.silu_mul(gate + r * cols, up + r * cols, cols, row);
      pre_scale_[static_cast<std::size_t>(r)] = quantize_row_int8(row, cols, pre_int8_.data() + r * cols);
    }
  }

  // An elementwise op over blocks of rows (`op(offset, count)` writes y's
  // values [offset, offset + count)), each block quantized per row right
  // after, while in cache.
  template <typename Op>
  void eltwise_and_quantize(std::int64_t rows, std::int64_t cols, float* y, const Op& op) {
    // 64 rows of BERT-base's 3072: 768 KiB, which the cores' L2 holds between them.
    const std::int64_t block = std::max<std::int64_t>(1, (std::int64_t{196608} + cols - 1) / cols);
    for (std::int64_t r0 = 0; r0 < rows; r0 += block) {
      const std::int64_t n = std::min(block, rows - r0);
      op(r0 * cols, n * cols);
#pragma omp parallel for if (n > 4)
      for (std::int64_t r = r0; r < r0 + n; ++r) {
        pre_scale_[static_cast<std::size_t>(r)] = quantize_row_int8(y + r * cols, cols, pre_int8_.data() + r * cols);
      }
    }
  }

  // The kernel follows the weight's dtype and scheme: one matmul node for all precisions.
  // `bias` (may be null) is fused where the kernel allows (oneDNN float, int8)
  // and added after the product elsewhere. `prequantized` (may be null): x's
  // int8 rows made by its producer (used where the weight is int8 with
  // per-token activation scales, which is where they were made for).
  void matmul(const Tensor& x, const Tensor& w, const float* bias, float* y, const Prequantized* prequantized) {
    const std::int64_t m = x.dim(0), k = x.dim(1), n = w.dim(0);
    const float* xf = x.data<float>();
    if (w.dtype() == DType::F32) {
      matmul_f32_.run(xf, w.data<float>(), y, m, k, n, 0, bias);
      return;
    }
    const QuantParams* q = w.quant();
    if ((w.dtype() != DType::I8 && w.dtype() != DType::F8E4M3) || q == nullptr) {
      fail("cpu matmul: unsupported weight dtype {}", dtype_name(w.dtype()));
    }
    const float* w_scale = q->scale.data<float>();
    if (w.dtype() == DType::F8E4M3) {
      matmul_fp8(xf, w, w_scale, y, m, k, n);
    } else if (q->scheme == QuantScheme::Int8) {
      // Activation quantization (dynamic per token, or the calibrated static
      // scale), then the fused int8 product.
      const auto [xq, xs] = int8_input(x, *q, prequantized);
      if (q->packed_two_four) {
        matmul_two_four(xq, xs, w, w_scale, bias, y, m, k, n);
        return;
      }
      int8_product(xq, xs, w, w_scale, bias, y, m, k, n);
      return;
    } else if (m <= kDirectRows) {
      cpu::gemm_f32s8_f32(xf, w.data<std::int8_t>(), w_scale, y, m, k, n);
    } else {
      for (std::int64_t n0 = 0; n0 < n; n0 += kW8TileRows) {
        const std::int64_t rows = std::min(kW8TileRows, n - n0);
        const std::int8_t* wq = w.data<std::int8_t>() + n0 * k;
#pragma omp parallel for
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t c = 0; c < k; ++c)
            w_tile_[static_cast<std::size_t>(r * k + c)] = wq[r * k + c] * w_scale[n0 + r];
        matmul_f32_.run(xf, w_tile_.data(), y + n0, m, k, rows, n);
      }
    }
    if (bias != nullptr) cpu::add_bias(y, bias, m, n);
  }

  // x's int8 rows and their scales for an int8 weight with parameters q: as
  // its producer made them, else quantized here (per token, or with the
  // calibrated static scale).
  std::pair<const std::int8_t*, const float*> int8_input(const Tensor& x, const QuantParams& q,
                                                         const Prequantized* prequantized) {
    const float static_scale = q.input_scale;
    if (prequantized != nullptr && static_scale == 0.0f) return {prequantized->q, prequantized->scale};
    const std::int64_t m = x.dim(0), k = x.dim(1);
    const float* xf = x.data<float>();
#pragma omp parallel for if (m > 4)
    for (std::int64_t i = 0; i < m; ++i) {
      if (static_scale > 0.0f) {
        quantize_row_int8_static(xf + i * k, k, static_scale, x_int8_.data() + i * k);
        x_scale_[static_cast<std::size_t>(i)] = static_scale;
      } else {
        x_scale_[static_cast<std::size_t>(i)] = quantize_row_int8(xf + i * k, k, x_int8_.data() + i * k);
      }
    }
    return {x_int8_.data(), x_scale_.data()};
  }

  // A dense int8 weight times quantized rows: oneDNN's brgemm (or the own
  // kernels over its packed copy) where the CPU has AVX-512 VNNI, the own
  // panels kernels in 256 bits where it has AVX-VNNI or AVX2 alone, else
  // (no AVX2, or K past kPanelMaxK) the own kernel over plain rows (the same
  // floats either way); `then`
  // runs on each row of y (MatmulInt8Dnnl::RowEpilogue).
  // (A weight the model holds packed has no rows for the own kernel to read.)
  void int8_product(const std::int8_t* xq, const float* xs, const Tensor& w, const float* w_scale, const float* bias,
                    float* y, std::int64_t m, std::int64_t k, std::int64_t n,
                    const cpu::MatmulInt8Dnnl::RowEpilogue& then = {}) {
    const auto* wq = w.data<std::int8_t>();
    if (matmul_int8_dnnl_.run(xq, xs, wq, w_scale, y, m, k, n, bias, then)) return;
    if (w.quant()->packed_panels)
      fail("cpu matmul: oneDNN declined a [{}, {}] x [{}, {}]^T product of a packed weight", m, k, n, k);
    cpu::gemm_s8s8_f32(xq, xs, wq, w_scale, y, m, k, n, bias);
    if (!then) return;
#pragma omp parallel for if (m > 4)
    for (std::int64_t r = 0; r < m; ++r) then(r, y + r * n);
  }

  // Rows of a matmul_then_gelu block: 512 of BERT-base's 3072 floats (6
  // MiB). Blocks that two cores' L2 caches hold (128 rows) kept the GELU's
  // reads in L2 but cost more in the products: each block is a oneDNN call
  // and two parallel regions, and 128 rows split worse over the threads.
  // BERT-base's ffn_up with its GELU and quantization on oneDNN's products,
  // 4096 rows, an Emerald Rapids host (AVX-512 VNNI, no AMX), 2 threads,
  // block sizes interleaved: 128 rows 21.9 ms, 384-512 20.9-21.0, 768
  // 21.2-21.6, one block of 4096 23.3-23.5; in the model, against ffn_down
  // as the control, five alternating pairs, ffn_up + GELU 3.7% faster with
  // 512 than with 128. (On the own GEMM that now runs it there, 256-1024
  // rows are level, 128 and 4096 ~5% slower.)
  static std::int64_t fused_block_rows(std::int64_t n) { return std::max<std::int64_t>(1, 1572864 / n); }

  // The deferred matmul and its GELU, in blocks of rows: each block's
  // product (into a buffer that stays in cache), then on each of its rows,
  // in the product's scale pass while the row is in cache, the GELU and the
  // per-row int8 quantization, so that only the GELU's int8 rows are written
  // out (fused_int8_ / fused_scale_), the same values as the two nodes apart.
  // (One pass over each row where there were three over the block, and no
  // parallel regions of their own: BERT-base int8 at batch 32, 2 threads, an
  // Emerald Rapids host, ~1% of ffn_up's time, within the host's noise; with
  // the GELU's own pass, ffn_up and its GELU went from 270-274 to 242-247 ms.)
  void matmul_then_gelu(const Deferred& d) {
    const Tensor& x = *d.inputs()[0];
    const Tensor& w = *d.inputs()[1];
    const float* bias = d.inputs().size() > 2 ? d.inputs()[2]->data<float>() : nullptr;
    const std::int64_t m = x.dim(0), k = x.dim(1), n = w.dim(0);
    const QuantParams& q = *w.quant();
    // (Its producer's int8 rows, if any, are still there: no node ran in between.)
    const auto [xq, xs] = int8_input(x, q, prequantized(*d.node, x));
    const std::int64_t block_rows = fused_block_rows(n);
    for (std::int64_t r0 = 0; r0 < m; r0 += block_rows) {
      const std::int64_t rows = std::min(block_rows, m - r0);
      const auto gelu_and_quantize = [&, r0](std::int64_t r, float* row) {
        eltwise_.gelu(row, n, row);
        fused_scale_[static_cast<std::size_t>(r0 + r)] = quantize_row_int8(row, n, fused_int8_.data() + (r0 + r) * n);
      };
      int8_product(xq + r0 * k, xs + r0, w, q.scale.data<float>(), bias, fused_block_.data(), rows, k, n,
                   gelu_and_quantize);
    }
  }

  // Runs a deferred node on its own, as if it had not waited (the next node
  // is not its reader, or the step ends).
  void run_deferred_alone() {
    if (!deferred_) return;
    const Deferred d = *deferred_;
    deferred_.reset();
    execute(*d.node, d.inputs(), *d.out, *d.ctx);
  }

  // Matmuls of the same input, one after the other in the graph, whose
  // int8 weights take per-token activations, in steps of few rows (decode):
  // each waits for the group's last node (runs_with_siblings_), which runs
  // them all in one parallel loop: a layer's q, k and v, its gate and up.
  // Dense weights up to kPanelRows rows, over the panels of every weight
  // (MatmulInt8Dnnl::run_together; the 1.1B shape's GEMVs alone, 2 threads on
  // a Sapphire Rapids host: 2.4-4.2% faster than one loop per weight); packed
  // 2:4 ones up to kTwoFourDirectRows, over their quads
  // (gemm_s8s8_f32_sparse24). A group holds one kind.
  enum class SiblingKind { None, Panels, TwoFour };
  static SiblingKind sibling_kind(const Tensor& w, std::int64_t rows) {
    if (!int8_per_token(w)) return SiblingKind::None;
    if (w.quant()->packed_two_four) return rows <= kTwoFourDirectRows ? SiblingKind::TwoFour : SiblingKind::None;
    if (packs_as_two_four(w)) return SiblingKind::None;  // packed for the backend at its first run
    return rows <= cpu::MatmulInt8Dnnl::kPanelRows ? SiblingKind::Panels : SiblingKind::None;
  }

  void find_sibling_matmuls(const Graph& graph) {
    if (runs_with_siblings_.size() > kMaxQuantizingProducers) runs_with_siblings_.clear();
    if (graph.values_kept()) return;
    const auto& values = graph.values();
    const auto& nodes = graph.nodes();
    const auto kind_of = [&](const Node& node) {
      if (node.op != OpKind::MatMul || node.inputs.size() < 2) return SiblingKind::None;
      const Shape& x = values[static_cast<std::size_t>(node.inputs[0])].shape;
      if (x.size() != 2) return SiblingKind::None;
      return sibling_kind(values[static_cast<std::size_t>(node.inputs[1])].tensor, x[0]);
    };
    // 2:4 weights group with those of as many rows only (gate and up; k and v
    // under grouped-query attention): on the 1.1B shape's decode, 2 Sapphire
    // Rapids threads, q, k and v in one loop took 7-10% longer than each in
    // its own (gate and up together 5-8% less).
    const auto rows_of = [&](const Node& node) { return values[static_cast<std::size_t>(node.inputs[1])].shape[0]; };
    for (std::size_t i = 0; i < nodes.size();) {
      const SiblingKind kind = kind_of(nodes[i]);
      const int x = kind != SiblingKind::None ? nodes[i].inputs[0] : -1;
      std::size_t end = i + 1;
      if (kind != SiblingKind::None) {
        while (end < nodes.size() && end - i < cpu::kMaxInt8Products && kind_of(nodes[end]) == kind &&
               nodes[end].inputs[0] == x &&
               (kind != SiblingKind::TwoFour || rows_of(nodes[end]) == rows_of(nodes[i]))) {
          ++end;
        }
      }
      for (std::size_t s = i; s + 1 < end; ++s) runs_with_siblings_[&nodes[s]] = &nodes[end - 1];
      i = end;
    }
  }

  // The last of a group of siblings with those waiting for it, together;
  // false (nothing written) where the products do not run together.
  bool run_with_siblings(const Node& node, std::span<Tensor* const> in, Tensor& out) {
    const Tensor& x = *in[0];
    if (in.size() < 2 || x.rank() != 2) return false;
    const SiblingKind kind = sibling_kind(*in[1], x.dim(0));
    if (kind == SiblingKind::None) return false;
    std::array<cpu::Int8Product, cpu::kMaxInt8Products> products{};
    std::size_t count = 0;
    const auto add = [&](std::span<Tensor* const> operands, Tensor& y) {
      if (operands.size() < 2 || sibling_kind(*operands[1], x.dim(0)) != kind || count == products.size()) return false;
      const Tensor& w = *operands[1];
      products[count++] = {w.data<std::int8_t>(), w.quant()->scale.data<float>(), y.data_mut<float>(), w.dim(0),
                           operands.size() > 2 ? operands[2]->data<float>() : nullptr};
      return true;
    };
    for (const Deferred& d : siblings_) {
      if (!add(d.inputs(), *d.out)) return false;
    }
    if (!add(in, out)) return false;
    const auto [xq, xs] = int8_input(x, *in[1]->quant(), prequantized(node, x));
    const auto group = std::span(products).first(count);
    if (kind == SiblingKind::TwoFour) {
      cpu::gemm_s8s8_f32_sparse24(xq, xs, group, x.dim(0), x.dim(1));
    } else if (!matmul_int8_dnnl_.run_together(xq, xs, group, x.dim(0), x.dim(1))) {
      return false;
    }
    siblings_.clear();
    return true;
  }

  void run_siblings_alone() {
    for (const Deferred& d : siblings_) execute(*d.node, d.inputs(), *d.out, *d.ctx);
    siblings_.clear();
  }

  // A packed 2:4 int8 weight times the quantized activations xq (scales xs):
  // decode and short prompts on the packed rows; longer prompts on its rows
  // expanded, by oneDNN where the CPU has VNNI (which reads them as they are:
  // no dense copy is kept, a 2:4 model is for less memory), else tile by tile
  // by the own kernel.
  void matmul_two_four(const std::int8_t* xq, const float* xs, const Tensor& w, const float* w_scale, const float* bias,
                       float* y, std::int64_t m, std::int64_t k, std::int64_t n) {
    const auto* packed = w.data<std::uint8_t>();
    if (m <= kTwoFourDirectRows) {
      cpu::gemm_s8s8_f32_sparse24(xq, xs, packed, w_scale, y, m, k, n, bias);
      return;
    }
    if (matmul_int8_dnnl_.plain_runs(m, k, n)) {
      // Scratch for the largest 2:4 weight's rows, grown at its first prefill (11.5 MB on the 1.1B shape).
      if (w_int8_dense_.size() < static_cast<std::size_t>(n * k)) w_int8_dense_.resize(static_cast<std::size_t>(n * k));
      cpu::unpack_sparse24(packed, k, 0, n, w_int8_dense_.data());
      matmul_int8_dnnl_.run_plain(xq, xs, w_int8_dense_.data(), w_scale, y, m, k, n, bias);
      return;
    }
    for (std::int64_t n0 = 0; n0 < n; n0 += kW8TileRows) {
      const std::int64_t rows = std::min(kW8TileRows, n - n0);
      cpu::unpack_sparse24(packed, k, n0, rows, w_int8_tile_.data());
      cpu::gemm_s8s8_f32(xq, xs, w_int8_tile_.data(), w_scale + n0, y + n0, m, k, rows,
                         bias != nullptr ? bias + n0 : nullptr, n);
    }
  }

  // FP8 with the GPU's numerics: E4M3 activations (dynamic, per token) times
  // E4M3 weights, float accumulation, then both scales. Products of two E4M3
  // values are exact in float, so the float matmul over decoded values is the
  // same sum the tensor cores form (up to summation order). Emulation, not
  // speed: it lets any machine measure what FP8 costs in accuracy.
  void matmul_fp8(const float* xf, const Tensor& w, const float* w_scale, float* y, std::int64_t m, std::int64_t k,
                  std::int64_t n) {
#pragma omp parallel for if (m > 4)
    for (std::int64_t i = 0; i < m; ++i) {
      x_scale_[static_cast<std::size_t>(i)] = quantize_row_fp8(xf + i * k, k, x_fp8_.data() + i * k);
      for (std::int64_t c = 0; c < k; ++c)
        x_decoded_[static_cast<std::size_t>(i * k + c)] = fp8_lut_[x_fp8_[i * k + c]];
    }
    for (std::int64_t n0 = 0; n0 < n; n0 += kW8TileRows) {
      const std::int64_t rows = std::min(kW8TileRows, n - n0);
      const std::uint8_t* wq = w.data<std::uint8_t>() + n0 * k;
#pragma omp parallel for
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < k; ++c) w_tile_[static_cast<std::size_t>(r * k + c)] = fp8_lut_[wq[r * k + c]];
      matmul_f32_.run(x_decoded_.data(), w_tile_.data(), y + n0, m, k, rows, n);
    }
#pragma omp parallel for if (m > 4)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) y[i * n + j] *= x_scale_[static_cast<std::size_t>(i)] * w_scale[j];
  }

  cpu::MatmulF32 matmul_f32_;
  cpu::MatmulInt8Dnnl matmul_int8_dnnl_;  // holds its own packed copy of each int8 weight
  // The weights it packed, by address: holding them keeps that address from
  // being reused by another model's weight while the packed copy lives.
  std::map<const void*, Tensor> packed_int8_weights_;
  // 2:4 int8 weights by address, with their packed copies (held as the above).
  struct TwoFourWeight {
    Tensor weight, packed;
  };
  std::map<const void*, TwoFourWeight> two_four_weights_;
  cpu::EltwiseF32 eltwise_;
  cpu::MaskedAttentionBf16 masked_attention_bf16_;  // where a node allows it and the CPU multiplies bf16 fast
  const std::array<float, 256>& fp8_lut_ = f8e4m3_table();
  std::vector<std::uint8_t> x_fp8_;        // E4M3 activations [m, k]
  std::vector<float> x_decoded_;           // their values as float [m, k]
  std::vector<float> attention_scratch_;   // attention scores: cpu::(masked_)attention_scratch_floats
  std::vector<std::int8_t> x_int8_;        // quantized activations [m, k]
  std::vector<float> x_scale_;             // their per-token scales [m]
  std::vector<float> w_tile_;              // a dequantized w8 tile [kW8TileRows, k]
  std::vector<std::int8_t> w_int8_tile_;   // a 2:4 weight's rows expanded [kW8TileRows, k]
  std::vector<std::int8_t> w_int8_dense_;  // a 2:4 weight's rows all expanded [n, k], for oneDNN's prefill
  std::set<const Node*> quantizing_producers_;
  std::set<const Node*> read_as_int8_only_;  // of those, the ones whose floats nobody reads
  std::vector<float> row_scratch_;           // a row of floats per thread [threads, cols]
  Prequantized prequantized_;
  cpu::RopeAngles rope_angles_;  // every rope node's cosines and sines (one model's frequencies)
  std::map<const Node*, const Node*> runs_with_reader_;  // node -> its reader, which runs both
  std::optional<Deferred> deferred_;
  std::map<const Node*, const Node*> runs_with_siblings_;  // node -> the last of its siblings, which runs them all
  std::vector<Deferred> siblings_;                         // those waiting for it now (Deferred::reader: the last)
  std::vector<float> fused_block_;                         // matmul_then_gelu's block of rows [block_rows, n]
  std::vector<std::int8_t> fused_int8_;                    // its GELU's rows quantized [rows, n]
  std::vector<float> fused_scale_;                         // and their scales [rows]
  std::vector<std::int8_t> pre_int8_;                      // a producer's output quantized [rows, cols]
  std::vector<float> pre_scale_;                           // its per-row scales [rows]
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

std::size_t pack_matmul_weights(Model& model) {
  std::size_t replaced = 0;
  model.replace_weights([&](const std::string& /*name*/, const Tensor& w) {
    const QuantParams* q = w.quant();
    if (w.dtype() != DType::I8 || w.rank() != 2 || q == nullptr || q->scheme != QuantScheme::Int8 || q->packed_panels ||
        q->packed_two_four) {
      return w;
    }
    if (packs_as_two_four(w)) {  // the backend's compressed rows, on every CPU
      w.release_file_pages();
      replaced += w.nbytes();
      return packed_two_four_rows(w);
    }
    Tensor packed = cpu::MatmulInt8Dnnl::panels_copy(w.data<std::int8_t>(), w.dim(1), w.dim(0));
    if (packed.raw() == nullptr) return w;
    auto params = std::make_shared<QuantParams>(*q);
    params->packed_panels = true;
    w.release_file_pages();
    replaced += w.nbytes();
    return packed.with_quant(std::move(params));
  });
  return replaced;
}

void release_cpu_threads() { omp_pause_resource_all(omp_pause_soft); }

}  // namespace octet
