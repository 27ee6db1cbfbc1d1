// The CPU backend: every op in float32, matmuls on oneDNN, the rest on
// OpenMP threads.
#pragma once

#include "engine/core/backend.h"

#include <memory>

namespace octet {

// `n_threads` <= 0 keeps OpenMP's default (all cores).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

}  // namespace octet
