// The one way CUDA runtime failures become octet::Error.
#pragma once

#include "engine/core/error.h"

#include <cuda_runtime.h>

#define OCTET_CUDA_CHECK(call)                                                                                         \
  do {                                                                                                                 \
    const cudaError_t octet_cuda_status_ = (call);                                                                     \
    if (octet_cuda_status_ != cudaSuccess) {                                                                           \
      ::octet::fail("CUDA: {} failed: {} ({}:{})", #call, cudaGetErrorString(octet_cuda_status_), __FILE__, __LINE__); \
    }                                                                                                                  \
  } while (0)
