#include "engine/core/random_tensor.h"

namespace octet {

Tensor random_uniform(const Shape& shape, std::uint64_t seed, float scale) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  float* p = t.data_mut<float>();
  const std::int64_t n = t.numel();
#pragma omp parallel for if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint64_t z = seed + static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    p[i] = scale * (static_cast<float>(z >> 40) * 0x1.0p-23f - 1.0f);  // 24 random bits -> [-1, 1)
  }
  return t;
}

}  // namespace octet
