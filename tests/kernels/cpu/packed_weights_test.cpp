// Models that hold the CPU backend's packed copies of their int8 matmul
// weights (pack_matmul_weights, where one copy serves every M: AMX CPUs)
// compute exactly what they compute holding the int8 rows, decoders and
// encoders, in prefill-sized and decode-sized steps: every product reads the
// same packed bytes, only who holds them differs.
#include "engine/core/executor.h"
#include "engine/quant/pruning.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <numeric>

namespace octet {
namespace {

std::unique_ptr<Model> load_int8(const std::string& path) {
  return models::builtin_registry().load_model(path, LoadOptions{QuantRecipe{QuantScheme::Int8, {}}});
}

// Bytes of the weights a model holds packed.
std::size_t packed_bytes(const Model& model) {
  std::size_t bytes = 0;
  for (const auto& [name, w] : model.weights()) {
    if (w.quant() != nullptr && w.quant()->packed_panels) bytes += w.nbytes();
  }
  return bytes;
}

constexpr const char* kNoPanels =
    "oneDNN's layout here is not the panels one (a CPU without AMX and AVX-512 VNNI): models keep their int8 rows";

// Two decoders, each on its own CPU backend, give the same logits for a
// prompt of 20 tokens (prefill) and then for `steps` single tokens (decode).
void expect_same_logits(const Model& rows, const Model& packed, int steps) {
  auto backend_rows = make_cpu_backend(0), backend_packed = make_cpu_backend(0);
  Executor a(rows, *backend_rows, 64), b(packed, *backend_packed, 64);
  std::vector<std::int32_t> prompt(20);
  std::iota(prompt.begin(), prompt.end(), 5);
  const auto logits = [](const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); };
  EXPECT_EQ(logits(b.forward(prompt, 0, true)), logits(a.forward(prompt, 0, true))) << "prefill, 20 rows";
  for (int step = 0; step < steps; ++step) {
    const std::vector<std::int32_t> token{7 + step};
    EXPECT_EQ(logits(b.forward(token, 20 + step, false)), logits(a.forward(token, 20 + step, false)))
        << "decode step " << step;
  }
}

TEST(PackedWeights, ADecoderHoldingPackedCopiesGivesTheSameLogits) {
  const auto rows = load_int8("synthetic:llama-15m");
  const auto packed = load_int8("synthetic:llama-15m");
  const std::size_t replaced = pack_matmul_weights(*packed);
  if (replaced == 0) GTEST_SKIP() << kNoPanels;
  EXPECT_EQ(replaced, packed_bytes(*packed));
  EXPECT_EQ(pack_matmul_weights(*packed), 0u) << "packed once";
  expect_same_logits(*rows, *packed, 3);
}

// A 2:4 model (pruned at load) holds its compressed rows on every CPU, 5/8 of
// the bytes; decode reads them, prefill expands them, the same logits.
TEST(PackedWeights, APrunedDecoderHoldingItsCompressedRowsGivesTheSameLogits) {
  LoadOptions options{QuantRecipe{QuantScheme::Int8, {}}};
  options.prune = PruneRecipe{.pattern = SparsityPattern::TwoFour};
  const auto rows = models::builtin_registry().load_model("synthetic:llama-15m", options);
  const auto packed = models::builtin_registry().load_model("synthetic:llama-15m", options);
  ASSERT_GT(pack_matmul_weights(*packed), 0u);
  std::size_t dense_bytes = 0, two_four_bytes = 0;
  const auto dense = rows->weights();
  for (const auto& [name, w] : packed->weights()) {
    if (w.quant() == nullptr || !w.quant()->packed_two_four) continue;
    two_four_bytes += w.nbytes();
    dense_bytes +=
        std::find_if(dense.begin(), dense.end(), [&](const auto& d) { return d.first == name; })->second.nbytes();
  }
  ASSERT_GT(two_four_bytes, 0u) << "the blocks' weights are 2:4";
  // 5/8 of each row, rows padded to 64 columns, and an int32 offset each (288 -> 320: 204 bytes, 0.71x;
  // 768: 484, 0.63x).
  EXPECT_LT(static_cast<double>(two_four_bytes), 0.7 * static_cast<double>(dense_bytes));
  expect_same_logits(*rows, *packed, 2);
}

TEST(PackedWeights, AnEncoderHoldingPackedCopiesGivesTheSameOutput) {
  test::TempDir dir;
  const std::string config = dir.file("config.json");
  std::ofstream(config)
      << nlohmann::json{{"model_type", "bert"},     {"architectures", {"BertForSequenceClassification"}},
                        {"vocab_size", 60},         {"max_position_embeddings", 32},
                        {"hidden_size", 128},       {"num_hidden_layers", 2},
                        {"num_attention_heads", 2}, {"intermediate_size", 512},
                        {"type_vocab_size", 2},     {"id2label", {{"0", "no"}, {"1", "yes"}}}}
             .dump();
  const auto rows = load_int8("synthetic:" + config);
  const auto packed = load_int8("synthetic:" + config);
  if (pack_matmul_weights(*packed) == 0) GTEST_SKIP() << kNoPanels;
  auto backend_rows = make_cpu_backend(0), backend_packed = make_cpu_backend(0);
  Executor a(*rows, *backend_rows, 32), b(*packed, *backend_packed, 32);
  const int seq = 24, batch = 2;  // 48 rows: oneDNN's products, and the GELU's fused one
  std::vector<std::int32_t> ids, types, positions, lengths{24, 17};
  for (int s = 0; s < batch; ++s)
    for (int t = 0; t < seq; ++t) {
      ids.push_back((s * 13 + t * 7) % 60);
      types.push_back(0);
      positions.push_back(t);
    }
  const GraphInput inputs[] = {{"tokens", ids}, {"token_types", types}, {"positions", positions}, {"lengths", lengths}};
  const Tensor& want = a.run({seq, 0, false, batch}, inputs);
  const std::vector<float> expected(want.data<float>(), want.data<float>() + want.numel());
  const Tensor& got = b.run({seq, 0, false, batch}, inputs);
  EXPECT_EQ(std::vector<float>(got.data<float>(), got.data<float>() + got.numel()), expected);
}

}  // namespace
}  // namespace octet
