// The CPU backend's dense int8 matmul with per-token activations, end to
// end (activation quantization, the product, the scales and the bias) for
// prefill-sized inputs: the kernels' own tests cover their pieces.
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/backend_harness.h"
#include "tests/kernels/cpu/reference_util.h"

#include <gtest/gtest.h>

namespace octet {
namespace {

TEST(CpuInt8Matmul, PrefillProductsEqualTheReference) {
  // A batch of BERT-base's rows against a small weight, a wider weight, and
  // K and N that are not multiples of 16 or 64.
  struct Case {
    std::int64_t m, k, n;
  };
  for (const auto& [m, k, n] : {Case{1100, 64, 768}, Case{300, 40, 2000}, Case{70, 1573, 1001}}) {
    const auto x = test::random_floats(static_cast<std::size_t>(m * k), 5);
    const auto bias = test::random_floats(static_cast<std::size_t>(n), 6);
    const Tensor w = quantize_weight(test::tensor_of(test::random_floats(static_cast<std::size_t>(n * k), 7), {n, k}),
                                     QuantScheme::Int8);
    auto backend = make_cpu_backend(0);
    const auto got =
        test::run_node(*backend, OpKind::MatMul,
                       {{test::tensor_of(x, {m, k})}, {w, ValueKind::Weight}, {test::tensor_of(bias, {n})}}, {m, n});
    // Exact int32 products; the scales and the bias add three float roundings.
    EXPECT_LT(test::max_relative_error(got.output, test::int8_product_reference(x, m, k, w, bias)), 1e-6)
        << m << " x " << k << " x " << n;
  }
}

}  // namespace
}  // namespace octet
