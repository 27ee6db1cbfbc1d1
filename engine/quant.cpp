#include "engine/quant.h"

#include "engine/error.h"

#include <algorithm>
#include <cmath>

namespace octet {

std::string_view quant_scheme_name(QuantScheme scheme) {
  switch (scheme) {
    case QuantScheme::F32:
      return "f32";
    case QuantScheme::W8:
      return "w8";
    case QuantScheme::Int8:
      return "int8";
  }
  return "unknown";
}

std::optional<QuantScheme> quant_scheme_from_name(std::string_view name) {
  for (QuantScheme s : {QuantScheme::F32, QuantScheme::W8, QuantScheme::Int8}) {
    if (quant_scheme_name(s) == name) return s;
  }
  return std::nullopt;
}

QuantScheme QuantRecipe::scheme_for(std::string_view weight_name) const {
  for (const auto& pattern : keep_float) {
    if (!pattern.empty() && weight_name.find(pattern) != std::string_view::npos) return QuantScheme::F32;
  }
  return scheme;
}

float quantize_row_int8(const float* x, std::int64_t n, std::int8_t* q) {
  float absmax = 0.0f;
#pragma omp simd reduction(max : absmax)
  for (std::int64_t i = 0; i < n; ++i) absmax = std::max(absmax, std::fabs(x[i]));
  const float scale = absmax / 127.0f;
  const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
  for (std::int64_t i = 0; i < n; ++i) {
    // nearbyint rounds half to even in the default rounding mode; |x * inv| <= 127
    // up to one rounding, so the clamp only ever trims that.
    const float r = std::nearbyint(x[i] * inv);
    q[i] = static_cast<std::int8_t>(std::clamp(r, -127.0f, 127.0f));
  }
  return scale;
}

Tensor quantize_weight(const Tensor& weight, QuantScheme scheme) {
  if (weight.quant() != nullptr) return weight;  // a pre-quantized checkpoint's own scheme wins
  if (scheme == QuantScheme::F32) return to_f32(weight);
  if (weight.rank() != 2) fail("quantize_weight: expected a [rows, cols] weight, got {}", shape_str(weight.shape()));
  const Tensor w = to_f32(weight);
  const std::int64_t rows = w.dim(0), cols = w.dim(1);
  Tensor q = Tensor::zeros(DType::I8, w.shape());
  Tensor scale = Tensor::zeros(DType::F32, {rows});
  const float* src = w.data<float>();
  auto* dst = q.data_mut<std::int8_t>();
  float* s = scale.data_mut<float>();
#pragma omp parallel for
  for (std::int64_t r = 0; r < rows; ++r) {
    double absmax = 0.0;
    for (std::int64_t c = 0; c < cols; ++c)
      absmax = std::max(absmax, std::fabs(static_cast<double>(src[r * cols + c])));
    s[r] = static_cast<float>(absmax / 127.0);
    const double inv = absmax > 0.0 ? 127.0 / absmax : 0.0;
    for (std::int64_t c = 0; c < cols; ++c) {
      const double v = std::nearbyint(src[r * cols + c] * inv);
      dst[r * cols + c] = static_cast<std::int8_t>(std::clamp(v, -127.0, 127.0));
    }
  }
  return q.with_quant(std::make_shared<const QuantParams>(QuantParams{scheme, scale}));
}

Tensor dequantize(const Tensor& quantized) {
  const QuantParams* qp = quantized.quant();
  if (qp == nullptr || quantized.dtype() != DType::I8) fail("dequantize: not an int8 tensor with scales");
  const std::int64_t rows = quantized.dim(0), cols = quantized.dim(1);
  Tensor out = Tensor::zeros(DType::F32, quantized.shape());
  for (std::int64_t r = 0; r < rows; ++r) {
    const float s = qp->scale.data<float>()[r];
    for (std::int64_t c = 0; c < cols; ++c) {
      out.data_mut<float>()[r * cols + c] = quantized.data<std::int8_t>()[r * cols + c] * s;
    }
  }
  return out;
}

}  // namespace octet
