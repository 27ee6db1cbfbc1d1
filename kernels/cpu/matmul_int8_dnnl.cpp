#include "kernels/cpu/matmul_int8_dnnl.h"

#include "kernels/cpu/dnnl_check.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <optional>
#include <tuple>
#include <utility>

namespace octet::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Post-op arguments, in the order they are appended.
constexpr int kRowScaleArg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1;
constexpr int kColumnScaleArg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1;
constexpr int kBiasArg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(2) | DNNL_ARG_SRC_1;

struct Primitive {
  dnnl::matmul matmul;
  std::string implementation;
  dnnl::memory src, weights, dst, row_scale, column_scale, bias;  // data handles set per call
};

// One weight's packed copy, in the layout `Impl::layouts` holds for its (K, N).
struct PackedWeight {
  std::int64_t k = 0, n = 0;
  dnnl::memory packed;
};

}  // namespace

struct MatmulInt8Dnnl::Impl {
  Kernels kernels;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::pair<std::int64_t, std::int64_t>, dnnl::memory::desc> layouts;  // (K, N) -> packed layout
  std::map<const std::int8_t*, PackedWeight> weights;
  // (M, K, N, bias) -> the primitive, or nothing where this M declines.
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, bool>, std::optional<Primitive>> primitives;

  bool acceptable(const std::string& implementation) const {
    return kernels == Kernels::Any || implementation.starts_with("brg");
  }

  // The scales (per row, then per column) and the bias as binary post-ops:
  // runtime output scales would drop oneDNN 2.6 to its slow gemm:jit kernel.
  std::optional<dnnl::matmul::primitive_desc> describe(std::int64_t m, std::int64_t k, std::int64_t n, bool has_bias,
                                                       const dnnl::memory::desc& weights_md) const {
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_mul, dnnl::memory::desc({m, 1}, dt::f32, tag::ab));
    ops.append_binary(dnnl::algorithm::binary_mul, dnnl::memory::desc({1, n}, dt::f32, tag::ab));
    if (has_bias) ops.append_binary(dnnl::algorithm::binary_add, dnnl::memory::desc({1, n}, dt::f32, tag::ab));
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    try {
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(dnnl::memory::desc({m, k}, dt::s8, tag::ab), weights_md,
                                                         dnnl::memory::desc({m, n}, dt::f32, tag::ab)),
                                      attr, engine);
      if (!acceptable(pd.impl_info_str())) return std::nullopt;
      return pd;
    } catch (const dnnl::error&) {
      return std::nullopt;  // no implementation for this shape and layout: the caller's kernel runs it
    }
  }

  const dnnl::memory::desc* layout(std::int64_t k, std::int64_t n) {
    const auto key = std::make_pair(k, n);
    if (auto it = layouts.find(key); it != layouts.end()) return &it->second;
    const auto pd = describe(1, k, n, false, dnnl::memory::desc({k, n}, dt::s8, tag::any));
    if (!pd) return nullptr;
    return &layouts.emplace(key, pd->weights_desc()).first->second;
  }

  Primitive* primitive(std::int64_t m, std::int64_t k, std::int64_t n, bool has_bias) {
    const auto key = std::make_tuple(m, k, n, has_bias);
    if (auto it = primitives.find(key); it != primitives.end()) return it->second ? &*it->second : nullptr;
    std::optional<Primitive> made;
    const dnnl::memory::desc* packed = layout(k, n);
    if (packed != nullptr) {
      if (const auto pd = describe(m, k, n, has_bias, *packed)) {
        Primitive p;
        OCTET_DNNL_CHECK(p.matmul = dnnl::matmul(*pd));
        p.implementation = pd->impl_info_str();
        p.src = dnnl::memory(pd->src_desc(), engine, DNNL_MEMORY_NONE);
        p.weights = dnnl::memory(*packed, engine, DNNL_MEMORY_NONE);
        p.dst = dnnl::memory(pd->dst_desc(), engine, DNNL_MEMORY_NONE);
        p.row_scale = dnnl::memory(dnnl::memory::desc({m, 1}, dt::f32, tag::ab), engine, DNNL_MEMORY_NONE);
        p.column_scale = dnnl::memory(dnnl::memory::desc({1, n}, dt::f32, tag::ab), engine, DNNL_MEMORY_NONE);
        p.bias = dnnl::memory(dnnl::memory::desc({1, n}, dt::f32, tag::ab), engine, DNNL_MEMORY_NONE);
        made = std::move(p);
      }
    }
    auto& slot = primitives.emplace(key, std::move(made)).first->second;
    return slot ? &*slot : nullptr;
  }
};

MatmulInt8Dnnl::MatmulInt8Dnnl(Kernels kernels) : impl_(std::make_unique<Impl>()) { impl_->kernels = kernels; }
MatmulInt8Dnnl::~MatmulInt8Dnnl() = default;

bool MatmulInt8Dnnl::cpu_has_vnni() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto has = [isa](dnnl::cpu_isa feature) {
    const auto bits = static_cast<unsigned>(feature);
    return (isa & bits) == bits;
  };
  return has(dnnl::cpu_isa::avx512_core_vnni) || has(dnnl::cpu_isa::avx2_vnni);
}

bool MatmulInt8Dnnl::pack(const std::int8_t* w, std::int64_t k, std::int64_t n) {
  if (impl_->weights.contains(w)) return true;
  if (k <= 0 || n <= 0) return false;
  if (impl_->kernels == Kernels::Brgemm && !cpu_has_vnni()) return false;  // no brgemm int8 kernel here
  const dnnl::memory::desc* packed = impl_->layout(k, n);
  if (packed == nullptr) return false;
  // w is stored [N, K] row-major (a Hugging Face Linear weight); oneDNN reads
  // it as the [K, N] matrix it wants through transposed strides.
  const dnnl::memory::desc plain_md({k, n}, dt::s8, dnnl::memory::dims{1, k});
  PackedWeight weight{k, n, {}};
  try {
    dnnl::memory plain(plain_md, impl_->engine, const_cast<std::int8_t*>(w));
    weight.packed = dnnl::memory(*packed, impl_->engine);
    dnnl::reorder(plain, weight.packed).execute(impl_->stream, plain, weight.packed);
    impl_->stream.wait();
  } catch (const dnnl::error&) {
    return false;  // no reorder into that layout: the caller's own kernel runs this weight
  }
  impl_->weights.emplace(w, std::move(weight));
  return true;
}

bool MatmulInt8Dnnl::prepare(std::int64_t m, std::int64_t k, std::int64_t n, bool has_bias) {
  if (impl_->kernels == Kernels::Brgemm && !cpu_has_vnni()) return false;
  if (m <= 0 || k <= 0 || n <= 0) return false;
  return impl_->primitive(m, k, n, has_bias) != nullptr;
}

bool MatmulInt8Dnnl::run(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale,
                         float* y, std::int64_t m, std::int64_t k, std::int64_t n, const float* bias) {
  const auto it = impl_->weights.find(w);
  if (it == impl_->weights.end() || it->second.k != k || it->second.n != n || m <= 0) return false;
  Primitive* p = impl_->primitive(m, k, n, bias != nullptr);
  if (p == nullptr) return false;
  p->src.set_data_handle(const_cast<std::int8_t*>(x));
  p->weights.set_data_handle(it->second.packed.get_data_handle());
  p->dst.set_data_handle(y);
  p->row_scale.set_data_handle(const_cast<float*>(x_scale));
  p->column_scale.set_data_handle(const_cast<float*>(w_scale));
  // The C entry point takes a plain array; the C++ one builds an unordered_map per call.
  dnnl_exec_arg_t args[] = {
      {DNNL_ARG_SRC, p->src.get()},       {DNNL_ARG_WEIGHTS, p->weights.get()},     {DNNL_ARG_DST, p->dst.get()},
      {kRowScaleArg, p->row_scale.get()}, {kColumnScaleArg, p->column_scale.get()}, {kBiasArg, p->bias.get()}};
  if (bias != nullptr) p->bias.set_data_handle(const_cast<float*>(bias));
  OCTET_DNNL_STATUS(dnnl_primitive_execute(p->matmul.get(), impl_->stream.get(), bias != nullptr ? 6 : 5, args));
  OCTET_DNNL_STATUS(dnnl_stream_wait(impl_->stream.get()));
  return true;
}

std::string MatmulInt8Dnnl::implementation(std::int64_t m, std::int64_t k, std::int64_t n) {
  const Primitive* p = impl_->primitive(m, k, n, false);
  return p != nullptr ? p->implementation : "";
}

}  // namespace octet::cpu
