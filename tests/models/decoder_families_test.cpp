// Decoder family variants against tests/reference/make_decoder_golden.py:
// Qwen2 (q/k/v biases), Qwen3 (per-head q/k RMSNorm, head_dim apart from
// hidden_size / heads), Llama 3.1's rope_scaling (llama3) and GPT-2 (learned
// positions, Conv1D weights, gelu_new, an unread mask buffer); random float32
// checkpoints in the Hugging Face layout, logits of an independent float64
// numpy forward pass, and octet perplexity over the same window.
#include "engine/core/executor.h"
#include "engine/io/json_file.h"
#include "engine/quant/quant.h"
#include "engine/session/generation_session.h"
#include "engine/session/perplexity.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace octet {
namespace {

class DecoderFamily : public ::testing::TestWithParam<const char*> {};

TEST_P(DecoderFamily, LogitsAndPerplexityMatchNumpy) {
  const std::string kind = GetParam();
  const Json ref = read_json_file(test::test_data("decoder_tiny_reference.json"))[kind];
  auto model = models::builtin_registry().load_model(test::test_data(kind + "-tiny"));
  EXPECT_EQ(model->info().family, kind == "llama3" ? "llama" : kind);
  const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
  const auto want = ref["logits"].get<std::vector<std::vector<double>>>();
  auto backend = make_cpu_backend(0);
  GenerationSession session(*model, *backend, 0);
  const Tensor& logits = session.append_all_logits(prompt);
  const std::size_t vocab = want[0].size();
  double nll = 0;
  for (std::size_t t = 0; t < want.size(); ++t) {
    double err = 0, scale = 1e-30;
    for (std::size_t j = 0; j < vocab; ++j) {
      err = std::max(err, std::abs(logits.data<float>()[t * vocab + j] - want[t][j]));
      scale = std::max(scale, std::abs(want[t][j]));
    }
    // float32 against float64 through two blocks: 1e-4 of the row's largest logit.
    EXPECT_LT(err / scale, 1e-4) << kind << " position " << t;
    if (t + 1 < want.size()) {  // the reference's own negative log-likelihood of the next token
      double m = -INFINITY, sum = 0;
      for (double v : want[t]) m = std::max(m, v);
      for (double v : want[t]) sum += std::exp(v - m);
      nll += m + std::log(sum) - want[t][static_cast<std::size_t>(prompt[t + 1])];
    }
  }
  // Token by token, as decoding runs: each step's position (rotary, or a learned row) and the cache.
  Executor stepwise(*model, *backend, static_cast<int>(prompt.size()));
  for (std::size_t t = 0; t < prompt.size(); ++t) {
    const Tensor& row = stepwise.forward(std::span(&prompt[t], 1), static_cast<int>(t), false);
    double err = 0, scale = 1e-30;
    for (std::size_t j = 0; j < vocab; ++j) {
      err = std::max(err, std::abs(row.data<float>()[j] - want[t][j]));
      scale = std::max(scale, std::abs(want[t][j]));
    }
    EXPECT_LT(err / scale, 1e-4) << kind << " decode step " << t;
  }
  // One window of the prompt's length: BOS (the prompt's first id) and the rest as text.
  const std::vector<std::int32_t> text(prompt.begin() + 1, prompt.end());
  const PerplexityResult r =
      measure_perplexity(*model, *backend, text, {static_cast<int>(prompt.size()), 0, prompt[0]}, nullptr, nullptr);
  ASSERT_EQ(r.windows, 1);
  EXPECT_NEAR(r.perplexity, std::exp(nll / static_cast<double>(text.size())), 1e-4 * r.perplexity);
}

// Under int8 the token embedding table is int8 rows (engine/quant/quant.h):
// the model computes exactly what it computes with those rows dequantized
// into a float table, and the table holds a quarter of the float bytes.
// Llama (the shipped model) and GPT-2.
TEST(DecoderFamilies, AnInt8EmbeddingTableLooksUpItsDequantizedRows) {
  for (const auto& [dir, table] : {std::pair{test::shipped_model(), "model.embed_tokens.weight"},
                                   std::pair{test::test_data("gpt2-tiny"), "transformer.wte.weight"}}) {
    const LoadOptions int8{QuantRecipe{QuantScheme::Int8, {}}};
    const auto model = models::builtin_registry().load_model(dir, int8);
    auto with_float_table = models::builtin_registry().load_model(dir, int8);
    std::size_t table_bytes = 0;
    with_float_table->replace_weights([&](const std::string& name, const Tensor& w) {
      if (name != table) return w;
      EXPECT_EQ(w.dtype(), DType::I8) << dir;
      table_bytes = w.nbytes();
      return dequantize(w);
    });
    EXPECT_EQ(table_bytes, static_cast<std::size_t>(model->info().vocab_size * model->info().hidden_size)) << dir;
    auto backend = make_cpu_backend(0);
    const std::vector<std::int32_t> ids{1, 95, 15, 61, 75, 68, 79};
    const auto logits = [&](const Model& m) {
      Executor executor(m, *backend, 16);
      const Tensor& out = executor.forward(ids, 0, true);
      return std::vector<float>(out.data<float>(), out.data<float>() + out.numel());
    };
    const auto a = logits(*model), b = logits(*with_float_table);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << dir;
  }
}

// Llama 3 Instruct names <|eot_id|> as an end only in generation_config.json.
TEST(DecoderFamilies, GenerationConfigEosIdsJoinTheConfigs) {
  test::TempDir dir;
  for (const char* f : {"config.json", "model.safetensors"}) {
    std::filesystem::copy(test::test_data(std::string("llama3-tiny/") + f), dir.file(f));
  }
  std::ofstream(dir.file("generation_config.json")) << R"({"bos_token_id": 1, "eos_token_id": [2, 7]})";
  EXPECT_EQ(models::builtin_registry().load_model(dir.path())->info().eos_ids, (std::vector<std::int32_t>{2, 7}));
  std::ofstream(dir.file("generation_config.json")) << R"({"eos_token_id": 4096})";
  EXPECT_CONTAINS(test::error_of([&] { models::builtin_registry().load_model(dir.path()); }),
                  "generation_config.json: eos_token_id 4096 is outside the vocabulary of 128");
}

INSTANTIATE_TEST_SUITE_P(Families, DecoderFamily, ::testing::Values("qwen2", "qwen3", "llama3", "gpt2"));

}  // namespace
}  // namespace octet
