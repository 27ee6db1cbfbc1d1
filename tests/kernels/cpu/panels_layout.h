// Weights laid out in the panels layout by its definition (gemv_int8_panels.h),
// independently of oneDNN, for the own kernels that read it.
#pragma once

#include "kernels/cpu/gemv_int8_panels.h"

#include <cstdint>
#include <vector>

namespace octet::test {

inline std::int64_t padded(std::int64_t v) {
  return (v + cpu::kPanelColumns - 1) / cpu::kPanelColumns * cpu::kPanelColumns;
}

// w [n, k] (rows are output channels) in the panels layout: element (kk, j)
// of the [K, N] matrix at panel j / 64, group kk / 4, column j % 64, byte kk % 4;
// the padding zero.
inline std::vector<std::int8_t> to_panels(const std::vector<std::int8_t>& w, std::int64_t n, std::int64_t k) {
  const std::int64_t kp = padded(k);
  std::vector<std::int8_t> p(static_cast<std::size_t>(kp * padded(n)), 0);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t kk = 0; kk < k; ++kk) {
      const std::int64_t at = (j / 64) * kp * 64 + (kk / 4) * 256 + (j % 64) * 4 + kk % 4;
      p[static_cast<std::size_t>(at)] = w[static_cast<std::size_t>(j * k + kk)];
    }
  return p;
}

}  // namespace octet::test
