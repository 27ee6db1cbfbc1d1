// A sentence-transformers directory as the hub ships all-MiniLM-L6-v2
// (BertModel names without a prefix, the int64 embeddings.position_ids
// buffer, mean pooling, a Normalize module without its folder), made by
// tests/reference/make_minilm_style_golden.py with random weights: octet's
// ids equal Hugging Face's tokenizers', and its embeddings an independent
// float64 numpy BERT's, mean-pooled and normalized as sentence-transformers
// does, and the sentence-transformers package's own (PyTorch, float32;
// tests/reference/add_sentence_transformers_embeddings.py).
#include "engine/io/json_file.h"
#include "engine/session/encoder_session.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cmath>

namespace octet {
namespace {

TEST(SentenceTransformers, HubDirectoryWithPositionIdsMatchesTheReference) {
  const std::string dir = test::test_data("minilm-style");
  const auto model = models::builtin_registry().load_model(dir);
  EXPECT_EQ(model->info().details.at("output"), "mean of the tokens' hidden states, L2-normalized");
  const auto tokenizer = load_tokenizer_for(dir, "");
  const auto backend = make_cpu_backend(0);
  EncoderSession session(*model, *backend, *tokenizer, read_tokenizer_config(dir));
  const Json ref = read_json_file(test::test_data("minilm_style_reference.json"));
  std::vector<FramedText> framed;
  for (const Json& e : ref["examples"]) {
    framed.push_back(session.frame(e["text"].get<std::string>()));
    EXPECT_EQ(framed.back().ids, e["ids"].get<std::vector<std::int32_t>>()) << e["text"];
  }
  const auto rows = session.run(framed, 3);  // batched: padding must not matter
  ASSERT_EQ(rows.size(), ref["examples"].size());
  ASSERT_TRUE(ref.contains("sentence_transformers"));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (const char* source : {"embedding", "sentence_transformers_embedding"}) {
      const auto want = ref["examples"][i][source].get<std::vector<double>>();
      ASSERT_EQ(rows[i].size(), want.size());
      double dot = 0, nn = 0, ww = 0, max_err = 0;
      for (std::size_t j = 0; j < want.size(); ++j) {
        dot += rows[i][j] * want[j];
        nn += static_cast<double>(rows[i][j]) * rows[i][j];
        ww += want[j] * want[j];
        max_err = std::max(max_err, std::abs(rows[i][j] - want[j]));
      }
      // Unit vectors: the bar is cosine 0.9999; float32 through two layers is far closer.
      EXPECT_GT(dot / std::sqrt(nn * ww), 0.9999) << source << ": " << ref["examples"][i]["text"];
      EXPECT_LT(max_err, 1e-5) << source << ": " << ref["examples"][i]["text"];
    }
  }
}

}  // namespace
}  // namespace octet
