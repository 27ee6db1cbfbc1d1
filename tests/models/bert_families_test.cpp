// BERT, RoBERTa and DistilBERT graphs built from their config.json names with
// random weights (synthetic:CONFIG.json): each runs, and padding a sequence
// inside a batch never changes its output. RoBERTa also checks that positions
// start after the padding rows of its position table. Bare encoders pool as
// asked or as a sentence-transformers directory says.
#include "engine/core/executor.h"
#include "engine/io/json_file.h"
#include "engine/io/safetensors.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <cmath>
#include <fstream>
#include <numeric>

namespace octet {
namespace {

Json tiny_config(const std::string& type) {
  Json c = {{"model_type", type}, {"vocab_size", 50}, {"max_position_embeddings", 20}};
  if (type == "distilbert") {
    c.update({{"architectures", {"DistilBertForSequenceClassification"}},
              {"dim", 16},
              {"n_layers", 2},
              {"n_heads", 2},
              {"hidden_dim", 24}});
  } else {
    c.update(
        {{"architectures", {type == "bert" ? "BertForSequenceClassification" : "RobertaForSequenceClassification"}},
         {"hidden_size", 16},
         {"num_hidden_layers", 2},
         {"num_attention_heads", 2},
         {"intermediate_size", 24},
         {"type_vocab_size", type == "bert" ? 2 : 1}});
  }
  c["id2label"] = {{"0", "no"}, {"1", "maybe"}, {"2", "yes"}};
  return c;
}

// Output rows of `batch` sequences of the given lengths, padded to `seq`.
std::vector<float> run(Executor& executor, const std::vector<std::vector<std::int32_t>>& sequences, int seq) {
  std::vector<std::int32_t> ids, types, positions, lengths;
  for (const auto& s : sequences) {
    for (int t = 0; t < seq; ++t) {
      ids.push_back(t < static_cast<int>(s.size()) ? s[static_cast<std::size_t>(t)] : 0);
      types.push_back(0);
      positions.push_back(t);
    }
    lengths.push_back(static_cast<std::int32_t>(s.size()));
  }
  const GraphInput inputs[] = {{"tokens", ids}, {"token_types", types}, {"positions", positions}, {"lengths", lengths}};
  const Tensor& out = executor.run({seq, 0, false, static_cast<int>(sequences.size())}, inputs);
  return {out.data<float>(), out.data<float>() + out.numel()};
}

TEST(BertFamilies, EachRunsAndPaddingNeverChangesAResult) {
  test::TempDir dir;
  for (const std::string type : {"bert", "roberta", "distilbert"}) {
    const std::string path = dir.file(type + ".json");
    std::ofstream(path) << tiny_config(type).dump();
    const auto model = models::builtin_registry().load_model("synthetic:" + path);
    EXPECT_EQ(model->info().kind, ModelKind::Encoder);
    EXPECT_EQ(model->info().labels, (std::vector<std::string>{"no", "maybe", "yes"}));
    // RoBERTa's first two position rows belong to padding.
    EXPECT_EQ(model->info().context_length, type == "roberta" ? 18 : 20) << type;
    auto backend = make_cpu_backend(0);
    Executor executor(*model, *backend, static_cast<int>(model->info().context_length));
    const std::vector<std::int32_t> short_seq{3, 7, 9}, long_seq{4, 5, 6, 7, 8, 9, 10, 11};
    const auto alone = run(executor, {short_seq}, 3);
    const auto batched = run(executor, {long_seq, short_seq}, 8);
    ASSERT_EQ(alone.size(), 3u);
    ASSERT_EQ(batched.size(), 6u);
    for (std::size_t c = 0; c < 3; ++c) {
      EXPECT_TRUE(std::isfinite(alone[c]));
      EXPECT_NEAR(batched[3 + c], alone[c], 1e-5f * (1.0f + std::abs(alone[c]))) << type;
    }
    // The sequences differ, and so do their outputs: the graph reads its inputs.
    EXPECT_NE(batched[0], batched[3]) << type;
  }
}

// A bare BERT saved as a sentence-transformers directory: mean pooling gives
// each sequence's mean final hidden state over its own tokens; a Normalize
// module divides it by its norm; --pooling overrides the module's choice.
TEST(BertFamilies, SentenceTransformersMeanPoolingAndNormalize) {
  test::TempDir dir;
  Json config = tiny_config("bert");
  config["architectures"] = {"BertModel"};
  config.erase("id2label");
  std::ofstream(dir.file("config.json")) << config.dump();
  // Random weights saved as a checkpoint, with the pooler, and without it beside.
  std::vector<NamedTensor> tensors, no_pooler;
  const auto synthetic = models::builtin_registry().load_model("synthetic:" + dir.file("config.json"));
  for (const auto& [name, t] : synthetic->weights()) {
    tensors.push_back({name, t});
    if (name.find("pooler") == std::string::npos) no_pooler.push_back({name, t});
  }
  write_safetensors(dir.file("model.safetensors"), tensors);
  const auto write_modules = [&](bool normalize) {
    Json modules = Json::array(
        {{{"idx", 0}, {"name", "0"}, {"path", ""}, {"type", "sentence_transformers.models.Transformer"}},
         {{"idx", 1}, {"name", "1"}, {"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}}});
    if (normalize) {
      modules.push_back(
          {{"idx", 2}, {"name", "2"}, {"path", "2_Normalize"}, {"type", "sentence_transformers.models.Normalize"}});
    }
    std::ofstream(dir.file("modules.json")) << modules.dump();
  };
  std::filesystem::create_directory(dir.file("1_Pooling"));
  const auto pooling_config = [&](bool cls, bool mean, bool max) {
    std::ofstream(dir.file("1_Pooling/config.json")) << Json{
        {"word_embedding_dimension", 16},
        {"pooling_mode_cls_token", cls},
        {"pooling_mode_mean_tokens", mean},
        {"pooling_mode_max_tokens", max}}.dump();
  };
  write_modules(false);
  pooling_config(false, true, false);

  auto backend = make_cpu_backend(0);
  const std::vector<std::int32_t> short_seq{3, 7, 9}, long_seq{4, 5, 6, 7, 8, 9, 10, 11};
  const auto mean_model = models::builtin_registry().load_model(dir.path());
  EXPECT_EQ(mean_model->info().details.at("output"), "mean of the tokens' hidden states");
  Executor executor(*mean_model, *backend, 20);
  const auto alone = run(executor, {short_seq}, 3);
  const auto means = run(executor, {long_seq, short_seq}, 8);
  // Every token's final state, [2 * 8, 16]; the mean is the graph's last node, so nothing overwrote it.
  const Tensor* hidden_tensor = executor.find_value("blk.1.ffn_norm");
  ASSERT_NE(hidden_tensor, nullptr);
  ASSERT_EQ(hidden_tensor->dim(0), 16);
  const std::vector<float> hidden(hidden_tensor->data<float>(), hidden_tensor->data<float>() + 16 * 16);
  for (int b = 0; b < 2; ++b) {
    const int length = b == 0 ? 8 : 3;
    for (int c = 0; c < 16; ++c) {
      double sum = 0;
      for (int t = 0; t < length; ++t) sum += hidden[static_cast<std::size_t>((b * 8 + t) * 16 + c)];
      EXPECT_NEAR(means[static_cast<std::size_t>(b * 16 + c)], sum / length, 1e-6) << "sequence " << b;
    }
  }
  for (std::size_t c = 0; c < 16; ++c) EXPECT_NEAR(means[16 + c], alone[c], 1e-5) << "padding changed nothing";

  // With the Normalize module: the same vectors at unit length.
  write_modules(true);
  const auto normalized_model = models::builtin_registry().load_model(dir.path());
  EXPECT_EQ(normalized_model->info().details.at("output"), "mean of the tokens' hidden states, L2-normalized");
  Executor normalized_executor(*normalized_model, *backend, 20);
  const auto normalized = run(normalized_executor, {long_seq, short_seq}, 8);
  for (int b = 0; b < 2; ++b) {
    double norm = 0;
    for (int c = 0; c < 16; ++c) norm += std::pow(means[static_cast<std::size_t>(b * 16 + c)], 2);
    for (int c = 0; c < 16; ++c) {
      EXPECT_NEAR(normalized[static_cast<std::size_t>(b * 16 + c)],
                  means[static_cast<std::size_t>(b * 16 + c)] / std::sqrt(norm), 1e-6);
    }
  }

  // --pooling first: the first token's state, still normalized.
  const LoadOptions first_options{.quant = {}, .pooling = Pooling::First};
  const auto first = models::builtin_registry().load_model(dir.path(), first_options);
  Executor first_executor(*first, *backend, 20);
  const auto first_rows = run(first_executor, {long_seq, short_seq}, 8);
  for (int b = 0; b < 2; ++b) {
    double norm = 0;
    for (int c = 0; c < 16; ++c) norm += std::pow(hidden[static_cast<std::size_t>(b * 8 * 16 + c)], 2);
    for (int c = 0; c < 16; ++c) {
      // The first-token graph runs the last block on one row per sequence: another matmul shape.
      EXPECT_NEAR(first_rows[static_cast<std::size_t>(b * 16 + c)],
                  hidden[static_cast<std::size_t>(b * 8 * 16 + c)] / std::sqrt(norm), 1e-5);
    }
  }
  const LoadOptions pooler{.quant = {}, .pooling = Pooling::Pooler};
  EXPECT_NO_THROW(models::builtin_registry().load_model(dir.path(), pooler));

  // Modes octet does not run, and contradictions, are refused with the file named.
  pooling_config(false, true, true);
  EXPECT_THROW(
      {
        try {
          models::builtin_registry().load_model(dir.path());
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("1_Pooling/config.json: pooling_mode_max_tokens is not supported"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  pooling_config(true, true, false);
  EXPECT_THROW(models::builtin_registry().load_model(dir.path()), Error);
  // Without modules.json: BERT's pooler by default; a checkpoint without the
  // pooler cannot pool with it, and pools by the first token instead.
  std::filesystem::remove(dir.file("modules.json"));
  EXPECT_EQ(models::builtin_registry().load_model(dir.path())->info().details.at("output"),
            "pooled embedding (pooler, tanh)");
  write_safetensors(dir.file("model.safetensors"), no_pooler);
  EXPECT_EQ(models::builtin_registry().load_model(dir.path())->info().details.at("output"),
            "first token's hidden state");
  EXPECT_THROW(models::builtin_registry().load_model(dir.path(), pooler), Error);
  // A classifier has no pooling to choose.
  std::ofstream(dir.file("config.json")) << tiny_config("bert").dump();
  EXPECT_THROW(models::builtin_registry().load_model(dir.path(), LoadOptions{.quant = {}, .pooling = Pooling::Mean}),
               Error);
}

}  // namespace
}  // namespace octet
