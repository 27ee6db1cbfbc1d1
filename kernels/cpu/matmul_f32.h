// y[M, N] = x[M, K] * w[N, K]^T (+ bias[N]) in float32 through oneDNN's matmul
// primitive; up to 4 rows (decode) on the own GEMV where the build has
// AVX-512 (gemv_f32.h).
// Primitives are created once per (M, K, N) and reused; a call with a known
// shape allocates nothing. No oneDNN type appears in this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace octet::cpu {

class MatmulF32 {
 public:
  MatmulF32();
  ~MatmulF32();
  MatmulF32(const MatmulF32&) = delete;
  MatmulF32& operator=(const MatmulF32&) = delete;

  // `ldy` is the row stride of y (n when y is contiguous); `bias` may be null.
  void run(const float* x, const float* w, float* y, std::int64_t m, std::int64_t k, std::int64_t n,
           std::int64_t ldy = 0, const float* bias = nullptr);
  // The oneDNN implementation chosen for a shape (e.g. "gemm:jit"), for tests and benchmarks.
  std::string implementation(std::int64_t m, std::int64_t k, std::int64_t n);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet::cpu
