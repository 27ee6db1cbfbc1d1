// BERT, RoBERTa and DistilBERT graphs built from their config.json names with
// random weights (synthetic:CONFIG.json): each runs, and padding a sequence
// inside a batch never changes its output. RoBERTa also checks that positions
// start after the padding rows of its position table.
#include "engine/executor.h"
#include "engine/json_file.h"
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

}  // namespace
}  // namespace octet
