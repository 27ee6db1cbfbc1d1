#include "engine/quant/calibration.h"

#include "engine/core/error.h"
#include "engine/core/executor.h"
#include "engine/io/json_file.h"
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

// The statistics are those of each matmul's own input, after the whole step:
// layer 0's q, k and v projections read RMSNorm(embedding) * weight, computed
// here in double from the model's weights. (The executor reuses the memory of
// dead values; calibration must keep them, or it reads what came later.)
TEST(Calibration, StatsAreThoseOfEachMatmulsInput) {
  const auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  const int n_ctx = 16;
  const auto text = random_text(model->info().vocab_size, 40);
  const ActivationStats stats = measure_activation_stats(*model, *backend, text, n_ctx, 1);
  std::map<std::string, Tensor> weights;
  for (const auto& [name, t] : model->weights()) weights.emplace(name, t);
  const Tensor& embed = weights.at("model.embed_tokens.weight");
  const Tensor& norm = weights.at("model.layers.0.input_layernorm.weight");
  const std::int64_t d = embed.dim(1);
  const double eps = read_json_file(test::shipped_model() + "/config.json")["rms_norm_eps"].get<double>();
  std::vector<double> max_abs(static_cast<std::size_t>(d), 0.0), sum_squares(static_cast<std::size_t>(d), 0.0);
  for (int t = 0; t < n_ctx; ++t) {
    const std::int32_t id = t == 0 ? model->info().bos_id : text[static_cast<std::size_t>(t - 1)];
    const float* e = embed.data<float>() + static_cast<std::int64_t>(id) * d;
    double ms = 0;
    for (std::int64_t j = 0; j < d; ++j) ms += double{e[j]} * e[j];
    const double inv = 1.0 / std::sqrt(ms / static_cast<double>(d) + eps);
    for (std::int64_t j = 0; j < d; ++j) {
      const double x = e[j] * inv * norm.data<float>()[j];
      max_abs[static_cast<std::size_t>(j)] = std::max(max_abs[static_cast<std::size_t>(j)], std::abs(x));
      sum_squares[static_cast<std::size_t>(j)] += x * x;
    }
  }
  for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
    const ChannelStats& got = stats.at(fmt::format("model.layers.0.self_attn.{}.weight", proj));
    ASSERT_EQ(got.max_abs.size(), static_cast<std::size_t>(d));
    for (std::size_t j = 0; j < got.max_abs.size(); ++j) {
      // float32 kernels against double: a few ulps of the values, summed over 16 tokens.
      EXPECT_NEAR(got.max_abs[j], max_abs[j], 1e-5 * (1.0 + max_abs[j])) << proj << " channel " << j;
      EXPECT_NEAR(got.sum_squares[j], sum_squares[j], 1e-4 * (1.0 + sum_squares[j])) << proj << " channel " << j;
    }
  }
  const auto norms = activation_norms(stats);
  EXPECT_NEAR(norms.at("model.layers.0.self_attn.q_proj.weight")[5], std::sqrt(sum_squares[5]),
              1e-4 * std::sqrt(sum_squares[5]));
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
  const ActivationStats ranges = measure_activation_stats(*model, *backend, std::vector<std::int32_t>(200, 5), 128, 1);
  EXPECT_THROW(smoothing_factors(*model, ranges, 1.5f), Error);
  auto wrong = smoothing_factors(*model, ranges, 0.5f);
  wrong.begin()->second.pop_back();
  EXPECT_THROW(models::builtin_registry().load_model(test::shipped_model(), {QuantRecipe{}, wrong}), Error);
}

}  // namespace
}  // namespace octet
