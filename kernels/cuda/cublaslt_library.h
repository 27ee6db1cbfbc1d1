// cuBLASLt, opened when the first GPU product needs it rather than linked.
// Linking it made every octet process, CPU-only runs included, map and touch
// about 200 MB of the library at start (an empty program linked to
// libcublasLt.so.13 peaks at 203 MB resident, one linked to libcudart at
// 1.5 MB), so the functions octet calls are looked up with dlopen/dlsym on
// first use, each with the type cuBLASLt's own header declares.
#pragma once

#include <cublasLt.h>

namespace octet::cuda {

struct CublasLt {
  decltype(&::cublasLtCreate) create;
  decltype(&::cublasLtDestroy) destroy;
  decltype(&::cublasLtGetStatusName) status_name;
  decltype(&::cublasLtGetStatusString) status_string;
  decltype(&::cublasLtMatmul) matmul;
  decltype(&::cublasLtMatmulAlgoGetHeuristic) algo_get_heuristic;
  decltype(&::cublasLtMatmulDescCreate) matmul_desc_create;
  decltype(&::cublasLtMatmulDescDestroy) matmul_desc_destroy;
  decltype(&::cublasLtMatmulDescSetAttribute) matmul_desc_set_attribute;
  decltype(&::cublasLtMatmulPreferenceCreate) preference_create;
  decltype(&::cublasLtMatmulPreferenceDestroy) preference_destroy;
  decltype(&::cublasLtMatmulPreferenceSetAttribute) preference_set_attribute;
  decltype(&::cublasLtMatrixLayoutCreate) layout_create;
  decltype(&::cublasLtMatrixLayoutDestroy) layout_destroy;
};

// The library's functions, opened at the first call (libcublasLt.so.<major
// version of the headers octet was built with>, found where the dynamic
// loader looks, else in the toolkit's library directory of the build). Fails,
// naming the library and what is missing, where it cannot be opened; the
// result stays for the process.
const CublasLt& cublaslt();

// Whether this process has opened it (for tests: a CPU run must not).
bool cublaslt_opened();

}  // namespace octet::cuda
