// Sibling matmuls (a layer's q, k and v; its gate and up: matmuls of the same
// input) in a decode step run together in one parallel loop over all their
// weights' panels, or their packed 2:4 rows (CpuBackend::find_sibling_matmuls).
// Each product is the one it is alone, so a decode step gives the same
// logits, bit for bit, as an executor that keeps every value (which runs each
// matmul on its own).
#include "engine/core/executor.h"
#include "engine/quant/pruning.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemv_int8_panels.h"
#include "kernels/cpu/matmul_int8_dnnl.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <numeric>

namespace octet {
namespace {

// A 12-token prompt, then 4 decode steps: the same logits from a backend that
// groups siblings as from one whose executor keeps every value.
void expect_together_as_alone(const Model& model, const std::string& model_name) {
  auto together = make_cpu_backend(0), alone = make_cpu_backend(0);
  Executor a(model, *together, 64), b(model, *alone, 64);
  b.keep_every_value();
  std::vector<std::int32_t> prompt(12);
  std::iota(prompt.begin(), prompt.end(), 3);
  const auto logits = [](const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); };
  EXPECT_EQ(logits(a.forward(prompt, 0, true)), logits(b.forward(prompt, 0, true))) << model_name << ", prefill";
  for (int step = 0; step < 4; ++step) {
    const std::vector<std::int32_t> token{9 + step};
    EXPECT_EQ(logits(a.forward(token, 12 + step, false)), logits(b.forward(token, 12 + step, false)))
        << model_name << ", decode step " << step;
  }
}

TEST(SiblingMatmuls, DecodeStepsGiveWhatEachProductAloneGives) {
  if (cpu::MatmulInt8Dnnl(cpu::MatmulInt8Dnnl::Kernels::Brgemm).implementation(1, 288, 288) !=
      std::string("octet:gemv_panels_") + cpu::panels_form()) {
    GTEST_SKIP() << "decode does not run on the panels GEMV here (a CPU without VNNI)";
  }
  // qwen2-tiny: q/k/v biases, and matrices small enough that some run
  // on oneDNN's own layout (then each runs alone).
  for (const std::string& model_name : {std::string("synthetic:llama-15m"), test::test_data("qwen2-tiny")}) {
    const auto model =
        models::builtin_registry().load_model(model_name, LoadOptions{QuantRecipe{QuantScheme::Int8, {}}});
    expect_together_as_alone(*model, model_name);
  }
}

// 2:4 weights held as the backend's packed rows (every CPU): grouped up to
// 20 rows, so the 12-token prompt runs grouped too.
TEST(SiblingMatmuls, PrunedDecodeStepsGiveWhatEachProductAloneGives) {
  for (const std::string& model_name : {std::string("synthetic:llama-15m"), test::test_data("qwen2-tiny")}) {
    LoadOptions options{QuantRecipe{QuantScheme::Int8, {}}};
    options.prune = PruneRecipe{.pattern = SparsityPattern::TwoFour};
    const auto model = models::builtin_registry().load_model(model_name, options);
    ASSERT_GT(pack_matmul_weights(*model), 0u) << model_name;
    expect_together_as_alone(*model, model_name);
  }
}

}  // namespace
}  // namespace octet
