#include "engine/session/perplexity.h"
#include "engine/core/error.h"
#include "engine/core/executor.h"
#include "engine/text/sentencepiece_tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace octet {
namespace {

// Perplexity from first principles on a tiny window: exp of the mean negative
// log-probability of each next token, from full-logit forward passes.
TEST(Perplexity, MatchesDirectComputation) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  const std::vector<std::int32_t> text{395, 415, 261, 375, 968, 379, 279, 261, 370, 427};  // 10 tokens
  const PerplexityResult r = measure_perplexity(*model, *backend, text, {6, 0, 1}, nullptr, nullptr);
  ASSERT_EQ(r.windows, 2);  // windows of BOS + 5 tokens
  ASSERT_EQ(r.tokens, 10);

  auto direct_backend = make_cpu_backend(0);
  double nll = 0;
  for (int w = 0; w < 2; ++w) {
    std::vector<std::int32_t> window{1};
    window.insert(window.end(), text.begin() + w * 5, text.begin() + (w + 1) * 5);
    Executor executor(*model, *direct_backend, 6);
    const Tensor& logits = executor.forward(window, 0, true);
    const std::int64_t vocab = model->info().vocab_size;
    for (std::size_t t = 0; t + 1 < window.size(); ++t) {
      const float* row = logits.data<float>() + static_cast<std::int64_t>(t) * vocab;
      double z = 0;
      for (std::int64_t j = 0; j < vocab; ++j) z += std::exp(static_cast<double>(row[j]));
      nll -= row[window[t + 1]] - std::log(z);
    }
  }
  EXPECT_NEAR(r.perplexity, std::exp(nll / 10), 1e-9 * r.perplexity);
  EXPECT_GT(r.ppl_stderr, 0);
}

TEST(Perplexity, ComparingAModelWithItselfCostsNothing) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0), other = make_cpu_backend(0);
  const Placement other_placement(*other);
  const std::vector<std::int32_t> text(40, 261);
  const PerplexityResult r = measure_perplexity(*model, *backend, text, {9, 0, 1}, model.get(), &other_placement);
  ASSERT_TRUE(r.compare.has_value());
  EXPECT_EQ(r.compare->kld_mean, 0.0);
  EXPECT_EQ(r.compare->top1_agreement, 1.0);
  EXPECT_EQ(r.compare->perplexity, r.perplexity);
}

TEST(Perplexity, RefusesTextShorterThanAWindow) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  const std::vector<std::int32_t> text(3, 261);
  EXPECT_THROW(measure_perplexity(*model, *backend, text, {8, 0, 1}, nullptr, nullptr), Error);
}

// What quantization costs on a real model (issue 3's bar: int8 within 1% of
// float perplexity, w8 within 0.5%), on the first 12 windows of the TinyStories
// validation text; bench/RESULTS.md has the whole file. FP8 (E4M3: 3 mantissa
// bits) costs more on this 64-wide model: +1.46% over the whole file, so its
// bound here is a regression guard at 2%, not issue 5's 1%.
TEST(Perplexity, QuantizationCostOnStories260K) {
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  OCTET_REQUIRE_SHARED(tokenizer_path, "models/stories260K/tok512.model");
  OCTET_REQUIRE_SHARED(text_path, "data/tinystories_val_head.txt");
  std::ifstream in(text_path);
  std::stringstream text;
  text << in.rdbuf();
  const auto tokens = load_sentencepiece(tokenizer_path)->encode(text.str().substr(0, 120000));
  auto f32 = models::builtin_registry().load_model(checkpoint);
  auto backend = make_cpu_backend(0), other = make_cpu_backend(0);
  const Placement other_placement(*other);
  for (auto [scheme, bound] :
       {std::pair{QuantScheme::Int8, 0.01}, {QuantScheme::W8, 0.005}, {QuantScheme::Fp8, 0.02}}) {
    auto quantized = models::builtin_registry().load_model(checkpoint, {QuantRecipe{scheme, {}}});
    const PerplexityResult r =
        measure_perplexity(*f32, *backend, tokens, {512, 12, 1}, quantized.get(), &other_placement);
    EXPECT_EQ(r.windows, 12);
    EXPECT_LT(std::abs(r.compare->perplexity / r.perplexity - 1), bound) << quant_scheme_name(scheme);
    EXPECT_GT(r.compare->kld_mean, 0) << "quantization changes something";
    const bool fp8 = scheme == QuantScheme::Fp8;
    EXPECT_LT(r.compare->kld_mean, fp8 ? 0.025 : 0.01);
    EXPECT_GT(r.compare->top1_agreement, fp8 ? 0.9 : 0.95);
  }
}

}  // namespace
}  // namespace octet
