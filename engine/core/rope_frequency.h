// The rotary embedding's frequency of each pair of a head's dimensions:
// theta^(-2i / head_dim), and the context extensions that rescale it
// (Hugging Face's rope_scaling "linear" and "llama3"). Plain arithmetic, so
// that the CPU kernel and the CUDA kernel compute the same angles from it.
#pragma once

#include <cmath>

// Host and device alike in CUDA translation units; plain C++ elsewhere.
#if defined(__CUDACC__)
#define OCTET_HOST_DEVICE __host__ __device__
#else
#define OCTET_HOST_DEVICE
#endif

namespace octet {

enum class RopeScalingType { None, Linear, Llama3 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1.0;             // Linear, Llama3: how much longer the context became
  double low_freq_factor = 1.0;    // Llama3: wavelengths above original_context / low_freq_factor are scaled
  double high_freq_factor = 4.0;   // Llama3: wavelengths below original_context / high_freq_factor are kept
  double original_context = 8192;  // Llama3: original_max_position_embeddings
};

struct RopeFrequencies {
  double theta = 10000.0;
  RopeScaling scaling = {};
};

// Radians per position of pair `i` (0 <= i < head_dim / 2), in double, as
// transformers' _compute_llama3_parameters and _compute_linear_scaling_rope_parameters.
OCTET_HOST_DEVICE inline double rope_inv_freq(const RopeFrequencies& f, int i, int head_dim) {
  const double freq = pow(f.theta, -2.0 * i / head_dim);
  const RopeScaling& s = f.scaling;
  switch (s.type) {
    case RopeScalingType::None:
      return freq;
    case RopeScalingType::Linear:
      return freq / s.factor;
    case RopeScalingType::Llama3: {
      const double wavelength = 2.0 * 3.141592653589793 / freq;
      if (wavelength < s.original_context / s.high_freq_factor) return freq;
      if (wavelength > s.original_context / s.low_freq_factor) return freq / s.factor;
      const double smooth =
          (s.original_context / wavelength - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      return (1 - smooth) * freq / s.factor + smooth * freq;
    }
  }
  return freq;
}

}  // namespace octet
