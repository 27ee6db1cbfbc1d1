// The CUDA kernels behind the GPU backend, one header per op family, each
// with its own .cu file. Plain C++ (no CUDA syntax) so that the backend,
// compiled as C++20, can call them. Activations are float32 rows; `pos` is a
// device pointer to the position of the step's first token, so that a
// captured decode step replays for any position. Each kernel mirrors the CPU
// kernel of the same name (kernels/cpu/ops.h) closely enough that a decoder on
// either backend makes the same greedy choices; the matmuls, where the time
// goes, are cuBLASLt's (lt_matmul.cpp).
#pragma once

#include "kernels/cuda/argmax.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/fp8_gemv.h"
#include "kernels/cuda/norms.h"
#include "kernels/cuda/pooling.h"
#include "kernels/cuda/rope.h"
