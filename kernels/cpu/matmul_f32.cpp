#include "kernels/cpu/matmul_f32.h"

#include "kernels/cpu/dnnl_check.h"
#include "kernels/cpu/gemv_f32.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <string>
#include <tuple>

namespace octet::cpu {

namespace {

struct Primitive {
  dnnl::matmul matmul;
  dnnl::memory src, weights, bias, dst;  // data handles set per call
};

}  // namespace

struct MatmulF32::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, bool>, Primitive> cache;

  Primitive& get(std::int64_t m, std::int64_t k, std::int64_t n, std::int64_t ldy, bool has_bias) {
    auto key = std::make_tuple(m, k, n, ldy, has_bias);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc src_md({m, k}, dt::f32, tag::ab);
    // w is stored [N, K] row-major (a Hugging Face Linear weight); oneDNN
    // reads it as the [K, N] matrix it wants through transposed strides.
    const dnnl::memory::desc w_md({k, n}, dt::f32, dnnl::memory::dims{1, k});
    const dnnl::memory::desc dst_md({m, n}, dt::f32, dnnl::memory::dims{ldy, 1});
    const dnnl::memory::desc bias_md({1, n}, dt::f32, tag::ab);
    Primitive p;
    OCTET_DNNL_CHECK(
        p.matmul = dnnl::matmul(dnnl::matmul::primitive_desc(
            has_bias ? dnnl::matmul::desc(src_md, w_md, bias_md, dst_md) : dnnl::matmul::desc(src_md, w_md, dst_md),
            engine)));
    p.src = dnnl::memory(src_md, engine, DNNL_MEMORY_NONE);
    p.weights = dnnl::memory(w_md, engine, DNNL_MEMORY_NONE);
    p.bias = dnnl::memory(bias_md, engine, DNNL_MEMORY_NONE);
    p.dst = dnnl::memory(dst_md, engine, DNNL_MEMORY_NONE);
    return cache.emplace(key, std::move(p)).first->second;
  }
};

MatmulF32::MatmulF32() : impl_(std::make_unique<Impl>()) {
  // oneDNN's sgemm JIT-compiles its kernels on its first call in a process
  // (25 ms on this project's machine): one tiny product here puts that into
  // loading, not into the first prompt's time.
  const float ones[4] = {1.0f, 1.0f, 1.0f, 1.0f};
  float product[4];
  run(ones, ones, product, 2, 2, 2);
}
MatmulF32::~MatmulF32() = default;

void MatmulF32::run(const float* x, const float* w, float* y, std::int64_t m, std::int64_t k, std::int64_t n,
                    std::int64_t ldy, const float* bias) {
  if (m <= kGemvF32MaxRows && gemv_f32_available()) {
    gemv_f32(x, w, y, m, k, n, ldy > 0 ? ldy : n, bias);
    return;
  }
  Primitive& p = impl_->get(m, k, n, ldy > 0 ? ldy : n, bias != nullptr);
  p.src.set_data_handle(const_cast<float*>(x));
  p.weights.set_data_handle(const_cast<float*>(w));
  p.dst.set_data_handle(y);
  // The C entry point takes a plain array; the C++ one builds an unordered_map per call.
  dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p.src.get()},
                            {DNNL_ARG_WEIGHTS, p.weights.get()},
                            {DNNL_ARG_DST, p.dst.get()},
                            {DNNL_ARG_BIAS, p.bias.get()}};
  if (bias != nullptr) p.bias.set_data_handle(const_cast<float*>(bias));
  OCTET_DNNL_STATUS(dnnl_primitive_execute(p.matmul.get(), impl_->stream.get(), bias != nullptr ? 4 : 3, args));
  OCTET_DNNL_STATUS(dnnl_stream_wait(impl_->stream.get()));
}

std::string MatmulF32::implementation(std::int64_t m, std::int64_t k, std::int64_t n) {
  if (m <= kGemvF32MaxRows && gemv_f32_available()) return "octet:gemv_f32_avx512";
  Primitive& p = impl_->get(m, k, n, n, false);
  const char* info = nullptr;
  OCTET_DNNL_STATUS(dnnl_primitive_desc_query(p.matmul.get_primitive_desc(), dnnl_query_impl_info_str, 0, &info));
  return info != nullptr ? info : "";
}

}  // namespace octet::cpu
