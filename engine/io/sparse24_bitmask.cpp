#include "engine/io/sparse24_bitmask.h"

#include "engine/core/error.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

namespace octet {

namespace {

bool is_zero(const std::uint8_t* element, std::size_t bytes) {
  return std::all_of(element, element + bytes, [](std::uint8_t b) { return b == 0; });
}

// Each row's kept values (two per group of 4 columns) put where the bitmask
// says into `out` (zeros), as values of kBytes bytes (copied by a memcpy of a
// constant size, a single move: a mapped tensor need not be aligned). Group
// g's 4 bits are bits 4 * (g % 2).. of mask byte g / 2.
template <std::size_t kBytes>
void expand_kept_values(const std::uint8_t* values, const std::uint8_t* mask, std::int64_t rows, std::int64_t cols,
                        std::uint8_t* out, const std::string& what) {
  const std::int64_t mask_cols = (cols + 7) / 8;
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint8_t* row_mask = mask + r * mask_cols;
    const std::uint8_t* v = values + static_cast<std::size_t>(r * (cols / 2)) * kBytes;
    std::uint8_t* row = out + static_cast<std::size_t>(r * cols) * kBytes;
    for (std::int64_t g = 0; g < cols / 4; ++g, v += 2 * kBytes) {
      const unsigned bits = static_cast<unsigned>(row_mask[g / 2] >> (4 * (g % 2))) & 0xfu;
      if (std::popcount(bits) != 2) {
        fail("{}: the bitmask keeps {} of the 4 weights of row {} from column {}, not 2", what, std::popcount(bits), r,
             4 * g);
      }
      std::memcpy(row + static_cast<std::size_t>(4 * g + std::countr_zero(bits)) * kBytes, v, kBytes);
      std::memcpy(row + static_cast<std::size_t>(4 * g + std::bit_width(bits) - 1) * kBytes, v + kBytes, kBytes);
    }
  }
}

}  // namespace

Sparse24Bitmask compress_sparse24_bitmask(const Tensor& dense, const std::string& what) {
  if (dense.rank() != 2 || dense.dim(1) % 4 != 0) {
    fail("{}: a 2:4 weight must be 2-d with a multiple of 4 columns, not {}", what, shape_str(dense.shape()));
  }
  const std::int64_t rows = dense.dim(0), cols = dense.dim(1), mask_cols = (cols + 7) / 8;
  if (rows > INT32_MAX || cols > INT32_MAX)
    fail("{}: shape {} does not fit 32-bit integers", what, shape_str(dense.shape()));
  const std::size_t es = dtype_size(dense.dtype());
  Sparse24Bitmask out{Tensor::zeros(dense.dtype(), {rows, cols / 2}), Tensor::zeros(DType::U8, {rows, mask_cols}),
                      Tensor::zeros(DType::I32, {2, 1})};
  out.shape.data_mut<std::int32_t>()[0] = static_cast<std::int32_t>(rows);
  out.shape.data_mut<std::int32_t>()[1] = static_cast<std::int32_t>(cols);
  const auto* src = static_cast<const std::uint8_t*>(dense.raw());
  auto* values = static_cast<std::uint8_t*>(out.compressed.raw_mut());
  auto* mask = out.bitmask.data_mut<std::uint8_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t g = 0; g < cols / 4; ++g) {
      // The nonzero columns of the group, then its first zero ones, to keep 2, in column order.
      const std::uint8_t* group = src + static_cast<std::size_t>(r * cols + 4 * g) * es;
      bool keep[4] = {};
      int kept = 0;
      for (int c = 0; c < 4; ++c) {
        if (!is_zero(group + static_cast<std::size_t>(c) * es, es)) keep[c] = true, ++kept;
      }
      if (kept > 2) fail("{}: row {} keeps {} of the 4 weights from column {}, not 2:4", what, r, kept, 4 * g);
      for (int c = 0; c < 4 && kept < 2; ++c) {
        if (!keep[c]) keep[c] = true, ++kept;
      }
      std::uint8_t* v = values + static_cast<std::size_t>(r * (cols / 2) + 2 * g) * es;
      for (int c = 0; c < 4; ++c) {
        if (!keep[c]) continue;
        std::memcpy(v, group + static_cast<std::size_t>(c) * es, es);
        v += es;
        const std::int64_t column = 4 * g + c;
        mask[r * mask_cols + column / 8] |= static_cast<std::uint8_t>(1u << (column % 8));
      }
    }
  }
  return out;
}

Tensor decompress_sparse24_bitmask(const Tensor& compressed, const Tensor& bitmask, std::int64_t rows,
                                   std::int64_t cols, const std::string& what) {
  if (rows < 1 || cols < 4 || cols % 4 != 0) {
    fail("{}: dense shape [{}, {}] is not a 2:4 weight (columns a multiple of 4)", what, rows, cols);
  }
  const std::int64_t mask_cols = (cols + 7) / 8;
  if (compressed.shape() != Shape{rows, cols / 2}) {
    fail("{}: the values have shape {}, expected [{}, {}] for the dense [{}, {}]", what, shape_str(compressed.shape()),
         rows, cols / 2, rows, cols);
  }
  if (bitmask.dtype() != DType::U8 || bitmask.shape() != Shape{rows, mask_cols}) {
    fail("{}: the bitmask is {} {}, expected U8 [{}, {}]", what, dtype_name(bitmask.dtype()),
         shape_str(bitmask.shape()), rows, mask_cols);
  }
  Tensor dense = Tensor::zeros(compressed.dtype(), {rows, cols});
  const auto* values = static_cast<const std::uint8_t*>(compressed.raw());
  const auto* mask = bitmask.data<std::uint8_t>();
  auto* out = static_cast<std::uint8_t*>(dense.raw_mut());
  switch (dtype_size(compressed.dtype())) {
    case 1:
      expand_kept_values<1>(values, mask, rows, cols, out, what);
      break;
    case 2:
      expand_kept_values<2>(values, mask, rows, cols, out, what);
      break;
    case 4:
      expand_kept_values<4>(values, mask, rows, cols, out, what);
      break;
    default:
      fail("{}: values of {} bytes cannot be 2:4 compressed", what, dtype_size(compressed.dtype()));
  }
  return dense;
}

}  // namespace octet
