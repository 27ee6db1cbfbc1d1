// Greedy decoding's argmax on the GPU.
// Launch functions on device pointers, each enqueued on `stream`: plain C++
// (no CUDA syntax), so that the backend, compiled as C++20, can call them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace octet::cuda {

// out[r] = the index of row r's largest value, the first on ties (as
// octet::argmax; a NaN never wins): greedy decoding without the logits
// leaving the GPU.
void argmax_rows(const float* x, int rows, int cols, std::int32_t* out, cudaStream_t stream);

}  // namespace octet::cuda
