#include "kernels/cpu/eltwise_f32.h"

#include "kernels/cpu/dnnl_check.h"
#include "kernels/cpu/softmax_f32.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <utility>

namespace octet::cpu {

namespace {

struct Primitive {
  dnnl::eltwise_forward eltwise;
  dnnl::memory src, dst;  // data handles set per call
};

// P and Q of gelu_value, highest power first (as fit_gelu_rational.py prints them).
constexpr float kGeluP[] = {2.2749383e-08f, 6.352128e-06f, 0.00016882643f, 0.0046772654f, 0.033852715f, 0.39894223f};
constexpr float kGeluQ[] = {1.1975052e-06f, 7.3647774e-05f, 0.0018844492f, 0.028645912f, 0.2515221f, 1.0f};

template <std::size_t N>
inline float polynomial(const float (&coefficients)[N], float s) {
  float value = coefficients[0];
  for (std::size_t i = 1; i < N; ++i) value = value * s + coefficients[i];
  return value;
}

// x * Phi(x), Phi the standard normal CDF, for `omp simd` to vectorize (no
// libm call, no table). Phi(x) = 1/2 + x P(x^2) / Q(x^2) for |x| <= 5.5, the
// rational function tests/reference/fit_gelu_rational.py fits to
// erf(x / sqrt 2) / 2 (within 7.2e-9); past 5.5 Phi is 1 or 0 to within
// 1.9e-8. Within 1.8e-7 max(1, |x|) of the float64 GELU; 1.9x as fast as
// oneDNN's gelu_erf, which computes erf with an exp and a reciprocal (a block
// of 128 x 3072 values in cache, 2 threads, Emerald Rapids: 0.070-0.082 ms
// against 0.127-0.162).
inline float gelu_value(float x) {
  constexpr float kClamp = 5.5f;
  // A NaN becomes a number here and comes back as NaN from x * phi; x = -inf
  // gives -0, as every x below -5.5 does (x * 0 would be NaN).
  // (Not std::clamp: its references keep GCC from vectorizing.)
  const float z = x >= -kClamp ? (x <= kClamp ? x : kClamp) : -kClamp;
  const float s = z * z;
  const float phi = 0.5f + z * polynomial(kGeluP, s) / polynomial(kGeluQ, s);
  return x < -kClamp ? -0.0f : x * phi;
}

#ifdef __AVX512F__
// (GCC 12 takes the undefined operand inside its own AVX-512 intrinsics for
// an uninitialized read.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// 1 / d for 16 floats 1 <= d < 2^126: vrcp14ps (within 2^-14) and a Newton
// step, within about 2 ulps. vdivps, which GCC makes of `/`, was the cost of
// both functions below (one Emerald Rapids core: gelu 0.39-0.47 ns a value,
// silu_mul 0.50-0.55, about one divide's throughput).
inline __m512 reciprocal16(__m512 d) {
  const __m512 r = _mm512_rcp14_ps(d);
  return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}

template <std::size_t N>
inline __m512 polynomial16(const float (&coefficients)[N], __m512 s) {
  __m512 value = _mm512_set1_ps(coefficients[0]);
  for (std::size_t i = 1; i < N; ++i) value = _mm512_fmadd_ps(value, s, _mm512_set1_ps(coefficients[i]));
  return value;
}

// gelu_value of 16 floats, Q's reciprocal as above.
inline __m512 gelu16(__m512 x) {
  const __m512 clamp = _mm512_set1_ps(5.5f);
  // A NaN becomes a number here (vmaxps returns its second operand) and comes back as NaN from x * phi.
  const __m512 z = _mm512_min_ps(_mm512_max_ps(x, _mm512_sub_ps(_mm512_setzero_ps(), clamp)), clamp);
  const __m512 s = _mm512_mul_ps(z, z);
  const __m512 ratio = _mm512_mul_ps(polynomial16(kGeluP, s), reciprocal16(polynomial16(kGeluQ, s)));
  const __m512 phi = _mm512_fmadd_ps(z, ratio, _mm512_set1_ps(0.5f));
  // Below -5.5, -0 (x * 0 would be NaN for x = -inf).
  const __mmask16 below = _mm512_cmp_ps_mask(x, _mm512_sub_ps(_mm512_setzero_ps(), clamp), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(below, _mm512_mul_ps(x, phi), _mm512_set1_ps(-0.0f));
}

// silu(gate) * up of 16 floats: gate / (1 + e^-gate) with e^-gate <= e^87
// (below 2^126, as reciprocal16 needs; past it, gate * e^gate is within a
// float of 0 either way).
inline __m512 silu_mul16(__m512 gate, __m512 up) {
  // max(lowest, x) gives x where x is a NaN (vmaxps returns its second operand then): a NaN stays NaN.
  const __m512 minus = _mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), gate), _mm512_set1_ps(87.0f));
  const __m512 e = exp_avx512(_mm512_max_ps(_mm512_set1_ps(kExpLowest), minus));
  return _mm512_mul_ps(_mm512_mul_ps(gate, reciprocal16(_mm512_add_ps(e, _mm512_set1_ps(1.0f)))), up);
}

// f(i, mask) for i = 0, 16, .. < n, the last under a mask of its values.
template <typename F>
inline void for_vectors(std::int64_t n, const F& f) {
  for (std::int64_t i = 0; i < n; i += 16) {
    f(i, static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1));
  }
}

#pragma GCC diagnostic pop
#endif

}  // namespace

struct EltwiseF32::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::pair<dnnl::algorithm, std::int64_t>, Primitive> cache;

  Primitive& get(dnnl::algorithm algorithm, std::int64_t n) {
    const auto key = std::make_pair(algorithm, n);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    const dnnl::memory::desc md({n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
    Primitive p;
    // alpha = 1 makes eltwise_swish x * sigmoid(x); the others take no parameter.
    const float alpha = algorithm == dnnl::algorithm::eltwise_swish ? 1.0f : 0.0f;
    OCTET_DNNL_CHECK(
        p.eltwise = dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(
            dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algorithm, md, alpha, 0.0f), engine)));
    p.src = dnnl::memory(md, engine, DNNL_MEMORY_NONE);
    p.dst = dnnl::memory(md, engine, DNNL_MEMORY_NONE);
    return cache.emplace(key, std::move(p)).first->second;
  }

  void run(dnnl::algorithm algorithm, const float* x, std::int64_t n, float* out) {
    if (n == 0) return;  // oneDNN refuses empty tensors; there is nothing to do
    Primitive& p = get(algorithm, n);
    p.src.set_data_handle(const_cast<float*>(x));
    p.dst.set_data_handle(out);
    // The C entry point takes a plain array; the C++ one builds an unordered_map per call.
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p.src.get()}, {DNNL_ARG_DST, p.dst.get()}};
    OCTET_DNNL_STATUS(dnnl_primitive_execute(p.eltwise.get(), stream.get(), 2, args));
    OCTET_DNNL_STATUS(dnnl_stream_wait(stream.get()));
  }
};

EltwiseF32::EltwiseF32() : impl_(std::make_unique<Impl>()) {}
EltwiseF32::~EltwiseF32() = default;

void EltwiseF32::gelu(const float* x, std::int64_t n, float* out) {
  // Short arrays (a row, from the body of a caller's parallel loop) open no
  // parallel region, not even an empty one.
  constexpr std::int64_t kChunk = 16384;
  const auto values = [](const float* from, std::int64_t count, float* to) {
#ifdef __AVX512F__
    for_vectors(count, [&](std::int64_t i, __mmask16 m) {
      _mm512_mask_storeu_ps(to + i, m, gelu16(_mm512_maskz_loadu_ps(m, from + i)));
    });
#else
#pragma omp simd
    for (std::int64_t i = 0; i < count; ++i) to[i] = gelu_value(from[i]);
#endif
  };
  if (n <= kChunk) {
    values(x, n, out);
    return;
  }
#pragma omp parallel for
  for (std::int64_t i0 = 0; i0 < n; i0 += kChunk) values(x + i0, std::min(kChunk, n - i0), out + i0);
}

void EltwiseF32::gelu_tanh(const float* x, std::int64_t n, float* out) {
  impl_->run(dnnl::algorithm::eltwise_gelu_tanh, x, n, out);
}

void EltwiseF32::tanh(const float* x, std::int64_t n, float* out) {
  impl_->run(dnnl::algorithm::eltwise_tanh, x, n, out);
}

void EltwiseF32::silu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  // One vectorized pass with the attention's exp (softmax_f32.h). oneDNN's
  // swish plus a pass for the product cost a primitive call per decode step's
  // row: 17 us for 5632 values (1.1B shape, Sapphire Rapids, 2 threads), and
  // a binary_mul post-op drops oneDNN 2.6 to its reference kernel.
#ifdef __AVX512F__
  constexpr std::int64_t kChunk = 16384;
  const auto values = [&](std::int64_t first, std::int64_t count) {
    for_vectors(count, [&](std::int64_t i, __mmask16 m) {
      const std::int64_t at = first + i;
      _mm512_mask_storeu_ps(out + at, m,
                            silu_mul16(_mm512_maskz_loadu_ps(m, gate + at), _mm512_maskz_loadu_ps(m, up + at)));
    });
  };
  if (n <= 65536) {  // short rows (a decode step's) open no parallel region
    values(0, n);
    return;
  }
#pragma omp parallel for
  for (std::int64_t i0 = 0; i0 < n; i0 += kChunk) values(i0, std::min(kChunk, n - i0));
#else
  // (The `if` names `parallel` so that short rows stay vectorized: elementwise.cpp.)
#pragma omp parallel for simd if (parallel : n > 65536)
  for (std::int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + exp_f32(-gate[i])) * up[i];
#endif
}

}  // namespace octet::cpu
