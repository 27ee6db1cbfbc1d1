#include "kernels/cpu/matmul_int8_dnnl.h"

#include "kernels/cpu/dnnl_check.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <bit>
#include <map>
#include <optional>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

namespace octet::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct Primitive {
  dnnl::matmul matmul;
  std::string implementation;
  std::size_t layout = 0;          // which of the (K, N) layouts it reads
  dnnl::memory src, weights, dst;  // data handles set per call
};

// One weight's packed copies, one in each layout `Impl::layouts` holds for its (K, N).
struct PackedWeight {
  std::int64_t k = 0, n = 0;
  std::vector<dnnl::memory> packed;
};

}  // namespace

struct MatmulInt8Dnnl::Impl {
  Kernels kernels;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // (K, N) -> the layouts its weights are packed in (none: oneDNN declines the shape).
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<dnnl::memory::desc>> layouts;
  std::map<const std::int8_t*, PackedWeight> weights;
  // (M, K, N) -> the primitive, or nothing where this M declines.
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::optional<Primitive>> primitives;

  bool acceptable(const std::string& implementation) const {
    return kernels == Kernels::Any || implementation.starts_with("brg");
  }

  // The int32 sums alone: both scales and the bias follow in run's own
  // pass. (Runtime output scales drop oneDNN 2.6 to its slow gemm:jit
  // kernel; with a per-row [M, 1] post-op its AMX brgemm took M = 1 only;
  // the per-column scale as a binary post-op cost up to 3x the product:
  // 4096x768x768 2.8 vs 0.93 ms on a Sapphire Rapids host, 2 threads.)
  std::optional<dnnl::matmul::primitive_desc> describe(std::int64_t m, std::int64_t k, std::int64_t n,
                                                       const dnnl::memory::desc& weights_md) const {
    try {
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(dnnl::memory::desc({m, k}, dt::s8, tag::ab), weights_md,
                                                         dnnl::memory::desc({m, n}, dt::s32, tag::ab)),
                                      engine);
      if (!acceptable(pd.impl_info_str())) return std::nullopt;
      return pd;
    } catch (const dnnl::error&) {
      return std::nullopt;  // no implementation for this shape and layout: the caller's kernel runs it
    }
  }

  // The layouts a (K, N) weight is packed in: the one oneDNN picks for a
  // prefill-sized M where every probed M accepts it (a VNNI CPU), else that
  // and the one it picks at M = 1 (an AMX CPU: measured on a Sapphire Rapids
  // host, the M = 1 layout was refused at every larger M).
  const std::vector<dnnl::memory::desc>& layouts_for(std::int64_t k, std::int64_t n) {
    const auto key = std::make_pair(k, n);
    if (auto it = layouts.find(key); it != layouts.end()) return it->second;
    std::vector<dnnl::memory::desc> found;
    for (const std::int64_t pick_m : {256, 1}) {
      const auto pd = describe(pick_m, k, n, dnnl::memory::desc({k, n}, dt::s8, tag::any));
      if (!pd) continue;
      const dnnl::memory::desc candidate = pd->weights_desc();
      if (std::find(found.begin(), found.end(), candidate) != found.end()) continue;
      bool every_m = true;
      for (const std::int64_t m : {1, 3, 64, 256}) every_m = every_m && describe(m, k, n, candidate).has_value();
      if (every_m) {
        found = {candidate};
        break;
      }
      found.push_back(candidate);
    }
    return layouts.emplace(key, std::move(found)).first->second;
  }

  Primitive* primitive(std::int64_t m, std::int64_t k, std::int64_t n) {
    const auto key = std::make_tuple(m, k, n);
    if (auto it = primitives.find(key); it != primitives.end()) return it->second ? &*it->second : nullptr;
    std::optional<Primitive> made;
    const auto& packed = layouts_for(k, n);
    for (std::size_t i = 0; i < packed.size() && !made; ++i) {
      if (const auto pd = describe(m, k, n, packed[i])) {
        Primitive p;
        OCTET_DNNL_CHECK(p.matmul = dnnl::matmul(*pd));
        p.implementation = pd->impl_info_str();
        p.layout = i;
        p.src = dnnl::memory(pd->src_desc(), engine, DNNL_MEMORY_NONE);
        p.weights = dnnl::memory(packed[i], engine, DNNL_MEMORY_NONE);
        p.dst = dnnl::memory(pd->dst_desc(), engine, DNNL_MEMORY_NONE);
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

bool MatmulInt8Dnnl::pack(const std::int8_t* w, std::int64_t k, std::int64_t n, PackFor runs) {
  if (impl_->weights.contains(w)) return true;
  if (k <= 0 || n <= 0) return false;
  if (impl_->kernels == Kernels::Brgemm && !cpu_has_vnni()) return false;  // no brgemm int8 kernel here
  const auto& every_layout = impl_->layouts_for(k, n);
  if (every_layout.empty()) return false;
  // The first layout is the one picked for prefill (M = 256) where there is one.
  const std::span<const dnnl::memory::desc> layouts(every_layout.data(),
                                                    runs == PackFor::Prefill ? 1 : every_layout.size());
  // w is stored [N, K] row-major (a Hugging Face Linear weight); oneDNN reads
  // it as the [K, N] matrix it wants through transposed strides.
  const dnnl::memory::desc plain_md({k, n}, dt::s8, dnnl::memory::dims{1, k});
  PackedWeight weight{k, n, {}};
  try {
    dnnl::memory plain(plain_md, impl_->engine, const_cast<std::int8_t*>(w));
    for (const dnnl::memory::desc& layout : layouts) {
      weight.packed.emplace_back(layout, impl_->engine);
      dnnl::reorder(plain, weight.packed.back()).execute(impl_->stream, plain, weight.packed.back());
    }
    impl_->stream.wait();
  } catch (const dnnl::error&) {
    return false;  // no reorder into that layout: the caller's own kernel runs this weight
  }
  impl_->weights.emplace(w, std::move(weight));
  return true;
}

bool MatmulInt8Dnnl::prepare(std::int64_t m, std::int64_t k, std::int64_t n) {
  if (impl_->kernels == Kernels::Brgemm && !cpu_has_vnni()) return false;
  if (m <= 0 || k <= 0 || n <= 0) return false;
  return impl_->primitive(m, k, n) != nullptr;
}

bool MatmulInt8Dnnl::run(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale,
                         float* y, std::int64_t m, std::int64_t k, std::int64_t n, const float* bias) {
  const auto it = impl_->weights.find(w);
  if (it == impl_->weights.end() || it->second.k != k || it->second.n != n || m <= 0) return false;
  Primitive* p = impl_->primitive(m, k, n);
  if (p == nullptr || p->layout >= it->second.packed.size()) return false;
  p->src.set_data_handle(const_cast<std::int8_t*>(x));
  p->weights.set_data_handle(it->second.packed[p->layout].get_data_handle());
  p->dst.set_data_handle(y);
  // The C entry point takes a plain array; the C++ one builds an unordered_map per call.
  dnnl_exec_arg_t args[] = {
      {DNNL_ARG_SRC, p->src.get()}, {DNNL_ARG_WEIGHTS, p->weights.get()}, {DNNL_ARG_DST, p->dst.get()}};
  OCTET_DNNL_STATUS(dnnl_primitive_execute(p->matmul.get(), impl_->stream.get(), 3, args));
  OCTET_DNNL_STATUS(dnnl_stream_wait(impl_->stream.get()));
  // y holds the int32 sums: each becomes its float in place, scaled as the
  // own kernel (gemm_int8.h) scales it, so that both give the same floats.
#pragma omp parallel for if (m * n > (1 << 16))
  for (std::int64_t i = 0; i < m; ++i) {
    float* row = y + i * n;
    const float s = x_scale[i];
    if (bias != nullptr) {
      for (std::int64_t j = 0; j < n; ++j)
        row[j] = static_cast<float>(std::bit_cast<std::int32_t>(row[j])) * (s * w_scale[j]) + bias[j];
    } else {
      for (std::int64_t j = 0; j < n; ++j)
        row[j] = static_cast<float>(std::bit_cast<std::int32_t>(row[j])) * (s * w_scale[j]);
    }
  }
  return true;
}

std::string MatmulInt8Dnnl::implementation(std::int64_t m, std::int64_t k, std::int64_t n) {
  const Primitive* p = impl_->primitive(m, k, n);
  return p != nullptr ? p->implementation : "";
}

}  // namespace octet::cpu
