// Matrix products on tensor cores through cuBLASLt: FP8 E4M3 x E4M3 or
// bf16 x bf16, float accumulation, float output. Descriptors, layouts and the
// heuristic's algorithm are chosen once per shape and cached, so a step with
// known shapes only enqueues. Per-token and per-channel scales go into the
// product itself where cuBLASLt can (outer-vector scaling); otherwise the
// caller applies them (scale_product in elementwise.h).
//
// FP8 products promote cuBLASLt's tensor-core sums to float32 between blocks
// of K by default. OCTET_FP8_FAST_ACCUM=1 turns that off
// (CUBLASLT_MATMUL_DESC_FAST_ACCUM): Hopper then keeps the whole sum in the
// MMA's own accumulator (about 14 mantissa bits), which cuBLASLt documents as
// faster and less accurate. It is a switch for measuring both (speed:
// bench/cuda/device_check.sh step 12), not yet a default.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <map>
#include <string>
#include <tuple>

namespace octet::cuda {

enum class GemmType { Fp8E4M3, Bf16 };

class LtMatmul {
 public:
  LtMatmul();
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;

  // acc[i, j] = sum_p x[i, p] * w[j, p] for i < m, j < n: x is [m, k] and w
  // [n, k], both row-major with rows of k elements; acc is row-major [m, ldc].
  // cuBLASLt's FP8 kernels need k, ldc and the pointers 16-aligned (the
  // backend pads rows to 16).
  void run(GemmType type, const void* x, const void* w, float* acc, int m, int n, int k, int ldc, cudaStream_t stream);

  // FP8 only: y[i, j] = x_scale[i] * w_scale[j] * sum_p x[i, p] * w[j, p],
  // the scales applied inside the product. False, with nothing enqueued,
  // where this cuBLASLt or GPU has no kernel for that (the caller then runs
  // `run` and scales the result itself).
  bool run_scaled(const void* x, const void* w, const float* x_scale, const float* w_scale, float* y, int m, int n,
                  int k, int ldc, cudaStream_t stream);

 private:
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool found = false;  // false: cuBLASLt has no kernel for it (kept so that it is asked once)
  };
  using Key = std::tuple<int, int, int, int, int, bool>;  // type, m, n, k, ldc, outer-vector scales
  Plan& plan_for(GemmType type, int m, int n, int k, int ldc, bool outer_scales);

  cublasLtHandle_t handle_ = nullptr;
  bool fast_accumulation_ = false;  // OCTET_FP8_FAST_ACCUM=1
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  std::map<Key, Plan> plans_;
};

}  // namespace octet::cuda
