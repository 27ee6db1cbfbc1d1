#include "kernels/cpu/cpu_backend.h"

#include "engine/error.h"
#include "kernels/cpu/matmul_f32.h"
#include "kernels/cpu/ops.h"

#include <omp.h>

#include <cstring>
#include <vector>

namespace octet {

namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads) {
    if (n_threads > 0) omp_set_num_threads(n_threads);
  }

  std::string name() const override { return "cpu"; }

  bool supports(OpKind /*op*/, DType dtype) const override { return dtype == DType::F32; }

  void reserve(const Graph& /*graph*/, int n_ctx) override {
    const auto need = static_cast<std::size_t>(omp_get_max_threads()) * static_cast<std::size_t>(n_ctx);
    if (scratch_.size() < need) scratch_.resize(need);
  }

  void run(const Node& node, std::span<Tensor* const> in, Tensor& out, const StepContext& ctx) override {
    const NodeParams& p = node.params;
    float* y = out.data_mut<float>();
    switch (node.op) {
      case OpKind::Embedding:
        cpu::embedding(in[0]->data<float>(), in[0]->dim(0), in[0]->dim(1), in[1]->data<std::int32_t>(), in[1]->dim(0),
                       y);
        return;
      case OpKind::MatMul:
        matmul_.run(in[0]->data<float>(), in[1]->data<float>(), y, in[0]->dim(0), in[0]->dim(1), in[1]->dim(0));
        return;
      case OpKind::RmsNorm:
        cpu::rms_norm(in[0]->data<float>(), in[1]->data<float>(), in[0]->dim(0), in[0]->dim(1), p.eps, y);
        return;
      case OpKind::Rope:
        cpu::rope(in[0]->data<float>(), in[0]->dim(0), static_cast<int>(in[0]->dim(1) / p.head_dim), p.head_dim,
                  ctx.pos, p.rope_theta, p.rope_layout, y);
        return;
      case OpKind::Attention: {
        const cpu::AttentionShape shape{static_cast<int>(in[0]->dim(0)), p.n_heads, p.n_kv_heads, p.head_dim, ctx.pos,
                                        static_cast<int>(in[3]->dim(0))};
        cpu::attention(in[0]->data<float>(), in[1]->data<float>(), in[2]->data<float>(), in[3]->data_mut<float>(),
                       in[4]->data_mut<float>(), shape, scratch_, y);
        return;
      }
      case OpKind::SiluMul:
        cpu::silu_mul(in[0]->data<float>(), in[1]->data<float>(), in[0]->numel(), y);
        return;
      case OpKind::Add:
        cpu::add(in[0]->data<float>(), in[1]->data<float>(), in[0]->numel(), y);
        return;
      case OpKind::LastRow: {
        const std::int64_t cols = in[0]->dim(1);
        std::memcpy(y, in[0]->data<float>() + (in[0]->dim(0) - 1) * cols,
                    sizeof(float) * static_cast<std::size_t>(cols));
        return;
      }
    }
    fail("cpu backend: unhandled op {}", op_name(node.op));
  }

 private:
  cpu::MatmulF32 matmul_;
  std::vector<float> scratch_;  // attention scores, n_threads x n_ctx
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace octet
