// Seeded random float tensors (synthetic benchmark models).
#pragma once

#include "engine/core/tensor.h"

#include <cstdint>

namespace octet {

// Uniform values in [-scale, scale) from a counter-based hash (splitmix64):
// fast, seeded, and the same whatever the thread count.
Tensor random_uniform(const Shape& shape, std::uint64_t seed, float scale);

}  // namespace octet
