#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_devices.h"

namespace octet::cuda {

std::vector<DeviceInfo> list_devices(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    // No driver or no device is an answer here, not an error.
    if (why != nullptr) *why = cudaGetErrorString(status);
    return {};
  }
  std::vector<DeviceInfo> out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    OCTET_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
    out.push_back({i, prop.name, prop.major, prop.minor, static_cast<std::uint64_t>(prop.totalGlobalMem)});
  }
  if (out.empty() && why != nullptr) *why = "no CUDA device";
  return out;
}

}  // namespace octet::cuda
