#include "engine/core/random_tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace octet {
namespace {

TEST(RandomTensor, SeededUniformInRange) {
  const Tensor a = random_uniform({1000, 100}, 7, 0.5f), b = random_uniform({1000, 100}, 7, 0.5f);
  const Tensor c = random_uniform({1000, 100}, 8, 0.5f);
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << "same seed, same values (whatever the threads)";
  EXPECT_NE(std::memcmp(a.raw(), c.raw(), a.nbytes()), 0);
  double sum = 0, sum_sq = 0;
  for (float v : a.f32()) {
    ASSERT_GE(v, -0.5f);
    ASSERT_LT(v, 0.5f);
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(a.numel());
  // Uniform on [-0.5, 0.5): mean 0 (sd of the mean 0.29 / sqrt(n) ~ 0.0009), variance 1/12.
  EXPECT_NEAR(sum / n, 0.0, 0.005);
  EXPECT_NEAR(sum_sq / n, 1.0 / 12, 0.002);
}

}  // namespace
}  // namespace octet
