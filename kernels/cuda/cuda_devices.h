// What CUDA devices this process can see. Plain C++: no CUDA header here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace octet::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  std::uint64_t memory_bytes = 0;
  bool supports_fp8() const { return compute_major > 8 || (compute_major == 8 && compute_minor >= 9); }
};

// Empty when there is no GPU or no driver; `why` then says which.
std::vector<DeviceInfo> list_devices(std::string* why = nullptr);

}  // namespace octet::cuda
