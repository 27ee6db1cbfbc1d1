// Logits of a fixed prompt at every position, on the CPU: the fingerprint the
// checkpoint and re-parametrisation tests compare.
#pragma once

#include "engine/core/executor.h"
#include "kernels/cpu/cpu_backend.h"

#include <vector>

namespace octet::test {

inline std::vector<float> prompt_logits(const Model& model) {
  auto backend = make_cpu_backend(0);
  Executor executor(model, *backend, 16);
  const std::vector<std::int32_t> ids{1, 395, 415, 261, 375, 968, 379};
  const Tensor& out = executor.forward(ids, 0, true);
  return {out.data<float>(), out.data<float>() + out.numel()};
}

}  // namespace octet::test
