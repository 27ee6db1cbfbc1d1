// The shipped sst2-mini classifier (BERT architecture) against the logits and
// ids of an independent PyTorch implementation (tests/data/sst2-mini-reference.json),
// and its accuracy on the SST-2 dev set against the reference model's.
#include "engine/encoder_session.h"
#include "engine/json_file.h"
#include "engine/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace octet {
namespace {

std::string sst2_model() { return test::project_dir() + "/assets/models/sst2-mini"; }

LoadOptions with_scheme(QuantScheme scheme) {
  LoadOptions options;
  options.quant.scheme = scheme;
  return options;
}

struct Sst2 {
  explicit Sst2(QuantScheme scheme = QuantScheme::F32)
      : model(models::builtin_registry().load_model(sst2_model(), with_scheme(scheme))),
        tokenizer(load_tokenizer_for(sst2_model(), "")),
        backend(make_cpu_backend(0)),
        session(*model, *backend, *tokenizer, read_tokenizer_config(sst2_model())) {}
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Backend> backend;
  EncoderSession session;
};

struct Example {
  std::string text;
  int label;
  std::vector<std::int32_t> ids;
  std::vector<float> logits;
};

std::vector<Example> reference_examples() {
  const Json j = read_json_file(test::test_data("sst2-mini-reference.json"));
  std::vector<Example> out;
  for (const auto& e : j["examples"]) {
    out.push_back(
        {e["text"], e["label"], e["ids"].get<std::vector<std::int32_t>>(), e["logits"].get<std::vector<float>>()});
  }
  return out;
}

TEST(Sst2Mini, ReproducesReferenceIdsAndLogits) {
  Sst2 s;
  const auto examples = reference_examples();
  ASSERT_EQ(examples.size(), 32u);
  std::vector<FramedText> framed;
  for (const Example& e : examples) {
    framed.push_back(s.session.frame(e.text));
    EXPECT_EQ(framed.back().ids, e.ids) << e.text;
  }
  const auto rows = s.session.run(framed, 1);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 2u);
    // 1e-4 of the larger logit: the reference is float32 too, summed in another order.
    const float scale = std::max(std::abs(examples[i].logits[0]), std::abs(examples[i].logits[1]));
    for (std::size_t c = 0; c < 2; ++c) {
      EXPECT_NEAR(rows[i][c], examples[i].logits[c], 1e-4f * scale) << examples[i].text;
    }
  }
}

// Padding is masked: each sentence gives the same logits alone and inside a
// padded batch of longer ones.
TEST(Sst2Mini, PaddingNeverChangesAResult) {
  Sst2 s;
  std::vector<FramedText> framed;
  for (const Example& e : reference_examples()) framed.push_back(s.session.frame(e.text));
  const auto alone = s.session.run(framed, 1);
  const auto batched = s.session.run(framed, 32);
  const auto in_sevens = s.session.run(framed, 7);
  for (std::size_t i = 0; i < framed.size(); ++i) {
    for (std::size_t c = 0; c < 2; ++c) {
      EXPECT_NEAR(batched[i][c], alone[i][c], 1e-5f * (1.0f + std::abs(alone[i][c])));
      EXPECT_NEAR(in_sevens[i][c], alone[i][c], 1e-5f * (1.0f + std::abs(alone[i][c])));
    }
  }
}

double dev_accuracy(Sst2& s, const std::string& tsv, std::size_t* count) {
  std::ifstream in(tsv);
  std::string line;
  std::getline(in, line);  // header
  std::vector<FramedText> framed;
  std::vector<int> gold;
  while (std::getline(in, line)) {
    const auto tab = line.rfind('\t');
    framed.push_back(s.session.frame(line.substr(0, tab)));
    gold.push_back(std::stoi(line.substr(tab + 1)));
  }
  const auto rows = s.session.run(framed, 32);
  std::size_t right = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) right += (rows[i][1] > rows[i][0] ? 1 : 0) == gold[i];
  *count = rows.size();
  return static_cast<double>(right) / static_cast<double>(rows.size());
}

TEST(Sst2Mini, DevAccuracyMatchesTheReferenceInF32AndInt8) {
  OCTET_REQUIRE_SHARED(tsv, "data/sst2_dev.tsv");
  const double reference = read_json_file(test::test_data("sst2-mini-reference.json"))["dev_accuracy"].get<double>();
  std::size_t n = 0;
  Sst2 f32;
  const double acc = dev_accuracy(f32, tsv, &n);
  EXPECT_EQ(n, 872u);
  // The same count of right answers: one sentence is 0.11 points.
  EXPECT_NEAR(acc, reference, 0.5 / 872.0);
  Sst2 int8(QuantScheme::Int8);
  const double acc8 = dev_accuracy(int8, tsv, &n);
  EXPECT_NEAR(acc8, reference, 0.005);
  std::printf("sst2 dev accuracy: reference %.4f, f32 %.4f, int8 %.4f\n", reference, acc, acc8);
}

}  // namespace
}  // namespace octet
