// compressed-tensors' sparse-24-bitmask storage: against a file numpy wrote
// by that format's rule (tests/reference/make_sparse24_golden.py), a round
// trip in every dtype a weight is stored in, and clear errors for what breaks it.
#include "engine/io/sparse24_bitmask.h"
#include "engine/io/safetensors.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace octet {
namespace {

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST(Sparse24Bitmask, MatchesTheFormatAsNumpyWritesIt) {
  const std::string path = test::test_data("sparse24_bitmask.safetensors");
  const SafetensorsFile file(path);
  const Tensor dense = file.tensor("dense");
  const Sparse24Bitmask parts = compress_sparse24_bitmask(dense, "dense");
  EXPECT_TRUE(same_bytes(parts.compressed, file.tensor("w.compressed")));
  EXPECT_TRUE(same_bytes(parts.bitmask, file.tensor("w.bitmask"))) << "bit j % 8 of byte j / 8, padding bits 0";
  EXPECT_EQ(file.integers("w.shape"), (std::vector<std::int64_t>{3, 20})) << "I64, as compressed-tensors writes it";
  EXPECT_TRUE(same_bytes(decompress_sparse24_bitmask(file.tensor("w.compressed"), file.tensor("w.bitmask"), 3, 20, "w"),
                         dense));
  // A checkpoint directory sees the three parts as one weight.
  const WeightStore store({path});
  ASSERT_TRUE(store.contains("w.weight"));
  EXPECT_TRUE(same_bytes(store.get("w.weight", {3, 20}), dense));
}

// A [rows, cols] 2:4 tensor of `dtype` whose groups keep 0, 1 or 2 nonzero values.
Tensor random_two_four(DType dtype, std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor t = Tensor::zeros(dtype, {rows, cols});
  const std::size_t es = dtype_size(dtype);
  auto* bytes = static_cast<std::uint8_t*>(t.raw_mut());
  for (std::int64_t g = 0; g < rows * cols / 4; ++g) {
    const auto keep = rng() % 3;  // values kept in this group
    for (unsigned v = 0; v < keep; ++v) {
      std::uint8_t* e = bytes + static_cast<std::size_t>(4 * g + static_cast<std::int64_t>(rng() % 4)) * es;
      for (std::size_t b = 0; b < es; ++b) e[b] = static_cast<std::uint8_t>(1 + rng() % 255);
    }
  }
  return t;
}

TEST(Sparse24Bitmask, RoundTripsEveryWeightDtypeAndKeepsFiveEighthsOfEightBitBytes) {
  for (const DType dtype : {DType::I8, DType::F8E4M3, DType::BF16, DType::F32}) {  // values of 1, 2 and 4 bytes
    const Tensor dense = random_two_four(dtype, 5, 28, 3);
    const Sparse24Bitmask parts = compress_sparse24_bitmask(dense, "t");
    EXPECT_EQ(parts.compressed.shape(), (Shape{5, 14}));
    EXPECT_EQ(parts.bitmask.shape(), (Shape{5, 4}));
    EXPECT_TRUE(same_bytes(decompress_sparse24_bitmask(parts.compressed, parts.bitmask, 5, 28, "t"), dense))
        << dtype_name(dtype);
    if (dtype_size(dtype) == 1) {
      const Tensor wide = random_two_four(dtype, 4, 64, 4);
      const Sparse24Bitmask p = compress_sparse24_bitmask(wide, "t");
      EXPECT_EQ(p.compressed.nbytes() + p.bitmask.nbytes(), wide.nbytes() * 5 / 8);
    }
  }
}

TEST(Sparse24Bitmask, WhatBreaksTheFormatIsRefusedByName) {
  Tensor dense = Tensor::zeros(DType::I8, {2, 8});
  dense.data_mut<std::int8_t>()[8 + 4] = dense.data_mut<std::int8_t>()[8 + 5] = dense.data_mut<std::int8_t>()[8 + 6] =
      1;
  EXPECT_CONTAINS(test::error_of([&] { compress_sparse24_bitmask(dense, "q_proj"); }),
                  "q_proj: row 1 keeps 3 of the 4 weights from column 4, not 2:4");
  EXPECT_CONTAINS(test::error_of([&] {
                    compress_sparse24_bitmask(Tensor::zeros(DType::I8, {2, 6}), "q_proj");
                  }),
                  "must be 2-d with a multiple of 4 columns");

  const Sparse24Bitmask good = compress_sparse24_bitmask(Tensor::zeros(DType::I8, {2, 8}), "w");
  EXPECT_CONTAINS(test::error_of([&] { decompress_sparse24_bitmask(good.compressed, good.bitmask, 2, 12, "w"); }),
                  "w: the values have shape [2, 4], expected [2, 6] for the dense [2, 12]");
  EXPECT_CONTAINS(test::error_of([&] { decompress_sparse24_bitmask(good.compressed, good.bitmask, 0, 8, "w"); }),
                  "is not a 2:4 weight");
  Tensor three = Tensor::zeros(DType::U8, {2, 1});
  three.data_mut<std::uint8_t>()[0] = 0x37;  // group 0 keeps 3, group 1 keeps 2
  three.data_mut<std::uint8_t>()[1] = 0x33;
  EXPECT_CONTAINS(test::error_of([&] { decompress_sparse24_bitmask(good.compressed, three, 2, 8, "w"); }),
                  "w: the bitmask keeps 3 of the 4 weights of row 0 from column 0, not 2");
  EXPECT_CONTAINS(test::error_of([&] {
                    decompress_sparse24_bitmask(good.compressed, Tensor::zeros(DType::I8, {2, 1}), 2, 8, "w");
                  }),
                  "the bitmask is I8 [2, 1], expected U8 [2, 1]");
}

}  // namespace
}  // namespace octet
