// The shipped sst2-mini classifier (BERT architecture) against the logits and
// ids of an independent PyTorch implementation (tests/data/sst2-mini-reference.json),
// and its accuracy on the SST-2 dev set against the reference model's.
#include "engine/core/error.h"
#include "engine/io/compressed_tensors.h"
#include "engine/io/json_file.h"
#include "engine/session/encoder_session.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <tuple>

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

// An int8 checkpoint written by `octet quantize` loads back without
// re-quantizing and gives bit-identical logits.
TEST(Sst2Mini, Int8CheckpointReloadsBitIdentical) {
  test::TempDir dir;
  Sst2 at_load(QuantScheme::Int8);
  write_checkpoint(*at_load.model, read_json_file(sst2_model() + "/config.json"), with_scheme(QuantScheme::Int8).quant,
                   dir.path());
  std::filesystem::copy_file(sst2_model() + "/tokenizer.model", dir.file("tokenizer.model"));
  EXPECT_EQ(WeightStore::open_dir(dir.path()).get("bert.embeddings.word_embeddings.weight").dtype(), DType::I8);
  const auto reloaded = models::builtin_registry().load_model(dir.path());
  auto backend = make_cpu_backend(0);
  EncoderSession session(*reloaded, *backend, *at_load.tokenizer, read_tokenizer_config(sst2_model()));
  std::vector<FramedText> framed;
  for (const Example& e : reference_examples()) framed.push_back(at_load.session.frame(e.text));
  const auto a = at_load.session.run(framed, 8), b = session.run(framed, 8);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
}

// Under int8 the word embedding table is int8 rows (engine/quant/quant.h):
// the encoder gives exactly what it gives with those rows dequantized.
TEST(Sst2Mini, AnInt8WordTableLooksUpItsDequantizedRows) {
  Sst2 int8(QuantScheme::Int8), with_float_table(QuantScheme::Int8);
  const std::string table = "bert.embeddings.word_embeddings.weight";
  std::size_t table_bytes = 0;
  with_float_table.model->replace_weights([&](const std::string& name, const Tensor& w) {
    if (name != table) return w;
    EXPECT_EQ(w.dtype(), DType::I8);
    table_bytes = w.nbytes();
    return dequantize(w);
  });
  EXPECT_EQ(table_bytes, static_cast<std::size_t>(8000 * 128));
  std::vector<FramedText> framed;
  for (const Example& e : reference_examples()) framed.push_back(int8.session.frame(e.text));
  EXPECT_EQ(int8.session.run(framed, 8), with_float_table.session.run(framed, 8));
}

TEST(Sst2Mini, RefusesAnUnsupportedArchitectureAndActivation) {
  test::TempDir dir;
  for (const auto& [key, value, message] :
       {std::tuple{"architectures", Json::array({"BertForMaskedLM"}), "is not supported"},
        std::tuple{"hidden_act", Json("relu"), "activation 'relu'"},
        std::tuple{"num_attention_heads", Json(3), "not a multiple"}}) {
    Json config = read_json_file(sst2_model() + "/config.json");
    config[key] = value;
    std::filesystem::create_directories(dir.path() + "/m");
    std::ofstream(dir.path() + "/m/config.json") << config.dump();
    std::filesystem::copy_file(sst2_model() + "/model.safetensors", dir.path() + "/m/model.safetensors",
                               std::filesystem::copy_options::overwrite_existing);
    const std::string error = test::error_of([&] { models::builtin_registry().load_model(dir.path() + "/m"); });
    EXPECT_CONTAINS(error, message) << key;
    EXPECT_CONTAINS(error, "config.json") << key;
  }
}

TEST(Sst2Mini, FramesPairsAndTruncatesLongestFirst) {
  Sst2 s;
  const FramedText pair = s.session.frame("a good film", "a bad ending");
  const auto a = s.tokenizer->encode("a good film"), b = s.tokenizer->encode("a bad ending");
  ASSERT_EQ(pair.ids.size(), a.size() + b.size() + 3);
  EXPECT_EQ(pair.ids.front(), s.tokenizer->token_id("[CLS]"));
  EXPECT_EQ(pair.ids[a.size() + 1], s.tokenizer->token_id("[SEP]"));
  EXPECT_EQ(pair.ids.back(), s.tokenizer->token_id("[SEP]"));
  EXPECT_EQ(std::count(pair.types.begin(), pair.types.end(), 0), static_cast<long>(a.size() + 2));
  EXPECT_EQ(std::count(pair.types.begin(), pair.types.end(), 1), static_cast<long>(b.size() + 1));

  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "good ";
  const FramedText one = s.session.frame(long_text);
  EXPECT_EQ(one.ids.size(), 128u);
  EXPECT_EQ(one.ids.back(), s.tokenizer->token_id("[SEP]"));
  const FramedText two = s.session.frame(long_text, "short");
  EXPECT_EQ(two.ids.size(), 128u);
  // The longer text lost the tokens: "short" is kept whole (with its [SEP]).
  EXPECT_EQ(std::count(two.types.begin(), two.types.end(), 1),
            static_cast<long>(s.tokenizer->encode("short").size() + 1));
  EXPECT_EQ(s.session.run(std::vector<FramedText>{one, two}, 2).size(), 2u);

  EXPECT_THROW(s.session.frame(""), Error);
  EXPECT_THROW(s.session.frame("bad \xFF byte"), Error);
}

}  // namespace
}  // namespace octet
