#include "engine/core/error.h"
#include "kernels/cpu/ops.h"

#include <cstring>

namespace octet::cpu {

void embedding(const float* table, std::int64_t vocab, std::int64_t dim, const std::int32_t* ids, std::int64_t n,
               float* out) {
  for (std::int64_t t = 0; t < n; ++t) {
    if (ids[t] < 0 || ids[t] >= vocab) {
      fail("token id {} at position {} is outside the vocabulary of {} tokens", ids[t], t, vocab);
    }
    std::memcpy(out + t * dim, table + ids[t] * dim, static_cast<std::size_t>(dim) * sizeof(float));
  }
}

}  // namespace octet::cpu
