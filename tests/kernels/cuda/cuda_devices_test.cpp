#include "kernels/cuda/cuda_devices.h"

#include <gtest/gtest.h>

namespace octet::cuda {
namespace {

TEST(CudaDevices, ListsVisibleGpus) {
  std::string why;
  const auto devices = list_devices(&why);
  if (devices.empty()) GTEST_SKIP() << "no CUDA GPU on this machine (" << why << "); CUDA tests run on the GPU machine";
  for (const auto& d : devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.compute_major, 3);
    EXPECT_GT(d.memory_bytes, 1ull << 30);
  }
}

}  // namespace
}  // namespace octet::cuda
