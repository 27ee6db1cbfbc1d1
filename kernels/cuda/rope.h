// Rotary position embedding.
// Launch functions on device pointers, each enqueued on `stream`: plain C++
// (no CUDA syntax), so that the backend, compiled as C++20, can call them.
#pragma once

#include "engine/core/rope_frequency.h"
#include "kernels/cuda/device_sequence.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace octet::cuda {

// Rotary embedding of `rows` tokens, sequences of tokens_per_sequence rows
// one after another, sequence b at positions seqs[b].pos, + 1, ...; angles in
// double, as the CPU backend computes them. half_split: Hugging Face's
// (i, i + head_dim/2) pairs; otherwise adjacent (2i, 2i+1) pairs.
void rope(const float* x, int rows, int tokens_per_sequence, int n_heads, int head_dim, const DeviceSequence* seqs,
          const RopeFrequencies& freqs, bool half_split, float* out, cudaStream_t stream);

}  // namespace octet::cuda
