#include "engine/core/error.h"
#include "kernels/cpu/ops.h"

#include <cstring>

namespace octet::cpu {

namespace {

void check_id(const std::int32_t* ids, std::int64_t t, std::int64_t vocab) {
  if (ids[t] < 0 || ids[t] >= vocab) {
    fail("token id {} at position {} is outside the vocabulary of {} tokens", ids[t], t, vocab);
  }
}

}  // namespace

void embedding(const float* table, std::int64_t vocab, std::int64_t dim, const std::int32_t* ids, std::int64_t n,
               float* out) {
  for (std::int64_t t = 0; t < n; ++t) {
    check_id(ids, t, vocab);
    std::memcpy(out + t * dim, table + ids[t] * dim, static_cast<std::size_t>(dim) * sizeof(float));
  }
}

void embedding_int8(const std::int8_t* table, const float* scale, std::int64_t vocab, std::int64_t dim,
                    const std::int32_t* ids, std::int64_t n, float* out) {
  for (std::int64_t t = 0; t < n; ++t) {
    check_id(ids, t, vocab);
    const std::int8_t* q = table + ids[t] * dim;
    const float s = scale[ids[t]];
    float* y = out + t * dim;
    for (std::int64_t j = 0; j < dim; ++j) y[j] = static_cast<float>(q[j]) * s;
  }
}

}  // namespace octet::cpu
