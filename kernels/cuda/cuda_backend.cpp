#include "kernels/cuda/cuda_backend.h"

#include "engine/core/error.h"
#include "engine/quant/quant.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_devices.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/lt_matmul.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <vector>

namespace octet {

namespace {

// cuBLASLt's FP8 kernels want 16-element rows; weights and activations are
// padded with zeros to this, which changes no sum.
constexpr std::int64_t kPad = 16;
std::int64_t padded(std::int64_t n) { return (n + kPad - 1) / kPad * kPad; }

std::shared_ptr<void> device_alloc(std::size_t bytes) {
  void* p = nullptr;
  OCTET_CUDA_CHECK(cudaMalloc(&p, std::max<std::size_t>(bytes, 1)));
  OCTET_CUDA_CHECK(cudaMemset(p, 0, std::max<std::size_t>(bytes, 1)));
  return {p, [](void* q) { cudaFree(q); }};
}

// Device memory that only grows, at plan time (cudaFree of the old buffer
// waits for the kernels that used it).
struct Scratch {
  std::shared_ptr<void> data;
  std::size_t bytes = 0;
  // True when the buffer moved.
  bool grow(std::size_t need) {
    if (need <= bytes) return false;
    data = device_alloc(need);
    bytes = need;
    return true;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data.get());
  }
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) {
    std::string why;
    const auto devices = cuda::list_devices(&why);
    if (devices.empty()) fail("the cuda backend needs an NVIDIA GPU, and CUDA reports none ({})", why);
    if (device < 0 || device >= static_cast<int>(devices.size())) {
      fail("CUDA device {} does not exist ({} found)", device, devices.size());
    }
    info_ = devices[static_cast<std::size_t>(device)];
    OCTET_CUDA_CHECK(cudaSetDevice(device));
    OCTET_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    OCTET_CUDA_CHECK(cudaMallocHost(&sequences_host_, sizeof(cuda::DeviceSequence) * kMaxSequences));
    sequences_device_ = device_alloc(sizeof(cuda::DeviceSequence) * kMaxSequences);
    lt_ = std::make_unique<cuda::LtMatmul>();
  }

  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    steps_.clear();
    cudaFreeHost(sequences_host_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override {
    std::string n = fmt::format("cuda ({}, compute {}.{})", info_.name, info_.compute_major, info_.compute_minor);
    if (!info_.supports_fp8()) n += ": FP8 needs compute 8.9 or newer; --quant f32 runs in bf16 here";
    return n;
  }

  // Every op of the decoders and encoders; matmuls in bf16 or FP8.
  bool supports(OpKind op, DType dtype) const override {
    if (op == OpKind::MatMul) return dtype == DType::F32 || (dtype == DType::F8E4M3 && info_.supports_fp8());
    return dtype == DType::F32 || (op == OpKind::Embedding && dtype == DType::I8);  // an int8 table goes up as floats
  }

  Device device() const override { return Device::Cuda; }

  Tensor allocate(DType dtype, Shape shape) override {
    const auto bytes = static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype);
    return Tensor::on_device(dtype, std::move(shape), Device::Cuda, device_alloc(bytes));
  }

  Tensor prepare_weight(const Tensor& weight, OpKind op) override {
    const bool matmul = op == OpKind::MatMul && weight.rank() == 2;  // a matmul's bias is a float vector
    const auto key = std::make_pair(weight.raw(), matmul);
    auto it = uploaded_.find(key);
    if (it == uploaded_.end()) {
      // The entry keeps the host tensor alive, so its address cannot be reused by another.
      it = uploaded_.emplace(key, Uploaded{weight, matmul ? upload_matmul_weight(weight) : upload_f32(weight)}).first;
    }
    return it->second.device;
  }

  void copy_to_device(Tensor& dst, const void* src, std::size_t bytes) override {
    OCTET_CUDA_CHECK(cudaMemcpyAsync(dst.raw_mut(), src, bytes, cudaMemcpyHostToDevice, stream_));
  }

  void copy_to_host(const Tensor& src, void* dst, std::size_t bytes) override {
    OCTET_CUDA_CHECK(cudaMemcpyAsync(dst, src.raw(), bytes, cudaMemcpyDeviceToHost, stream_));
    OCTET_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void reserve(const Graph& graph, int n_ctx) override {
    for (const Node& node : graph.nodes()) {
      if (node.op == OpKind::Attention) {
        const NodeParams& p = node.params;
        cuda::attention_reserve(n_ctx, p.head_dim);
        bool moved =
            attention_partial_.grow(cuda::attention_partial_floats(p.batch, p.n_heads, p.head_dim) * sizeof(float));
        moved |= attention_counters_.grow(static_cast<std::size_t>(p.batch) * p.n_heads * sizeof(unsigned));
        if (moved) steps_.clear();
      }
      if (node.op == OpKind::MaskedAttention) {
        const Shape& x = graph.values()[node.inputs[0]].shape;
        cuda::masked_attention_reserve(as_int(x[0] / graph.values()[node.inputs[3]].shape[0]), node.params.head_dim);
      }
      if (node.op != OpKind::MatMul) continue;
      const Shape& x = graph.values()[node.inputs[0]].shape;
      const Shape& w = graph.values()[node.inputs[1]].shape;
      // bf16 activations take two bytes per element, FP8 one: size for the larger.
      bool moved = x_quantized_.grow(static_cast<std::size_t>(x[0] * padded(x[1])) * 2);
      moved |= x_scale_.grow(static_cast<std::size_t>(x[0]) * sizeof(float));
      moved |= product_.grow(static_cast<std::size_t>(x[0] * padded(w[0])) * sizeof(float));
      if (moved) steps_.clear();  // recorded steps point at the old scratch
    }
  }

  // The first run of a step is eager (cuBLASLt and the driver initialise
  // lazily, which a capture forbids); the second records it as a CUDA graph;
  // every later one replays it: one launch instead of hundreds.
  void run_step(std::uint64_t step_key, StepFunction enqueue) override {
    if (!use_graphs_) {
      enqueue();
      return;
    }
    RecordedStep& step = steps_[step_key];
    if (step.runs++ == 0) {
      enqueue();
      return;
    }
    if (!step.exec) {
      OCTET_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      try {
        enqueue();
      } catch (...) {
        cudaGraph_t partial = nullptr;
        cudaStreamEndCapture(stream_, &partial);
        if (partial != nullptr) cudaGraphDestroy(partial);
        throw;
      }
      cudaGraph_t graph = nullptr;
      OCTET_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      OCTET_CUDA_CHECK(status);
      step.exec = std::shared_ptr<CUgraphExec_st>(exec, [](cudaGraphExec_t e) { cudaGraphExecDestroy(e); });
    }
    OCTET_CUDA_CHECK(cudaGraphLaunch(step.exec.get(), stream_));
  }

  void forget_step(std::uint64_t step_key) override { steps_.erase(step_key); }

  bool runs_mixed_steps() const override { return true; }

  void begin_step(const StepContext& ctx) override {
    if (ctx.sequences.empty() || ctx.sequences.size() > kMaxSequences) {
      fail("cuda backend: {} sequences in one step, 1 to {} supported", ctx.sequences.size(), kMaxSequences);
    }
    // The previous step ended with its logits copied back, so the pinned words are free.
    for (std::size_t b = 0; b < ctx.sequences.size(); ++b) {
      sequences_host_[b] = {ctx.sequences[b].slot, ctx.sequences[b].pos};
    }
    OCTET_CUDA_CHECK(cudaMemcpyAsync(sequences_device_.get(), sequences_host_,
                                     sizeof(cuda::DeviceSequence) * ctx.sequences.size(), cudaMemcpyHostToDevice,
                                     stream_));
  }

  void run(const Node& node, std::span<Tensor* const> in, Tensor& out, const StepContext& /*ctx*/) override {
    const NodeParams& p = node.params;
    float* y = out.data_mut<float>();
    const auto* seqs = static_cast<const cuda::DeviceSequence*>(sequences_device_.get());
    switch (node.op) {
      case OpKind::Embedding:
        cuda::embedding(in[0]->data<float>(), in[0]->dim(1), in[1]->data<std::int32_t>(), as_int(in[1]->dim(0)), y,
                        stream_);
        return;
      case OpKind::MatMul:
        matmul(*in[0], *in[1], out);
        if (in.size() > 2) cuda::add_bias(y, in[2]->data<float>(), as_int(out.dim(0)), as_int(out.dim(1)), stream_);
        return;
      case OpKind::RmsNorm:
        // Rows as long as the weight: a row of x, or one head of it (Qwen3's q and k norms).
        cuda::rms_norm(in[0]->data<float>(), in[1]->data<float>(), as_int(in[0]->numel() / in[1]->numel()),
                       as_int(in[1]->numel()), p.eps, y, stream_);
        return;
      case OpKind::Rope:
        cuda::rope(in[0]->data<float>(), as_int(in[0]->dim(0)), as_int(in[0]->dim(0) / p.batch),
                   as_int(in[0]->dim(1) / p.head_dim), p.head_dim, seqs, RopeFrequencies{p.rope_theta, p.rope_scaling},
                   p.rope_layout == RopeLayout::HalfSplit, y, stream_);
        return;
      case OpKind::Attention: {
        const cuda::AttentionArgs args{as_int(in[0]->dim(0) / p.batch), p.n_heads, p.n_kv_heads, p.head_dim,
                                       as_int(in[3]->dim(0) / p.batch), p.batch};
        cuda::KvCache cache{in[3]->raw_mut(), in[4]->raw_mut()};
        if (in.size() > 5) {  // an FP8 cache and its scales
          cache.k_scale = in[5]->data_mut<float>();
          cache.v_scale = in[6]->data_mut<float>();
        }
        cuda::attention(in[0]->data<float>(), in[1]->data<float>(), in[2]->data<float>(), cache, seqs, args,
                        {attention_partial_.as<float>(), attention_counters_.as<unsigned>()}, y, stream_);
        return;
      }
      case OpKind::SiluMul:
        cuda::silu_mul(in[0]->data<float>(), in[1]->data<float>(), in[0]->numel(), y, stream_);
        return;
      case OpKind::Add:
        cuda::add(in[0]->data<float>(), in[1]->data<float>(), in[0]->numel(), y, stream_);
        return;
      case OpKind::FirstRows:
      case OpKind::LastRows: {
        // One row of `cols` floats from each of `batch` sequences of `seq_len` rows.
        const std::int64_t cols = in[0]->dim(1), batch = out.dim(0), seq_len = in[0]->dim(0) / batch;
        const std::int64_t row = node.op == OpKind::FirstRows ? 0 : seq_len - 1;
        const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(cols);
        OCTET_CUDA_CHECK(cudaMemcpy2DAsync(y, row_bytes, in[0]->data<float>() + row * cols,
                                           row_bytes * static_cast<std::size_t>(seq_len), row_bytes,
                                           static_cast<std::size_t>(batch), cudaMemcpyDeviceToDevice, stream_));
        return;
      }
      case OpKind::LayerNorm:
        cuda::layer_norm(in[0]->data<float>(), in[1]->data<float>(), in[2]->data<float>(), as_int(in[0]->dim(0)),
                         as_int(in[0]->dim(1)), p.eps, y, stream_);
        return;
      case OpKind::Gelu:
        cuda::activation(cuda::Activation::Gelu, in[0]->data<float>(), in[0]->numel(), y, stream_);
        return;
      case OpKind::GeluTanh:
        cuda::activation(cuda::Activation::GeluTanh, in[0]->data<float>(), in[0]->numel(), y, stream_);
        return;
      case OpKind::Tanh:
        cuda::activation(cuda::Activation::Tanh, in[0]->data<float>(), in[0]->numel(), y, stream_);
        return;
      case OpKind::Relu:
        cuda::activation(cuda::Activation::Relu, in[0]->data<float>(), in[0]->numel(), y, stream_);
        return;
      case OpKind::MaskedAttention: {
        const int batch = as_int(in[3]->dim(0));
        cuda::masked_attention(in[0]->data<float>(), in[1]->data<float>(), in[2]->data<float>(),
                               in[3]->data<std::int32_t>(), batch, as_int(in[0]->dim(0) / batch), p.n_heads, p.head_dim,
                               y, stream_);
        return;
      }
      case OpKind::MeanRows: {
        const int batch = as_int(out.dim(0));
        cuda::mean_rows(in[0]->data<float>(), in[1]->data<std::int32_t>(), batch, as_int(in[0]->dim(0) / batch),
                        as_int(in[0]->dim(1)), y, stream_);
        return;
      }
      case OpKind::L2Normalize:
        cuda::l2_normalize(in[0]->data<float>(), as_int(in[0]->dim(0)), as_int(in[0]->dim(1)), y, stream_);
        return;
      case OpKind::Argmax:
        cuda::argmax_rows(in[0]->data<float>(), as_int(in[0]->dim(0)), as_int(in[0]->dim(1)),
                          out.data_mut<std::int32_t>(), stream_);
        return;
    }
    fail("cuda backend: unhandled op {}", op_name(node.op));
  }

 private:
  struct Uploaded {
    Tensor host;
    Tensor device;
  };
  struct RecordedStep {
    int runs = 0;
    std::shared_ptr<CUgraphExec_st> exec;
  };

  static int as_int(std::int64_t v) {
    if (v > std::numeric_limits<int>::max()) fail("cuda backend: dimension {} is too large", v);
    return static_cast<int>(v);
  }

  Tensor upload_f32(const Tensor& weight) {
    const Tensor w = weight.quant() != nullptr ? dequantize(weight) : to_f32(weight);  // an int8 embedding table
    Tensor d = allocate(DType::F32, w.shape());
    OCTET_CUDA_CHECK(cudaMemcpy(d.raw_mut(), w.raw(), w.nbytes(), cudaMemcpyHostToDevice));
    return d;
  }

  // Matmul weights become [padded(N), padded(K)]: FP8 E4M3 codes with their
  // per-channel scales, or bf16 for float weights.
  Tensor upload_matmul_weight(const Tensor& weight) {
    if (weight.rank() != 2) fail("cuda matmul: expected a [N, K] weight, got {}", shape_str(weight.shape()));
    const std::int64_t n = weight.dim(0), k = weight.dim(1), np = padded(n), kp = padded(k);
    if (const QuantParams* q = weight.quant()) {
      if (weight.dtype() != DType::F8E4M3) {
        fail("the cuda backend runs fp8 and float weights; {} ({} weights) runs on the CPU backend",
             quant_scheme_name(q->scheme), dtype_name(weight.dtype()));
      }
      std::vector<std::uint8_t> host(static_cast<std::size_t>(np * kp), 0);
      for (std::int64_t r = 0; r < n; ++r)
        std::memcpy(host.data() + r * kp, weight.data<std::uint8_t>() + r * k, static_cast<std::size_t>(k));
      Tensor d = allocate(DType::F8E4M3, {np, kp});
      OCTET_CUDA_CHECK(cudaMemcpy(d.raw_mut(), host.data(), host.size(), cudaMemcpyHostToDevice));
      const Tensor scale = upload_f32(q->scale);
      return d.with_quant(std::make_shared<const QuantParams>(QuantParams{q->scheme, scale}));
    }
    const Tensor f = upload_f32(weight);
    Tensor d = allocate(DType::BF16, {np, kp});
    cuda::convert_rows_bf16(f.data<float>(), as_int(n), as_int(k), as_int(kp), d.data_mut<std::uint16_t>(), stream_);
    OCTET_CUDA_CHECK(cudaStreamSynchronize(stream_));  // before `f` is freed
    return d;
  }

  // y = x w^T with x [M, K] float: x is quantized (FP8) or converted (bf16)
  // into padded rows and multiplied on tensor cores. Where N needs no padding
  // the product lands in y directly, FP8 scaled per token and per channel by
  // cuBLASLt itself; otherwise into a padded float product, scaled on the way
  // into y. FP8 decode (M up to kGemvMaxRows) takes octet's GEMV instead,
  // quantization and scales fused.
  void matmul(const Tensor& x, const Tensor& w, Tensor& out) {
    const int m = as_int(x.dim(0)), k = as_int(x.dim(1)), n = as_int(out.dim(1));
    const int kp = as_int(w.dim(1)), np = as_int(w.dim(0));
    float* y = out.data_mut<float>();
    auto* product = product_.as<float>();
    if (w.dtype() == DType::F8E4M3) {
      auto* xq = x_quantized_.as<std::uint8_t>();
      auto* xs = x_scale_.as<float>();
      const float* ws = w.quant()->scale.data<float>();
      if (cuda::gemv_fp8_fits(m, kp)) {
        cuda::gemv_fp8(x.data<float>(), k, w.data<std::uint8_t>(), ws, y, m, n, kp, stream_);
        return;
      }
      cuda::quantize_rows_fp8(x.data<float>(), m, k, kp, xq, xs, stream_);
      if (n == np && lt_->run_scaled(xq, w.raw(), xs, ws, y, m, n, kp, n, stream_)) return;
      lt_->run(cuda::GemmType::Fp8E4M3, xq, w.raw(), product, m, np, kp, np, stream_);
      cuda::scale_product(product, m, n, np, xs, ws, y, stream_);
    } else {
      auto* xb = x_quantized_.as<std::uint16_t>();
      cuda::convert_rows_bf16(x.data<float>(), m, k, kp, xb, stream_);
      if (n == np) {
        lt_->run(cuda::GemmType::Bf16, xb, w.raw(), y, m, n, kp, n, stream_);
        return;
      }
      lt_->run(cuda::GemmType::Bf16, xb, w.raw(), product, m, np, kp, np, stream_);
      cuda::scale_product(product, m, n, np, nullptr, nullptr, y, stream_);
    }
  }

  cuda::DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
  // Each sequence's cache slot and first position: pinned, copied up asynchronously before every step,
  // so that a recorded step (a CUDA graph) reads the new ones where it read the old.
  static constexpr std::size_t kMaxSequences = 1024;
  cuda::DeviceSequence* sequences_host_ = nullptr;
  std::shared_ptr<void> sequences_device_;
  std::unique_ptr<cuda::LtMatmul> lt_;
  std::map<std::pair<const void*, bool>, Uploaded> uploaded_;
  Scratch x_quantized_, x_scale_, product_;         // matmul scratch
  Scratch attention_partial_, attention_counters_;  // decode attention's splits
  std::map<std::uint64_t, RecordedStep> steps_;
  // OCTET_CUDA_GRAPHS=0 runs every step eagerly (for debugging, and to measure what graphs save).
  const bool use_graphs_ = [] {
    const char* env = std::getenv("OCTET_CUDA_GRAPHS");
    return env == nullptr || std::string(env) != "0";
  }();
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<CudaBackend>(device); }

}  // namespace octet
