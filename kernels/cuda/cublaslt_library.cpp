#include "kernels/cuda/cublaslt_library.h"

#include "engine/core/error.h"

#include <dlfcn.h>

#include <atomic>
#include <string>

namespace octet::cuda {

namespace {

#define OCTET_STRINGIFY_(x) #x
#define OCTET_STRINGIFY(x) OCTET_STRINGIFY_(x)
constexpr const char* kLibrary = "libcublasLt.so." OCTET_STRINGIFY(CUBLAS_VER_MAJOR);

std::atomic<bool> opened{false};

void* open_library() {
  void* handle = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  std::string why = handle == nullptr ? dlerror() : "";
#ifdef OCTET_CUDA_LIBRARY_DIR
  if (handle == nullptr) {
    const std::string path = std::string(OCTET_CUDA_LIBRARY_DIR) + "/" + kLibrary;
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) why += std::string("; ") + dlerror();
  }
#endif
  if (handle == nullptr) fail("cuBLASLt: cannot open {} (the CUDA backend needs it): {}", kLibrary, why);
  return handle;
}

template <typename F>
void look_up(void* library, const char* name, F& function) {
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) fail("cuBLASLt: {} has no function {}", kLibrary, name);
  function = reinterpret_cast<F>(symbol);
}

CublasLt load() {
  void* library = open_library();  // kept open for the process: its functions are used until exit
  CublasLt lt{};
  look_up(library, "cublasLtCreate", lt.create);
  look_up(library, "cublasLtDestroy", lt.destroy);
  look_up(library, "cublasLtGetStatusName", lt.status_name);
  look_up(library, "cublasLtGetStatusString", lt.status_string);
  look_up(library, "cublasLtMatmul", lt.matmul);
  look_up(library, "cublasLtMatmulAlgoGetHeuristic", lt.algo_get_heuristic);
  look_up(library, "cublasLtMatmulDescCreate", lt.matmul_desc_create);
  look_up(library, "cublasLtMatmulDescDestroy", lt.matmul_desc_destroy);
  look_up(library, "cublasLtMatmulDescSetAttribute", lt.matmul_desc_set_attribute);
  look_up(library, "cublasLtMatmulPreferenceCreate", lt.preference_create);
  look_up(library, "cublasLtMatmulPreferenceDestroy", lt.preference_destroy);
  look_up(library, "cublasLtMatmulPreferenceSetAttribute", lt.preference_set_attribute);
  look_up(library, "cublasLtMatrixLayoutCreate", lt.layout_create);
  look_up(library, "cublasLtMatrixLayoutDestroy", lt.layout_destroy);
  opened = true;
  return lt;
}

}  // namespace

const CublasLt& cublaslt() {
  static const CublasLt lt = load();  // thread-safe once; a failure throws and the next call tries again
  return lt;
}

bool cublaslt_opened() { return opened; }

}  // namespace octet::cuda
