// A model whose numbers break (a NaN in a checkpoint, activations that
// overflow) gives NaN logits. Every consumer of logits stops with a clear
// error instead of printing nan or generating unknown tokens forever.
#include "engine/core/error.h"
#include "engine/session/generation_session.h"
#include "engine/session/perplexity.h"
#include "engine/session/sampler.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <limits>

namespace octet {
namespace {

// The shipped model with a NaN in its final norm's weight: that hidden
// dimension is NaN, and through lm_head so is every logit.
std::unique_ptr<Model> load_poisoned_model(const test::TempDir& dir) {
  test::copy_model_editing(dir, test::shipped_model(), "model.norm.weight",
                           [](std::span<float> w) { w[3] = std::numeric_limits<float>::quiet_NaN(); });
  return models::builtin_registry().load_model(dir.path());
}

TEST(NonFiniteLogits, PerplexityNamesTheModelWindowAndPosition) {
  test::TempDir dir;
  auto poisoned = load_poisoned_model(dir);
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0), other = make_cpu_backend(0);
  const Placement other_placement(*other);
  const std::vector<std::int32_t> text(20, 261);
  EXPECT_CONTAINS(test::error_of([&] {
                    measure_perplexity(*poisoned, *backend, text, {6, 0, 1}, nullptr, nullptr);
                  }),
                  "the model's logit 0 at window 1, position 0 is nan");
  EXPECT_CONTAINS(test::error_of([&] {
                    measure_perplexity(*model, *backend, text, {6, 0, 1}, poisoned.get(), &other_placement);
                  }),
                  "the compared model's logit 0 at window 1, position 0 is nan");
}

// Greedy decoding takes the argmax on the backend (a row of NaNs gives -1);
// sampling checks the logits it is given.
TEST(NonFiniteLogits, GenerationStopsGreedyOrSampled) {
  test::TempDir dir;
  auto poisoned = load_poisoned_model(dir);
  auto backend = make_cpu_backend(0);
  const std::vector<std::int32_t> prompt{1, 395, 415};
  for (const float temperature : {0.0f, 0.8f}) {
    GenerationSession session(*poisoned, *backend, 32);
    Sampler sampler({.temperature = temperature, .seed = 1}, poisoned->info().vocab_size);
    int tokens = 0;
    const std::string message =
        test::error_of([&] { session.generate(prompt, 8, sampler, [&](std::int32_t) { return ++tokens, true; }); });
    EXPECT_CONTAINS(message, "not finite numbers");
    EXPECT_EQ(tokens, 0) << "temperature " << temperature;
  }
}

}  // namespace
}  // namespace octet
