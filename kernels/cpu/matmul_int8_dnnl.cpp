#include "kernels/cpu/matmul_int8_dnnl.h"

#include "engine/core/tensor.h"
#include "kernels/cpu/dnnl_check.h"
#include "kernels/cpu/gemm_int8_panels.h"
#include "kernels/cpu/gemv_int8_panels.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <map>
#include <optional>
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
  bool shifted = false;            // reads x + 128 as u8 (Activations::Shifted)
  dnnl::memory src, weights, dst;  // data handles set per call
};

// The layouts a (K, N) weight is packed in, and whether the first is the
// panels layout the own small-M product reads (gemv_int8_panels.h).
struct Layouts {
  std::vector<dnnl::memory::desc> descs;
  bool panels = false;
};

// One weight's packed copies, one in each layout `Impl::layouts` holds for its
// (K, N), in memory the weight owns; 128 * each column's sum, for the
// small-M product on panels and for products of shifted activations.
struct PackedWeight {
  std::int64_t k = 0, n = 0;
  std::vector<dnnl::memory> packed;
  std::vector<Tensor> buffers;  // holding the copies' memory (see Impl::place)
  std::vector<std::int32_t> offsets;
};

// Whether oneDNN's layout `md` for a [K, N] s8 weight is the panels layout:
// dims padded to 64, inner blocks 16 (K) x 64 (N) x 4 (K) (so a 64 x 64 block
// is [16][64][4]), K blocks of 4096 bytes one after the other within a panel,
// no offset and no extra data ahead of it (oneDNN's s8s8 compensation, where
// present, follows the weights and is not read; a scale adjustment is refused).
bool is_panels_layout(const dnnl::memory::desc& md, std::int64_t k, std::int64_t n) {
  const dnnl_memory_desc_t& d = md.data;
  const auto padded = [](std::int64_t v) { return (v + kPanelColumns - 1) / kPanelColumns * kPanelColumns; };
  if (d.ndims != 2 || d.format_kind != dnnl_blocked || d.data_type != dnnl_s8 || d.offset0 != 0) return false;
  if ((d.extra.flags & ~static_cast<std::uint64_t>(dnnl_memory_extra_flag_compensation_conv_s8s8)) != 0) return false;
  if (d.dims[0] != k || d.dims[1] != n || d.padded_dims[0] != padded(k) || d.padded_dims[1] != padded(n)) return false;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  return b.inner_nblks == 3 && b.inner_blks[0] == 16 && b.inner_idxs[0] == 0 && b.inner_blks[1] == 64 &&
         b.inner_idxs[1] == 1 && b.inner_blks[2] == 4 && b.inner_idxs[2] == 0 && b.strides[0] == 4096 &&
         b.strides[1] == padded(k) * kPanelColumns;
}

}  // namespace

struct MatmulInt8Dnnl::Impl {
  Kernels kernels;
  Activations activations;
  // No oneDNN int8 brgemm here, but the own panels kernels in this build
  // (own_panels_only): every weight is packed into the panels layout and
  // every product runs on the own GEMV or GEMM over it.
  bool own_kernels_only = false;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // (K, N) -> the layouts its weights are packed in (none: oneDNN declines the shape).
  std::map<std::pair<std::int64_t, std::int64_t>, Layouts> layouts;
  std::map<const std::int8_t*, PackedWeight> weights;
  std::vector<std::uint8_t> shifted_x;  // x + 128 for the product (Activations::Shifted)
  Tensor chunk;                         // where packed copies under kOwnBytes go, from chunk_used on
  std::size_t chunk_used = 0;
  // (M, K, N) -> the primitive, or nothing where this M declines; for packed
  // weights, and for plain rows (run_plain, always signed: a plain weight
  // has no column sums at hand).
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::optional<Primitive>> primitives, plain_primitives;

  bool acceptable(const std::string& implementation) const {
    return kernels == Kernels::Any || implementation.starts_with("brg");
  }

  // The int32 sums alone: both scales and the bias follow in run's own
  // pass. (Runtime output scales drop oneDNN 2.6 to its slow gemm:jit
  // kernel; with a per-row [M, 1] post-op its AMX brgemm took M = 1 only;
  // the per-column scale as a binary post-op cost up to 3x the product:
  // 4096x768x768 2.8 vs 0.93 ms on a Sapphire Rapids host, 2 threads.)
  std::optional<dnnl::matmul::primitive_desc> describe(std::int64_t m, std::int64_t k, std::int64_t n,
                                                       const dnnl::memory::desc& weights_md, bool shifted) const {
    try {
      const dt src = shifted ? dt::u8 : dt::s8;
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(dnnl::memory::desc({m, k}, src, tag::ab), weights_md,
                                                         dnnl::memory::desc({m, n}, dt::s32, tag::ab)),
                                      engine);
      if (!acceptable(pd.impl_info_str())) return std::nullopt;
      return pd;
    } catch (const dnnl::error&) {
      return std::nullopt;  // no implementation for this shape and layout: the caller's kernel runs it
    }
  }

  // The layouts a (K, N) weight is packed in: the one oneDNN picks for a
  // prefill-sized M where the own small-M product reads it and oneDNN takes
  // it for every larger M probed (an AMX CPU), or where oneDNN takes it for
  // every M probed (a VNNI CPU); else that and the one it picks at M = 1.
  // (On a Sapphire Rapids host oneDNN picked the panels layout at M = 1 too
  // for every shape but tiny ones: K = 100, N = 37 got a VNNI layout.)
  const Layouts& layouts_for(std::int64_t k, std::int64_t n) {
    const auto key = std::make_pair(k, n);
    if (auto it = layouts.find(key); it != layouts.end()) return it->second;
    Layouts found;
    if (own_kernels_only) {
      if (k <= kPanelMaxK) found = {{dnnl::memory::desc({k, n}, dt::s8, tag::BA16a64b4a)}, true};
      return layouts.emplace(key, std::move(found)).first->second;
    }
    const auto taken_at = [&](std::initializer_list<std::int64_t> ms, const dnnl::memory::desc& md) {
      return std::all_of(ms.begin(), ms.end(),
                         [&](std::int64_t m) { return describe(m, k, n, md, shifted()).has_value(); });
    };
    for (const std::int64_t pick_m : {256, 1}) {
      const auto pd = describe(pick_m, k, n, dnnl::memory::desc({k, n}, dt::s8, tag::any), shifted());
      if (!pd) continue;
      const dnnl::memory::desc candidate = pd->weights_desc();
      if (std::find(found.descs.begin(), found.descs.end(), candidate) != found.descs.end()) continue;
      if (found.descs.empty() && kernels == Kernels::Brgemm && panels_have_vnni() && k <= kPanelMaxK &&
          is_panels_layout(candidate, k, n) && taken_at({kPanelRows + 1, 64, 256}, candidate)) {
        found = {{candidate}, true};
        break;
      }
      if (taken_at({1, 3, 64, 256}, candidate)) {
        found = {{candidate}, false};
        break;
      }
      found.descs.push_back(candidate);
    }
    return layouts.emplace(key, std::move(found)).first->second;
  }

  // Memory for a packed copy of `bytes`, and the Tensor that holds it. Tensor
  // memory rather than oneDNN's own because a large Tensor is on transparent
  // huge pages, which a weight stream reads ~1.3x as fast (the panels GEMV on
  // a Sapphire Rapids host, 2 threads: 25 -> 32 GB/s); copies under 2 MiB
  // share chunks of 32 MiB so that they are too (SmolLM2-135M's are all under
  // 1 MiB). An untouched chunk's tail costs no resident memory.
  std::pair<Tensor, void*> place(std::size_t bytes) {
    constexpr std::size_t kOwnBytes = 2u << 20, kChunkBytes = 32u << 20;
    if (bytes >= kOwnBytes) {
      Tensor own = Tensor::zeros(DType::I8, {static_cast<std::int64_t>(bytes)});
      void* data = own.raw_mut();
      return {std::move(own), data};
    }
    bytes = (bytes + 63) / 64 * 64;
    if (chunk.raw() == nullptr || chunk_used + bytes > kChunkBytes) {
      chunk = Tensor::zeros(DType::I8, {static_cast<std::int64_t>(kChunkBytes)});
      chunk_used = 0;
    }
    void* data = static_cast<std::byte*>(chunk.raw_mut()) + chunk_used;
    chunk_used += bytes;
    return {chunk, data};
  }

  bool runs_on_panels(std::int64_t m, std::int64_t k, std::int64_t n) {
    return m <= kPanelRows && layouts_for(k, n).panels;
  }

  // Larger products on the own GEMM over the same copy (gemm_int8_panels.h)
  // where oneDNN's brgemm would run on VNNI without AMX (shifted
  // activations): there oneDNN's products plus the passes that shift their
  // activations and scale their sums took as long as the own GEMM's or longer.
  bool runs_on_own_gemm(std::int64_t m, std::int64_t k, std::int64_t n) {
    return m > kPanelRows && (shifted() || own_kernels_only) && layouts_for(k, n).panels;
  }

  // Whether this instance runs any product: declined on a CPU where the
  // kernels asked for do not run.
  bool runs_here() const { return kernels == Kernels::Any || cpu_has_int8_brgemm() || own_kernels_only; }

  // w [n, k] row-major, read as the [K, N] matrix oneDNN wants through transposed strides.
  static dnnl::memory::desc plain_desc(std::int64_t k, std::int64_t n) {
    return dnnl::memory::desc({k, n}, dt::s8, dnnl::memory::dims{1, k});
  }

  Primitive* plain_primitive(std::int64_t m, std::int64_t k, std::int64_t n) {
    const auto key = std::make_tuple(m, k, n);
    if (auto it = plain_primitives.find(key); it != plain_primitives.end()) return it->second ? &*it->second : nullptr;
    std::optional<Primitive> made;
    if (const auto pd = describe(m, k, n, plain_desc(k, n), false)) {
      Primitive p;
      OCTET_DNNL_CHECK(p.matmul = dnnl::matmul(*pd));
      p.implementation = pd->impl_info_str();
      p.src = dnnl::memory(pd->src_desc(), engine, DNNL_MEMORY_NONE);
      p.weights = dnnl::memory(plain_desc(k, n), engine, DNNL_MEMORY_NONE);
      p.dst = dnnl::memory(pd->dst_desc(), engine, DNNL_MEMORY_NONE);
      made = std::move(p);
    }
    auto& slot = plain_primitives.emplace(key, std::move(made)).first->second;
    return slot ? &*slot : nullptr;
  }

  bool shifted() const { return activations == Activations::Shifted; }

  // Room for `bytes` of shifted activations: made by prepare, grown here for an unprepared M.
  std::uint8_t* shifted_rows(std::int64_t bytes) {
    if (shifted_x.size() < static_cast<std::size_t>(bytes)) shifted_x.resize(static_cast<std::size_t>(bytes));
    return shifted_x.data();
  }

  // Runs p on x [m, k] and the weights at `w` into y's int32 sums, then
  // turns each into its float in place, scaled as the own kernel
  // (gemm_int8.h) scales it, so that both give the same floats, and runs
  // `then` on the row. `shift`: 128 * each weight column's sum, where p reads
  // shifted activations.
  void execute(Primitive& p, const std::int8_t* x, const void* w, const float* x_scale, const float* w_scale, float* y,
               std::int64_t m, std::int64_t k, std::int64_t n, const float* bias, const std::int32_t* shift,
               const RowEpilogue& then) {
    if (p.shifted) {
      const std::int64_t bytes = m * k;
      std::uint8_t* to = shifted_rows(bytes);
#pragma omp parallel for if (bytes > (1 << 18))
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t c = 0; c < k; ++c)
          to[i * k + c] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(x[i * k + c]) ^ 0x80u);
      p.src.set_data_handle(to);
    } else {
      p.src.set_data_handle(const_cast<std::int8_t*>(x));
    }
    p.weights.set_data_handle(const_cast<void*>(w));
    p.dst.set_data_handle(y);
    // The C entry point takes a plain array; the C++ one builds an unordered_map per call.
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, p.src.get()}, {DNNL_ARG_WEIGHTS, p.weights.get()}, {DNNL_ARG_DST, p.dst.get()}};
    OCTET_DNNL_STATUS(dnnl_primitive_execute(p.matmul.get(), stream.get(), 3, args));
    OCTET_DNNL_STATUS(dnnl_stream_wait(stream.get()));
#pragma omp parallel for if (m * n > (1 << 16))
    for (std::int64_t i = 0; i < m; ++i) {
      float* row = y + i * n;
      if (p.shifted) {  // each column's shift off its exact int32 sum first, while the row is in cache
        for (std::int64_t j = 0; j < n; ++j)
          row[j] = std::bit_cast<float>(std::bit_cast<std::int32_t>(row[j]) - shift[j]);
      }
      const float s = x_scale[i];
      if (bias != nullptr) {
        for (std::int64_t j = 0; j < n; ++j)
          row[j] = scaled_sum(std::bit_cast<std::int32_t>(row[j]), s * w_scale[j], bias[j]);
      } else {
        for (std::int64_t j = 0; j < n; ++j)
          row[j] = static_cast<float>(std::bit_cast<std::int32_t>(row[j])) * (s * w_scale[j]);
      }
      if (then) then(i, row);
    }
  }

  Primitive* primitive(std::int64_t m, std::int64_t k, std::int64_t n) {
    const auto key = std::make_tuple(m, k, n);
    if (auto it = primitives.find(key); it != primitives.end()) return it->second ? &*it->second : nullptr;
    std::optional<Primitive> made;
    const auto& packed = layouts_for(k, n).descs;
    for (std::size_t i = 0; i < packed.size() && !made; ++i) {
      if (const auto pd = describe(m, k, n, packed[i], shifted())) {
        Primitive p;
        OCTET_DNNL_CHECK(p.matmul = dnnl::matmul(*pd));
        p.implementation = pd->impl_info_str();
        p.layout = i;
        p.shifted = shifted();
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

MatmulInt8Dnnl::MatmulInt8Dnnl(Kernels kernels, Activations activations) : impl_(std::make_unique<Impl>()) {
  impl_->kernels = kernels;
  impl_->activations = activations;
  impl_->own_kernels_only = kernels == Kernels::Brgemm && own_panels_only();
}
MatmulInt8Dnnl::~MatmulInt8Dnnl() = default;

bool MatmulInt8Dnnl::cpu_has_int8_brgemm() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto vnni = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_vnni);
  return (isa & vnni) == vnni;
}

bool MatmulInt8Dnnl::own_panels_only() { return !cpu_has_int8_brgemm() && panels_built(); }

MatmulInt8Dnnl::Activations MatmulInt8Dnnl::fastest_activations() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto amx = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_amx);
  return cpu_has_int8_brgemm() && (isa & amx) != amx ? Activations::Shifted : Activations::Signed;
}

bool MatmulInt8Dnnl::pack(const std::int8_t* w, std::int64_t k, std::int64_t n) {
  if (impl_->weights.contains(w)) return true;
  if (k <= 0 || n <= 0) return false;
  if (!impl_->runs_here()) return false;  // no int8 kernel of the kind asked for here
  const Layouts& found = impl_->layouts_for(k, n);
  if (found.descs.empty()) return false;
  PackedWeight weight{k, n, {}, {}, {}};
  try {
    dnnl::memory plain(Impl::plain_desc(k, n), impl_->engine, const_cast<std::int8_t*>(w));
    for (const dnnl::memory::desc& layout : found.descs) {
      auto [holder, data] = impl_->place(layout.get_size());
      weight.buffers.push_back(std::move(holder));
      weight.packed.emplace_back(layout, impl_->engine, data);
      dnnl::reorder(plain, weight.packed.back()).execute(impl_->stream, plain, weight.packed.back());
    }
    impl_->stream.wait();
  } catch (const dnnl::error&) {
    return false;  // no reorder into that layout: the caller's own kernel runs this weight
  }
  if (found.panels) {
    weight.offsets.resize(static_cast<std::size_t>(found.descs[0].data.padded_dims[1]));
    panel_offsets(static_cast<const std::int8_t*>(weight.packed[0].get_data_handle()), k, n, weight.offsets.data());
  } else if (impl_->shifted()) {
    weight.offsets.resize(static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) {
      std::int32_t sum = 0;
      for (std::int64_t c = 0; c < k; ++c) sum += w[j * k + c];
      weight.offsets[static_cast<std::size_t>(j)] = 128 * sum;
    }
  }
  impl_->weights.emplace(w, std::move(weight));
  return true;
}

Tensor MatmulInt8Dnnl::panels_copy(const std::int8_t* w, std::int64_t k, std::int64_t n) {
  static MatmulInt8Dnnl packer;  // its layouts and chunks serve every copy made
  Impl& impl = *packer.impl_;
  if (k <= 0 || n <= 0 || !impl.runs_here()) return {};
  const Layouts& found = impl.layouts_for(k, n);
  if (!found.panels) return {};
  const dnnl::memory::desc& layout = found.descs[0];
  auto [holder, data] = impl.place(layout.get_size());
  try {
    dnnl::memory plain(Impl::plain_desc(k, n), impl.engine, const_cast<std::int8_t*>(w));
    dnnl::memory packed(layout, impl.engine, data);
    dnnl::reorder(plain, packed).execute(impl.stream, plain, packed);
    impl.stream.wait();
  } catch (const dnnl::error&) {
    return {};
  }
  const auto offset =
      static_cast<std::size_t>(static_cast<std::byte*>(data) - static_cast<std::byte*>(holder.raw_mut()));
  return holder.view(DType::I8, {n, k}, offset);
}

bool MatmulInt8Dnnl::adopt_panels(const Tensor& packed) {
  const auto* key = packed.data<std::int8_t>();
  if (impl_->weights.contains(key)) return true;
  if (packed.dtype() != DType::I8 || packed.rank() != 2 || !impl_->runs_here()) return false;
  const std::int64_t n = packed.dim(0), k = packed.dim(1);
  const Layouts& found = impl_->layouts_for(k, n);
  if (!found.panels) return false;
  PackedWeight weight{k, n, {}, {packed}, {}};
  weight.packed.emplace_back(found.descs[0], impl_->engine, const_cast<std::int8_t*>(key));
  weight.offsets.resize(static_cast<std::size_t>(found.descs[0].data.padded_dims[1]));
  panel_offsets(key, k, n, weight.offsets.data());
  impl_->weights.emplace(key, std::move(weight));
  return true;
}

bool MatmulInt8Dnnl::prepare(std::int64_t m, std::int64_t k, std::int64_t n) {
  if (!impl_->runs_here()) return false;
  if (m <= 0 || k <= 0 || n <= 0) return false;
  if (impl_->runs_on_panels(m, k, n)) return true;
  if (impl_->runs_on_own_gemm(m, k, n)) {
    impl_->shifted_rows(gemm_panels_scratch_bytes(m, k));
    return true;
  }
  const Primitive* p = impl_->primitive(m, k, n);
  if (p == nullptr) return false;
  // Room for the shifted rows now, so that running the product allocates nothing.
  if (p->shifted) impl_->shifted_rows(m * k);
  return true;
}

bool MatmulInt8Dnnl::run(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale,
                         float* y, std::int64_t m, std::int64_t k, std::int64_t n, const float* bias,
                         const RowEpilogue& then) {
  const auto it = impl_->weights.find(w);
  if (it == impl_->weights.end() || it->second.k != k || it->second.n != n || m <= 0) return false;
  if (m <= kPanelRows && impl_->runs_on_panels(m, k, n)) {
    gemv_s8s8_f32_panels(x, x_scale, static_cast<const std::int8_t*>(it->second.packed[0].get_data_handle()),
                         it->second.offsets.data(), w_scale, y, m, k, n, bias);
    if (then) {
      for (std::int64_t i = 0; i < m; ++i) then(i, y + i * n);
    }
    return true;
  }
  if (impl_->runs_on_own_gemm(m, k, n)) {
    gemm_s8s8_f32_panels(x, x_scale, static_cast<const std::int8_t*>(it->second.packed[0].get_data_handle()),
                         it->second.offsets.data(), w_scale, y, m, k, n, bias,
                         impl_->shifted_rows(gemm_panels_scratch_bytes(m, k)), then);
    return true;
  }
  Primitive* p = impl_->primitive(m, k, n);
  if (p == nullptr || p->layout >= it->second.packed.size()) return false;
  impl_->execute(*p, x, it->second.packed[p->layout].get_data_handle(), x_scale, w_scale, y, m, k, n, bias,
                 it->second.offsets.data(), then);
  return true;
}

bool MatmulInt8Dnnl::run_together(const std::int8_t* x, const float* x_scale, std::span<const Int8Product> products,
                                  std::int64_t m, std::int64_t k) {
  if (m <= 0 || m > kPanelRows || products.empty() || products.size() > kMaxInt8Products) return false;
  std::array<PanelsProduct, kMaxInt8Products> panels{};
  for (std::size_t i = 0; i < products.size(); ++i) {
    const Int8Product& p = products[i];
    const auto it = impl_->weights.find(p.w);
    if (it == impl_->weights.end() || it->second.k != k || it->second.n != p.n || !impl_->runs_on_panels(m, k, p.n)) {
      return false;
    }
    panels[i] = {{static_cast<const std::int8_t*>(it->second.packed[0].get_data_handle()), p.w_scale, p.y, p.n, p.bias},
                 it->second.offsets.data()};
  }
  gemv_s8s8_f32_panels(x, x_scale, std::span(panels).first(products.size()), m, k);
  return true;
}

bool MatmulInt8Dnnl::plain_runs(std::int64_t m, std::int64_t k, std::int64_t n) {
  if (!impl_->runs_here()) return false;
  return m > 0 && k > 0 && n > 0 && impl_->plain_primitive(m, k, n) != nullptr;
}

bool MatmulInt8Dnnl::run_plain(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale,
                               float* y, std::int64_t m, std::int64_t k, std::int64_t n, const float* bias) {
  if (!plain_runs(m, k, n)) return false;
  impl_->execute(*impl_->plain_primitive(m, k, n), x, w, x_scale, w_scale, y, m, k, n, bias, nullptr, {});
  return true;
}

std::string MatmulInt8Dnnl::implementation(std::int64_t m, std::int64_t k, std::int64_t n) {
  if (!impl_->runs_here()) return "";
  if (impl_->runs_on_panels(m, k, n)) return std::string("octet:gemv_panels_") + panels_form();
  if (impl_->runs_on_own_gemm(m, k, n)) return std::string("octet:gemm_panels_") + panels_form();
  const Primitive* p = impl_->primitive(m, k, n);
  return p != nullptr ? p->implementation : "";
}

}  // namespace octet::cpu
