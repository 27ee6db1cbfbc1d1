#include "kernels/cuda/cublaslt_library.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace octet::cuda {
namespace {

// Opening the library and finding its functions needs no GPU, so this runs
// wherever the CUDA backend is built; the products themselves are checked by
// the CUDA backend's tests on a GPU.
TEST(CublasLtLibrary, OpensEveryFunctionOctetCalls) {
  const CublasLt& lt = cublaslt();
  EXPECT_TRUE(cublaslt_opened());
  for (const void* f :
       {reinterpret_cast<const void*>(lt.create), reinterpret_cast<const void*>(lt.destroy),
        reinterpret_cast<const void*>(lt.status_name), reinterpret_cast<const void*>(lt.status_string),
        reinterpret_cast<const void*>(lt.matmul), reinterpret_cast<const void*>(lt.algo_get_heuristic),
        reinterpret_cast<const void*>(lt.matmul_desc_create), reinterpret_cast<const void*>(lt.matmul_desc_destroy),
        reinterpret_cast<const void*>(lt.matmul_desc_set_attribute),
        reinterpret_cast<const void*>(lt.preference_create), reinterpret_cast<const void*>(lt.preference_destroy),
        reinterpret_cast<const void*>(lt.preference_set_attribute), reinterpret_cast<const void*>(lt.layout_create),
        reinterpret_cast<const void*>(lt.layout_destroy)}) {
    EXPECT_NE(f, nullptr);
  }
  // A function that needs no GPU answers as cuBLASLt documents.
  EXPECT_STREQ(lt.status_name(CUBLAS_STATUS_SUCCESS), "CUBLAS_STATUS_SUCCESS");
  std::ifstream maps("/proc/self/maps");
  const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("libcublasLt.so"), std::string::npos) << "the library is mapped once opened";
}

}  // namespace
}  // namespace octet::cuda
