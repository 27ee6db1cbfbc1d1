#include "engine/session/sampler.h"
#include "engine/core/error.h"

#include <gtest/gtest.h>

#include <limits>

#include <cmath>
#include <map>

namespace octet {
namespace {

std::vector<float> logits_of(std::initializer_list<float> v) { return v; }

TEST(Sampler, TemperatureZeroIsArgmax) {
  Sampler s({.temperature = 0.0f}, 5);
  auto l = logits_of({0.1f, 2.0f, -1.0f, 1.9f, 0.0f});
  EXPECT_EQ(s.sample(l, {}), 1);
}

// The rule a backend's Argmax follows too: the first of equal largest
// values; a NaN never wins; a row of NaNs only gives -1.
TEST(Sampler, ArgmaxTakesTheFirstLargestAndNeverANan) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(argmax(logits_of({1.0f, 3.0f, 2.0f, 3.0f})), 1);
  EXPECT_EQ(argmax(logits_of({nan, -5.0f, -2.0f})), 2);
  EXPECT_EQ(argmax(logits_of({-1.0f, nan, -1.0f})), 0);
  EXPECT_EQ(argmax(logits_of({-inf, -inf, -inf})), 0);
  EXPECT_EQ(argmax(logits_of({nan, -inf, nan, 4.0f})), 3);
  EXPECT_EQ(argmax(logits_of({nan, nan})), -1);
  EXPECT_EQ(argmax(logits_of({-inf, inf, inf})), 1);
  // A row longer than any vector, NaNs scattered, the maximum twice: the first.
  std::vector<float> row(1001);
  for (std::size_t i = 0; i < row.size(); ++i) row[i] = i % 7 == 3 ? nan : static_cast<float>(i % 97) - 50.0f;
  row[555] = 60.0f, row[999] = 60.0f, row[1000] = nan;
  EXPECT_EQ(argmax(row), 555);
}

// A NaN or +inf logit is refused before anything sorts it (a NaN breaks the
// sort's ordering), at any temperature; so is a row with nothing to draw.
TEST(Sampler, RefusesLogitsThatAreNotNumbers) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const float temperature : {0.0f, 0.8f}) {
    Sampler s({.temperature = temperature, .seed = 2}, 3);
    auto with_nan = logits_of({0.5f, nan, 0.1f});
    EXPECT_THROW(s.sample(with_nan, {}), Error);
    auto with_inf = logits_of({0.5f, 0.2f, inf});
    EXPECT_THROW(s.sample(with_inf, {}), Error);
  }
  Sampler s({.temperature = 0.8f, .seed = 2}, 3);
  auto all_minus_inf = logits_of({-inf, -inf, -inf});
  EXPECT_THROW(s.sample(all_minus_inf, {}), Error);
  auto some_minus_inf = logits_of({-inf, 0.3f, -inf});
  EXPECT_EQ(s.sample(some_minus_inf, {}), 1);  // -inf is a token that cannot be drawn, not an error
}

// Greedy without a penalty is the argmax of the raw logits, which a backend
// can take itself; a penalty needs the logits here.
TEST(Sampler, IsGreedyOnlyWithoutTemperatureOrPenalty) {
  EXPECT_TRUE(Sampler({.temperature = 0.0f}, 4).is_greedy());
  EXPECT_FALSE(Sampler({.temperature = 0.7f}, 4).is_greedy());
  EXPECT_FALSE(Sampler({.temperature = 0.0f, .repetition_penalty = 1.1f}, 4).is_greedy());
  EXPECT_TRUE(Sampler({.temperature = 0.0f, .repetition_penalty = 1.1f, .repetition_window = 0}, 4).is_greedy());
}

TEST(Sampler, TopKOneIsArgmaxAtAnyTemperature) {
  Sampler s({.temperature = 5.0f, .top_k = 1, .top_p = 1.0f, .seed = 3}, 4);
  for (int i = 0; i < 50; ++i) {
    auto l = logits_of({0.0f, 0.5f, 0.4f, 0.3f});
    EXPECT_EQ(s.sample(l, {}), 1);
  }
}

TEST(Sampler, SameSeedSameDraws) {
  SamplerOptions o{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 1234};
  Sampler a(o, 6), b(o, 6);
  for (int i = 0; i < 100; ++i) {
    auto la = logits_of({0, 1, 2, 0, 1, 2}), lb = la;
    EXPECT_EQ(a.sample(la, {}), b.sample(lb, {}));
  }
}

// With no truncation, draw frequencies follow softmax(logits / T): a chi-square
// test at a fixed seed (deterministic), threshold far above the 99.9% quantile
// for 3 degrees of freedom (16.3) would only fail on a real bias.
TEST(Sampler, FrequenciesFollowSoftmax) {
  const std::vector<float> base{0.0f, 1.0f, -0.5f, 0.7f};
  const float temp = 0.7f;
  Sampler s({.temperature = temp, .top_k = 0, .top_p = 1.0f, .seed = 99}, 4);
  std::map<int, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto l = base;
    ++counts[s.sample(l, {})];
  }
  double z = 0, chi2 = 0;
  for (float x : base) z += std::exp(x / temp);
  for (int i = 0; i < 4; ++i) {
    const double expect = n * std::exp(base[static_cast<std::size_t>(i)] / temp) / z;
    chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
  }
  EXPECT_LT(chi2, 16.3);
}

TEST(Sampler, TopPKeepsTheSmallestSufficientSet) {
  // Probabilities at T=1: about 0.66, 0.24, 0.09, 0.01. top_p 0.6 keeps token 0 alone.
  Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 0.6f, .seed = 5}, 4);
  for (int i = 0; i < 200; ++i) {
    auto l = logits_of({3.0f, 2.0f, 1.0f, -1.0f});
    EXPECT_EQ(s.sample(l, {}), 0);
  }
  Sampler t({.temperature = 1.0f, .top_k = 0, .top_p = 0.85f, .seed = 5}, 4);
  std::map<int, int> seen;
  for (int i = 0; i < 2000; ++i) {
    auto l = logits_of({3.0f, 2.0f, 1.0f, -1.0f});
    ++seen[t.sample(l, {})];
  }
  EXPECT_GT(seen[1], 0);
  EXPECT_EQ(seen[2], 0);  // 0.66 + 0.24 already reaches 0.85
  EXPECT_EQ(seen[3], 0);
}

TEST(Sampler, RepetitionPenaltyOncePerDistinctToken) {
  Sampler s({.temperature = 0.0f, .repetition_penalty = 2.0f}, 3);
  auto l = logits_of({4.0f, 3.0f, -1.0f});
  const std::int32_t recent[] = {0, 0, 0, 2};
  EXPECT_EQ(s.sample(l, recent), 1);  // 4 / 2 = 2 < 3
  EXPECT_FLOAT_EQ(l[0], 2.0f);        // divided once, not three times
  EXPECT_FLOAT_EQ(l[2], -2.0f);       // negative logits are multiplied
}

TEST(Sampler, RejectsBadOptions) {
  EXPECT_THROW(validate({.temperature = -1.0f}), Error);
  EXPECT_THROW(validate({.top_p = 0.0f}), Error);
  EXPECT_THROW(validate({.top_p = 1.5f}), Error);
  EXPECT_THROW(validate({.top_k = -2}), Error);
  EXPECT_THROW(validate({.repetition_penalty = 0.0f}), Error);
  Sampler s({.temperature = 0.0f}, 3);
  auto wrong = logits_of({1.0f, 2.0f});
  EXPECT_THROW(s.sample(wrong, {}), Error);
}

}  // namespace
}  // namespace octet
