// Elementwise functions of float32 arrays (silu_mul: one own vectorized pass;
// the others on oneDNN's eltwise primitive,
// whose JIT kernels vectorize erf, tanh and exp (the libm calls they replace
// run one value at a time: GELU over BERT-base's FFN, 32 x 128 x 3072 values,
// took 164 ms per layer that way and takes 13 ms here)). Primitives are created
// once per (function, length) and reused. No oneDNN type appears in this header.
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

  // out = x * Phi(x) (Phi the standard normal CDF: the exact erf form BERT uses).
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
