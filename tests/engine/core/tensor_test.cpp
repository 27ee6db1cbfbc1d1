#include "engine/core/tensor.h"
#include "engine/core/error.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace octet {
namespace {

TEST(Tensor, ShapeNumelRefusesNegativeDimensionsAndOverflow) {
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({3, 0, 5}), 0);
  EXPECT_EQ(shape_numel({1 << 20, 1 << 20, 1 << 19}), std::int64_t{1} << 59);
  // Sizes read from a file (three header fields of 2^31) multiply past 2^63;
  // the count must be refused, not wrap.
  EXPECT_CONTAINS(test::error_of([] {
                    shape_numel({std::int64_t{1} << 31, std::int64_t{1} << 31, std::int64_t{1} << 31});
                  }),
                  "[2147483648, 2147483648, 2147483648] has too many elements");
  // 2^61 elements would be 2^64 bytes of float64-sized data: too many as well.
  EXPECT_THROW(shape_numel({std::int64_t{1} << 61}), Error);
  EXPECT_THROW(shape_numel({4, -1}), Error);
}

TEST(Tensor, EmptyTensorsConvertToEmptyFloat) {
  // An empty tensor owns no storage; converting it must not hand a null
  // pointer to memcpy (UBSan's check) or read anything.
  for (const DType dtype : {DType::F32, DType::BF16, DType::F8E4M3}) {
    const Tensor converted = to_f32(Tensor::zeros(dtype, {0, 4}));
    EXPECT_EQ(converted.dtype(), DType::F32);
    EXPECT_EQ(converted.shape(), (Shape{0, 4}));
    EXPECT_EQ(converted.numel(), 0);
  }
}

}  // namespace
}  // namespace octet
