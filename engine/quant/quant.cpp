#include "engine/quant/quant.h"

#include "engine/core/dtype.h"
#include "engine/core/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace octet {

std::string_view quant_scheme_name(QuantScheme scheme) {
  switch (scheme) {
    case QuantScheme::F32:
      return "f32";
    case QuantScheme::W8:
      return "w8";
    case QuantScheme::Int8:
      return "int8";
    case QuantScheme::Fp8:
      return "fp8";
  }
  return "unknown";
}

std::optional<QuantScheme> quant_scheme_from_name(std::string_view name) {
  for (QuantScheme s : {QuantScheme::F32, QuantScheme::W8, QuantScheme::Int8, QuantScheme::Fp8}) {
    if (quant_scheme_name(s) == name) return s;
  }
  return std::nullopt;
}

QuantScheme QuantRecipe::scheme_for(std::string_view weight_name) const {
  for (const auto& pattern : keep_float) {
    if (!pattern.empty() && weight_name.find(pattern) != std::string_view::npos) return QuantScheme::F32;
  }
  if (rest_from >= 0) {
    const int block = block_of_weight(weight_name);
    if (block < 0 || block >= rest_from) return rest_scheme;
  }
  return scheme;
}

QuantScheme QuantRecipe::table_scheme_for(std::string_view table_name) const {
  QuantRecipe unsplit = *this;
  unsplit.rest_from = -1;
  return unsplit.scheme_for(table_name);
}

std::string recipe_name(const QuantRecipe& recipe) {
  std::string name(quant_scheme_name(recipe.scheme));
  if (recipe.rest_from >= 0) {
    name += fmt::format(", {} from block {}", quant_scheme_name(recipe.rest_scheme), recipe.rest_from);
  }
  return name;
}

int block_of_weight(std::string_view weight_name) {
  for (const std::string_view marker : {"layers.", "layer."}) {
    for (std::size_t at = weight_name.find(marker); at != std::string_view::npos;
         at = weight_name.find(marker, at + 1)) {
      if (at > 0 && weight_name[at - 1] != '.') continue;  // "sublayers." is not a block
      const char* first = weight_name.data() + at + marker.size();
      const char* last = weight_name.data() + weight_name.size();
      unsigned block = 0;
      const auto [end, error] = std::from_chars(first, last, block);
      if (error == std::errc() && end != last && *end == '.' && block <= 1u << 20) return static_cast<int>(block);
    }
  }
  return -1;
}

namespace {

// A rounded value clamped to [-127, 127] as max_ps / min_ps clamp it, so that
// a NaN becomes -127 in the scalar and the vector code alike (std::clamp
// would keep the NaN, and converting a NaN to an integer is undefined).
inline std::int8_t clamp_to_int8(float r) {
  const float above = r > -127.0f ? r : -127.0f;
  return static_cast<std::int8_t>(above < 127.0f ? above : 127.0f);
}

#if defined(__AVX512F__) && defined(__AVX512BW__)
// The two passes of quantize_row_int8 with AVX-512, 16 values a vector, the
// row's tail under a mask: half the instructions of the AVX2 passes below
// (every int8 matmul's input goes through them: a LayerNorm's, a GELU's, an
// attention's rows; 64 rows in L2, one Emerald Rapids core: 0.18 instead of
// 0.21-0.25 ns a value at 768, 0.16-0.19 instead of 0.20 at 3072). Same
// results, bit for bit: max is exact in any order, and the conversion rounds
// to nearest even as nearbyint does, then clamps.
// (GCC 12 warns of the undefined operand inside its own AVX-512 intrinsics.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
inline __mmask16 tail_mask(std::int64_t n, std::int64_t i) {
  return static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
}

float absmax_avx512(const float* x, std::int64_t n) {
  __m512 m[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  std::int64_t i = 0;
  // max_ps gives its second operand where either is NaN: a NaN value is skipped.
  for (; i + 64 <= n; i += 64) {
    for (int j = 0; j < 4; ++j) m[j] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i + 16 * j)), m[j]);
  }
  for (; i < n; i += 16) m[0] = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(tail_mask(n, i), x + i)), m[0]);
  return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m[0], m[1]), _mm512_max_ps(m[2], m[3])));
}

void quantize_avx512(const float* x, std::int64_t n, float inv, std::int8_t* q) {
  const __m512 scale = _mm512_set1_ps(inv);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n, i);
    // A NaN converts to INT_MIN and clamps to -127, as clamp_to_int8 takes it.
    const __m512i v = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm512_mask_cvtepi32_storeu_epi8(q + i, m, _mm512_min_epi32(_mm512_max_epi32(v, lo), hi));
  }
}
#pragma GCC diagnostic pop
#elif defined(__AVX2__)
// The two passes of quantize_row_int8 on 32 values a turn: every int8
// matmul's input goes through them (they were a tenth of an int8 BERT-base's
// time as the compiler vectorized them: one max chain, mask-register
// conversions). Same results, bit for bit: max is exact in any order, and
// the rounding and clamp are those of the scalar tail.
float absmax_avx2(const float* x, std::int64_t n, std::int64_t& done) {
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // max_ps gives its second operand where either is NaN: a NaN value is
    // skipped, as std::max(absmax, NaN) skips it in the scalar tail.
    for (int j = 0; j < 4; ++j) m[j] = _mm256_max_ps(_mm256_and_ps(magnitude, _mm256_loadu_ps(x + i + 8 * j)), m[j]);
  }
  const __m256 m8 = _mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3]));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  done = i;
  return _mm_cvtss_f32(m4);
}

std::int64_t quantize_avx2(const float* x, std::int64_t n, float inv, std::int8_t* q) {
  const __m256 scale = _mm256_set1_ps(inv), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);  // undo the packs' lane interleave
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i v[4];
    for (int j = 0; j < 4; ++j) {
      const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), scale),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v[j] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
    }
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), _mm256_permutevar8x32_epi32(bytes, order));
  }
  return i;
}
#endif

}  // namespace

float quantize_row_int8(const float* x, std::int64_t n, std::int8_t* q) {
#if defined(__AVX512F__) && defined(__AVX512BW__)
  const float absmax = n > 0 ? absmax_avx512(x, n) : 0.0f;
  const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
  quantize_avx512(x, n, inv, q);
  return absmax / 127.0f;
#else
  float absmax = 0.0f;
  std::int64_t i = 0;
#if defined(__AVX2__)
  absmax = absmax_avx2(x, n, i);
#endif
  for (; i < n; ++i) absmax = std::max(absmax, std::fabs(x[i]));
  const float scale = absmax / 127.0f;
  const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
  i = 0;
#if defined(__AVX2__)
  i = quantize_avx2(x, n, inv, q);
#endif
  for (; i < n; ++i) {
    // nearbyint rounds half to even in the default rounding mode; |x * inv| <= 127
    // up to one rounding, so the clamp only ever trims that.
    q[i] = clamp_to_int8(std::nearbyint(x[i] * inv));
  }
  return scale;
#endif
}

void quantize_row_int8_static(const float* x, std::int64_t n, float scale, std::int8_t* q) {
  const float inv = 1.0f / scale;
  for (std::int64_t i = 0; i < n; ++i) q[i] = clamp_to_int8(std::nearbyint(x[i] * inv));
}

float quantize_row_fp8(const float* x, std::int64_t n, std::uint8_t* q) {
  float absmax = 0.0f;
#pragma omp simd reduction(max : absmax)
  for (std::int64_t i = 0; i < n; ++i) absmax = std::max(absmax, std::fabs(x[i]));
  const float inv = absmax > 0.0f ? 448.0f / absmax : 0.0f;
  for (std::int64_t i = 0; i < n; ++i) q[i] = f32_to_f8e4m3(x[i] * inv);
  return absmax / 448.0f;
}

DType weight_dtype(QuantScheme scheme) {
  switch (scheme) {
    case QuantScheme::F32:
      return DType::F32;
    case QuantScheme::W8:
    case QuantScheme::Int8:
      return DType::I8;
    case QuantScheme::Fp8:
      return DType::F8E4M3;
  }
  fail("weight_dtype: unknown scheme");
}

namespace {

constexpr int kFp8ScaleSteps = 32;

// The squared error of a row quantized to E4M3 with scale `scale`. Sixteen
// fixed accumulators: the compiler vectorizes without reordering any sum (the
// result does not depend on the vector width), and four vectors of partial
// sums in flight hide the latency of each addition.
double fp8_row_error(const float* w, std::int64_t n, double scale) {
  constexpr int kLanes = 16;
  const auto inv = static_cast<float>(1.0 / scale);
  const auto s = static_cast<float>(scale);
  std::array<double, kLanes> lane{};
  const auto error = [&](std::int64_t i) {
    const float d = e4m3_round_magnitude(w[i] * inv) * s - std::fabs(w[i]);
    return static_cast<double>(d) * d;
  };
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lane[static_cast<std::size_t>(j)] += error(i + j);
  }
  for (; i < n; ++i) lane[0] += error(i);
  double sum = 0.0;
  for (double v : lane) sum += v;
  return sum;
}

// The factor f of an FP8 weight row's scale absmax / 448 * f: of
// f = 1 + k / 32, k = 0..31, the one with the least squared error (the MSE
// choice other quantizers offer as an observer). With 64 weights a row, where
// E4M3's 3 mantissa bits leave each weight up to 6% off, aligning the largest
// weights with the grid cut the rounding error by 18% on stories260K and its
// KL divergence from float by a fifth (bench/RESULTS.md). The factors span
// one binade, so they try every alignment; none is below 1, so no weight clips.
double fp8_scale_factor(const float* w, std::int64_t n, double absmax) {
  double best = 1.0, best_error = std::numeric_limits<double>::infinity();
  for (int k = 0; k < kFp8ScaleSteps; ++k) {
    const double f = 1.0 + static_cast<double>(k) / kFp8ScaleSteps;
    const double error = fp8_row_error(w, n, absmax / 448.0 * f);
    if (error < best_error) best = f, best_error = error;
  }
  return best;
}

}  // namespace

Tensor quantize_weight(const Tensor& weight, QuantScheme scheme) {
  if (weight.quant() != nullptr) return weight;  // a pre-quantized checkpoint's own scheme wins
  if (scheme == QuantScheme::F32) return to_f32(weight);
  if (weight.rank() != 2) fail("quantize_weight: expected a [rows, cols] weight, got {}", shape_str(weight.shape()));
  const Tensor w = to_f32(weight);
  const std::int64_t rows = w.dim(0), cols = w.dim(1);
  const bool fp8 = scheme == QuantScheme::Fp8;
  const double qmax = fp8 ? 448.0 : 127.0;
  Tensor q = Tensor::zeros(weight_dtype(scheme), w.shape());
  Tensor scale = Tensor::zeros(DType::F32, {rows});
  const float* src = w.data<float>();
  auto* dst = q.data_mut<std::uint8_t>();
  float* s = scale.data_mut<float>();
#pragma omp parallel for
  for (std::int64_t r = 0; r < rows; ++r) {
    double absmax = 0.0;
    for (std::int64_t c = 0; c < cols; ++c)
      absmax = std::max(absmax, std::fabs(static_cast<double>(src[r * cols + c])));
    const double factor = fp8 && absmax > 0.0 ? fp8_scale_factor(src + r * cols, cols, absmax) : 1.0;
    s[r] = static_cast<float>(absmax * factor / qmax);
    const double inv = absmax > 0.0 ? qmax / (absmax * factor) : 0.0;
    const float* w_row = src + r * cols;
    std::uint8_t* q_row = dst + r * cols;
    if (fp8) {
      // f32_to_f8e4m3 rounds once more from the float nearest v; E4M3 steps are
      // 2^-3 relative, so that double rounding can only matter at exact ties.
      for (std::int64_t c = 0; c < cols; ++c) q_row[c] = f32_to_f8e4m3(static_cast<float>(w_row[c] * inv));
    } else {
      for (std::int64_t c = 0; c < cols; ++c) {
        q_row[c] = static_cast<std::uint8_t>(
            static_cast<std::int8_t>(std::clamp(std::nearbyint(w_row[c] * inv), -127.0, 127.0)));
      }
    }
  }
  // The float weight is read once, here: a mapped checkpoint's pages of it go
  // back (read again from the file if anything asks), so that loading does
  // not hold the float checkpoint beside its quantized copy.
  weight.release_file_pages();
  return q.with_quant(std::make_shared<const QuantParams>(QuantParams{scheme, scale}));
}

Tensor quantize_embedding(const Tensor& table, QuantScheme scheme) {
  if (const QuantParams* q = table.quant()) {
    if (table.dtype() != DType::I8 || table.rank() != 2) {
      fail("an embedding table of {} {} is not supported (float, or int8 with a scale per row)",
           dtype_name(table.dtype()), shape_str(table.shape()));
    }
    return table.with_quant(std::make_shared<const QuantParams>(QuantParams{QuantScheme::W8, q->scale}));
  }
  if (scheme != QuantScheme::Int8 && scheme != QuantScheme::W8) return to_f32(table);
  return quantize_weight(table, QuantScheme::W8);
}

Tensor with_input_scale(const Tensor& quantized, float input_scale) {
  const QuantParams* q = quantized.quant();
  if (q == nullptr || q->scheme != QuantScheme::Int8) fail("static activation scales go with int8 weights");
  if (!(input_scale > 0.0f) || !std::isfinite(input_scale))
    fail("static activation scale {} is not positive", input_scale);
  QuantParams p = *q;
  p.input_scale = input_scale;
  return quantized.with_quant(std::make_shared<const QuantParams>(std::move(p)));
}

Tensor dequantize(const Tensor& quantized) {
  const QuantParams* qp = quantized.quant();
  if (qp == nullptr || (quantized.dtype() != DType::I8 && quantized.dtype() != DType::F8E4M3)) {
    fail("dequantize: not an int8 or fp8 tensor with scales");
  }
  const std::int64_t rows = quantized.dim(0), cols = quantized.dim(1);
  Tensor out = to_f32(quantized.with_quant(nullptr));
  float* y = out.data_mut<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float s = qp->scale.data<float>()[r];
    for (std::int64_t c = 0; c < cols; ++c) y[r * cols + c] *= s;
  }
  return out;
}

std::size_t stored_bytes(const Tensor& tensor) {
  return tensor.nbytes() + (tensor.quant() != nullptr ? tensor.quant()->scale.nbytes() : 0);
}

ModelSize model_size(const std::vector<std::pair<std::string, Tensor>>& weights) {
  ModelSize size;
  for (const auto& [name, t] : weights) {
    size.parameters += t.numel();
    size.bytes += stored_bytes(t);
  }
  return size;
}

}  // namespace octet
