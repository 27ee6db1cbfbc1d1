#include "kernels/cuda/lt_matmul.h"

#include "engine/core/error.h"
#include "kernels/cuda/cublaslt_library.h"
#include "kernels/cuda/cuda_check.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace octet::cuda {

namespace {

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    fail("cuBLASLt: {} failed: {} ({})", what, cublaslt().status_name(status), cublaslt().status_string(status));
  }
}

// Hopper's FP8 kernels want up to 32 MiB of workspace for their split-K variants.
constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

}  // namespace

LtMatmul::LtMatmul() {
  const char* fast = std::getenv("OCTET_FP8_FAST_ACCUM");
  fast_accumulation_ = fast != nullptr && std::string_view(fast) == "1";
  check(cublaslt().create(&handle_), "cublasLtCreate");
  OCTET_CUDA_CHECK(cudaMalloc(&workspace_, kWorkspaceBytes));
  workspace_bytes_ = kWorkspaceBytes;
}

LtMatmul::~LtMatmul() {
  for (auto& [key, plan] : plans_) {
    cublaslt().layout_destroy(plan.a);
    cublaslt().layout_destroy(plan.b);
    cublaslt().layout_destroy(plan.c);
    cublaslt().matmul_desc_destroy(plan.op);
  }
  cudaFree(workspace_);
  cublaslt().destroy(handle_);
}

// cuBLASLt is column-major. Row-major acc[m, ldc] is column-major acc^T
// [n, m]; acc^T = w x^T, where row-major w [n, k] is column-major [k, n]
// read transposed (A, op T) and row-major x [m, k] is column-major [k, m]
// read as is (B, op N): the "TN" form that FP8 kernels require. So the
// per-channel scales are A's outer vector and the per-token ones B's.
LtMatmul::Plan& LtMatmul::plan_for(GemmType type, int m, int n, int k, int ldc, bool outer_scales) {
  const Key key{static_cast<int>(type), m, n, k, ldc, outer_scales};
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  const cudaDataType_t in_type = type == GemmType::Fp8E4M3 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  Plan plan;
  check(cublaslt().matmul_desc_create(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
  check(cublaslt().matmul_desc_set_attribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)),
        "setting TRANSA");
  check(cublaslt().matmul_desc_set_attribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &no_transpose, sizeof(no_transpose)),
        "setting TRANSB");
  if (type == GemmType::Fp8E4M3 && fast_accumulation_) {
    const std::int8_t on = 1;
    check(cublaslt().matmul_desc_set_attribute(plan.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &on, sizeof(on)),
          "setting fast accumulation");
  }
  if (outer_scales) {
    const std::int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    check(cublaslt().matmul_desc_set_attribute(plan.op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof(mode)),
          "setting A's scale mode");
    check(cublaslt().matmul_desc_set_attribute(plan.op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof(mode)),
          "setting B's scale mode");
  }
  check(cublaslt().layout_create(&plan.a, in_type, k, n, k), "layout of A");
  check(cublaslt().layout_create(&plan.b, in_type, k, m, k), "layout of B");
  check(cublaslt().layout_create(&plan.c, CUDA_R_32F, n, m, ldc), "layout of C");

  cublasLtMatmulPreference_t preference = nullptr;
  check(cublaslt().preference_create(&preference), "cublasLtMatmulPreferenceCreate");
  check(cublaslt().preference_set_attribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                            sizeof(workspace_bytes_)),
        "setting the workspace size");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status =
      cublaslt().algo_get_heuristic(handle_, plan.op, plan.a, plan.b, plan.c, plan.c, preference, 1, &result, &found);
  cublaslt().preference_destroy(preference);
  plan.found = status == CUBLAS_STATUS_SUCCESS && found > 0;
  if (!plan.found && !outer_scales) {
    cublaslt().layout_destroy(plan.a);
    cublaslt().layout_destroy(plan.b);
    cublaslt().layout_destroy(plan.c);
    cublaslt().matmul_desc_destroy(plan.op);
    fail("cuBLASLt has no {} kernel for a [{}, {}] x [{}, {}]^T product on this GPU ({})",
         type == GemmType::Fp8E4M3 ? "FP8 E4M3" : "bf16", m, k, n, k, cublaslt().status_name(status));
  }
  plan.algo = result.algo;
  return plans_.emplace(key, plan).first->second;
}

void LtMatmul::run(GemmType type, const void* x, const void* w, float* acc, int m, int n, int k, int ldc,
                   cudaStream_t stream) {
  const Plan& plan = plan_for(type, m, n, k, ldc, false);
  const float alpha = 1.0f, beta = 0.0f;
  check(cublaslt().matmul(handle_, plan.op, &alpha, w, plan.a, x, plan.b, &beta, acc, plan.c, acc, plan.c, &plan.algo,
                          workspace_, workspace_bytes_, stream),
        "cublasLtMatmul");
}

bool LtMatmul::run_scaled(const void* x, const void* w, const float* x_scale, const float* w_scale, float* y, int m,
                          int n, int k, int ldc, cudaStream_t stream) {
  Plan& plan = plan_for(GemmType::Fp8E4M3, m, n, k, ldc, true);
  if (!plan.found) return false;
  // The scale pointers are arguments of the call, so they go on the shared
  // descriptor just before it (one stream; the call reads them when enqueued).
  check(cublaslt().matmul_desc_set_attribute(plan.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &w_scale, sizeof(w_scale)),
        "setting A's scales");
  check(cublaslt().matmul_desc_set_attribute(plan.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &x_scale, sizeof(x_scale)),
        "setting B's scales");
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t status = cublaslt().matmul(handle_, plan.op, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y,
                                                  plan.c, &plan.algo, workspace_, workspace_bytes_, stream);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) {
    plan.found = false;  // the heuristic offered it, the call refused it: scale separately from now on
    return false;
  }
  check(status, "cublasLtMatmul (outer-vector scales)");
  return true;
}

}  // namespace octet::cuda
