// compressed-tensors' "sparse-24-bitmask" storage of a 2:4 sparse weight
// [rows, cols]: instead of `NAME.weight`, three tensors
//   NAME.compressed  [rows, cols / 2]  the 2 kept values of each group of 4, row-major, in column order
//   NAME.bitmask     [rows, ceil(cols / 8)] U8: 1 where a value is kept, bit j % 8 of byte j / 8
//                    (numpy.packbits with bitorder "little")
//   NAME.shape       [2, 1] integers: rows, cols
// in the weight's own dtype (int8 and fp8 codes, or float): 5/8 of the dense
// bytes for 8-bit weights. Exactly 2 bits are set in each group of 4; where a
// group holds fewer than 2 nonzeros, zeros are kept to make 2.
#pragma once

#include "engine/core/tensor.h"

#include <string>

namespace octet {

struct Sparse24Bitmask {
  Tensor compressed, bitmask, shape;
};

// The three tensors of `dense` [rows, cols] (cols a multiple of 4, any
// dtype; a zero is an element whose bytes are all 0). Throws octet::Error
// naming `what` where a group of 4 holds more than 2 nonzeros.
Sparse24Bitmask compress_sparse24_bitmask(const Tensor& dense, const std::string& what);

// The dense tensor of `compressed` and `bitmask` (owned storage, the dtype
// of `compressed`), for the dense shape [rows, cols] read from NAME.shape.
// Throws octet::Error naming `what` where the shapes disagree or a group of
// 4 does not keep exactly 2.
Tensor decompress_sparse24_bitmask(const Tensor& compressed, const Tensor& bitmask, std::int64_t rows,
                                   std::int64_t cols, const std::string& what);

}  // namespace octet
