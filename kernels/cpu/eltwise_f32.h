// Elementwise functions of float32 arrays: gelu and silu_mul in own vectorized
// passes; gelu_tanh and tanh on oneDNN's eltwise primitive, whose JIT kernels
// vectorize tanh and exp. (libm's calls run one value at a time: GELU over
// BERT-base's FFN, 32 x 128 x 3072 values, took 164 ms per layer that way.)
// Primitives are created once per (function, length) and reused. No oneDNN
// type appears in this header.
#pragma once

#include <cstdint>
#include <memory>

namespace octet::cpu {

class EltwiseF32 {
 public:
  EltwiseF32();
  ~EltwiseF32();
  EltwiseF32(const EltwiseF32&) = delete;
  EltwiseF32& operator=(const EltwiseF32&) = delete;

  // out = x * Phi(x) (Phi the standard normal CDF: the exact erf form BERT
  // uses), within 1.8e-7 max(1, |x|) of it; NaN stays NaN, -inf gives -0.
  // Safe to call from several threads at once.
  void gelu(const float* x, std::int64_t n, float* out);
  void gelu_tanh(const float* x, std::int64_t n, float* out);
  void tanh(const float* x, std::int64_t n, float* out);
  // out = silu(gate) * up; `out` must not be `up` (outputs never alias inputs here).
  void silu_mul(const float* gate, const float* up, std::int64_t n, float* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet::cpu
