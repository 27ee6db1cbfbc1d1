// The GPU backend: every op of a decoder or an encoder on one CUDA device, matmuls on
// tensor cores through cuBLASLt (FP8 E4M3 weights and activations, or bf16
// for float weights), the rest as octet's own kernels (cuda_ops.h). Weights
// are uploaded once, at the first plan that reads them, and never copied
// back; only token ids go up and logits (or pooled rows) come down per step.
#pragma once

#include "engine/core/backend.h"

#include <memory>

namespace octet {

// Throws octet::Error saying why when there is no usable CUDA device.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace octet
