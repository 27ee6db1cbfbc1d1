// Sibling matmuls (a layer's q, k and v; its gate and up: matmuls of the same
// input) in a decode step run together in one parallel loop over all their
// weights' panels (CpuBackend::find_sibling_matmuls). Each product is the
// one it is alone, so a decode step gives the same logits, bit for bit, as an
// executor that keeps every value (which runs each matmul on its own).
#include "engine/core/executor.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/matmul_int8_dnnl.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <numeric>

namespace octet {
namespace {

TEST(SiblingMatmuls, DecodeStepsGiveWhatEachProductAloneGives) {
  if (cpu::MatmulInt8Dnnl(cpu::MatmulInt8Dnnl::Kernels::Brgemm).implementation(1, 288, 288) !=
      "octet:gemv_panels_avx512_vnni") {
    GTEST_SKIP() << "decode does not run on the panels GEMV here (a CPU without AMX and AVX-512 VNNI)";
  }
  // qwen2-tiny: q/k/v biases, and matrices small enough that some run
  // on oneDNN's own layout (then each runs alone).
  for (const std::string& model_name : {std::string("synthetic:llama-15m"), test::test_data("qwen2-tiny")}) {
    const auto model =
        models::builtin_registry().load_model(model_name, LoadOptions{QuantRecipe{QuantScheme::Int8, {}}});
    auto together = make_cpu_backend(0), alone = make_cpu_backend(0);
    Executor a(*model, *together, 64), b(*model, *alone, 64);
    b.keep_every_value();
    std::vector<std::int32_t> prompt(12);
    std::iota(prompt.begin(), prompt.end(), 3);
    const auto logits = [](const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); };
    EXPECT_EQ(logits(a.forward(prompt, 0, true)), logits(b.forward(prompt, 0, true))) << "prefill";
    for (int step = 0; step < 4; ++step) {
      const std::vector<std::int32_t> token{9 + step};
      EXPECT_EQ(logits(a.forward(token, 12 + step, false)), logits(b.forward(token, 12 + step, false)))
          << model_name << ", decode step " << step;
    }
  }
}

}  // namespace
}  // namespace octet
