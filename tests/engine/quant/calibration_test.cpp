#include "engine/quant/calibration.h"

#include "engine/core/error.h"
#include "engine/core/executor.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/engine/prompt_logits.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace octet {
namespace {

std::vector<std::int32_t> random_text(std::int64_t vocab, std::size_t n) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::int32_t> id(3, static_cast<std::int32_t>(vocab) - 1);
  std::vector<std::int32_t> out(n);
  for (auto& t : out) t = id(rng);
  return out;
}

// SmoothQuant is a re-parametrisation: before quantization, the smoothed
// model computes what the original does (up to float rounding of the moved
// scale), while its norms and weights really did change.
TEST(SmoothQuant, LeavesFloatOutputsUnchanged) {
  const auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  const ActivationStats ranges =
      measure_activation_stats(*model, *backend, random_text(model->info().vocab_size, 600), 128, 0);
  EXPECT_EQ(ranges.size(), 4u * 7 + 1) << "every matmul of 4 layers and lm_head";
  const auto factors = smoothing_factors(*model, ranges, 0.5f);
  ASSERT_EQ(factors.size(), 8u) << "two norms per layer";
  double largest_change = 0;
  for (const auto& [norm, s] : factors) {
    for (float f : s) largest_change = std::max(largest_change, std::abs(std::log(double{f})));
  }
  EXPECT_GT(largest_change, std::log(1.5)) << "the factors move real scale, so the check below means something";

  const auto smoothed = models::builtin_registry().load_model(test::shipped_model(), {QuantRecipe{}, factors});
  const auto a = test::prompt_logits(*model), b = test::prompt_logits(*smoothed);
  ASSERT_EQ(a.size(), b.size());
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(double{a[i]} - b[i]));
    scale = std::max(scale, std::abs(double{a[i]}));
  }
  EXPECT_LT(err / scale, 1e-5);
  for (const auto& [name, w] : smoothed->weights()) {
    if (name == "model.layers.0.input_layernorm.weight") {
      const auto original = model->weights();
      const auto it = std::find_if(original.begin(), original.end(), [&](const auto& p) { return p.first == name; });
      ASSERT_NE(it, original.end());
      EXPECT_NE(std::memcmp(w.raw(), it->second.raw(), w.nbytes()), 0) << "the norm weight carries the factors";
    }
  }
}

TEST(SmoothQuant, RejectsBadInput) {
  const auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  EXPECT_THROW(measure_activation_stats(*model, *backend, std::vector<std::int32_t>(10, 5), 128, 0), Error);
  EXPECT_THROW(smoothing_factors(*model, {}, 0.5f), Error);
  const ActivationStats ranges =
      measure_activation_stats(*model, *backend, std::vector<std::int32_t>(200, 5), 128, 1);
  EXPECT_THROW(smoothing_factors(*model, ranges, 1.5f), Error);
  auto wrong = smoothing_factors(*model, ranges, 0.5f);
  wrong.begin()->second.pop_back();
  EXPECT_THROW(models::builtin_registry().load_model(test::shipped_model(), {QuantRecipe{}, wrong}), Error);
}

}  // namespace
}  // namespace octet
