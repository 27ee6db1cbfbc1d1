// The CUDA backend against the CPU backend and float64 references. Every test
// here needs a GPU and skips itself, saying so, where there is none (CI has
// none; bench/cuda/device_check.sh runs them on the GPU machine).
#include "kernels/cuda/cuda_backend.h"
#include "engine/core/dtype.h"
#include "engine/core/executor.h"
#include "engine/quant/quant.h"
#include "engine/session/encoder_session.h"
#include "engine/session/generation_session.h"
#include "engine/session/sampler.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_devices.h"
#include "models/registry.h"
#include "tests/kernels/backend_harness.h"
#include "tests/kernels/cpu/reference_util.h"
#include "tests/kernels/fp8_reference.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <tuple>

namespace octet {
namespace {

#define OCTET_REQUIRE_GPU(var)                                                                               \
  std::string octet_why_;                                                                                    \
  if (cuda::list_devices(&octet_why_).empty()) {                                                             \
    GTEST_SKIP() << "no CUDA GPU on this machine (" << octet_why_ << "); CUDA tests run on the GPU machine"; \
  }                                                                                                          \
  auto var = make_cuda_backend(0)

double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  return test::max_relative_error(got, std::vector<double>(want.begin(), want.end()));
}

// Elementwise and row ops differ from the CPU only by float rounding (expf
// against std::exp, reduction order): 1e-5 of the output's scale.
constexpr double kOpTolerance = 1e-5;

using Shape3 = std::tuple<int, int, int>;  // M, K, N

TEST(CudaOps, RowOpsMatchTheCpuBackend) {
  OCTET_REQUIRE_GPU(gpu);
  auto cpu = make_cpu_backend(0);
  const int rows = 5, dim = 96;
  const Tensor x = test::tensor_of(test::random_floats(rows * dim, 1), {rows, dim});
  const Tensor x2 = test::tensor_of(test::random_floats(rows * dim, 2), {rows, dim});
  const Tensor w = test::tensor_of(test::random_floats(dim, 3), {dim});
  const auto both = [&](OpKind op, std::vector<test::NodeInput> in, Shape out, NodeParams p, int pos) {
    const auto a = test::run_node(*cpu, op, in, out, p, pos, 64);
    const auto b = test::run_node(*gpu, op, in, out, p, pos, 64);
    return relative_error(b.output, a.output);
  };
  EXPECT_LT(both(OpKind::RmsNorm, {{x}, {w, ValueKind::Weight}}, {rows, dim}, {.eps = 1e-5f}, 0), kOpTolerance);
  EXPECT_LT(both(OpKind::SiluMul, {{x}, {x2}}, {rows, dim}, {}, 0), kOpTolerance);
  EXPECT_LT(both(OpKind::Add, {{x}, {x2}}, {rows, dim}, {}, 0), kOpTolerance);
  EXPECT_EQ(both(OpKind::LastRows, {{x}}, {1, dim}, {}, 0), 0.0);
  const Tensor x6 = test::tensor_of(test::random_floats(6 * dim, 5), {6, dim});
  EXPECT_EQ(both(OpKind::LastRows, {{x6}}, {3, dim}, {}, 0), 0.0) << "the last of each of 3 sequences' 2 rows";
  // Two sequences of three tokens, each at positions 37..39.
  EXPECT_LT(both(OpKind::Rope, {{x6}}, {6, dim}, {.rope_theta = 1e4, .head_dim = 32, .batch = 2}, 37), kOpTolerance);
  for (RopeLayout layout : {RopeLayout::HalfSplit, RopeLayout::Interleaved}) {
    const NodeParams p{.rope_theta = 10000.0, .rope_layout = layout, .head_dim = 32};
    EXPECT_LT(both(OpKind::Rope, {{x}}, {rows, dim}, p, 37), kOpTolerance) << static_cast<int>(layout);
  }
  // Embedding rows are copies.
  const Tensor table = test::tensor_of(test::random_floats(11 * dim, 4), {11, dim});
  Tensor ids = Tensor::zeros(DType::I32, {4});
  const std::int32_t id_values[] = {3, 0, 10, 3};
  std::copy(id_values, id_values + 4, ids.data_mut<std::int32_t>());
  EXPECT_EQ(both(OpKind::Embedding, {{table, ValueKind::Weight}, {ids}}, {4, dim}, {}, 0), 0.0);
}

// The encoder's ops: the CPU's float arithmetic up to the order of sums
// (LayerNorm's and the pooling's sums in double on both), copies exact.
TEST(CudaOps, EncoderOpsMatchTheCpuBackend) {
  OCTET_REQUIRE_GPU(gpu);
  auto cpu = make_cpu_backend(0);
  const int rows = 6, dim = 96;
  std::vector<float> values = test::random_floats(rows * dim, 31, 3.0f);
  for (int c = 0; c < dim; ++c) values[static_cast<std::size_t>(c)] += 1000.0f;  // a row far from zero
  const Tensor x = test::tensor_of(values, {rows, dim});
  const Tensor w = test::tensor_of(test::random_floats(dim, 32), {dim});
  const Tensor b = test::tensor_of(test::random_floats(dim, 33), {dim});
  Tensor lengths = Tensor::zeros(DType::I32, {2});
  lengths.data_mut<std::int32_t>()[0] = 3;
  lengths.data_mut<std::int32_t>()[1] = 1;
  const auto both = [&](OpKind op, std::vector<test::NodeInput> in, Shape out, NodeParams p = {}) {
    const auto want = test::run_node(*cpu, op, in, out, p);
    return relative_error(test::run_node(*gpu, op, in, out, p).output, want.output);
  };
  EXPECT_LT(
      both(OpKind::LayerNorm, {{x}, {w, ValueKind::Weight}, {b, ValueKind::Weight}}, {rows, dim}, {.eps = 1e-12f}),
      kOpTolerance);
  for (const OpKind op : {OpKind::Gelu, OpKind::GeluTanh, OpKind::Tanh, OpKind::Relu}) {
    EXPECT_LT(both(op, {{x}}, {rows, dim}), kOpTolerance) << op_name(op);
  }
  EXPECT_EQ(both(OpKind::FirstRows, {{x}}, {2, dim}), 0.0) << "the first of each of 2 sequences' 3 rows";
  EXPECT_LT(both(OpKind::MeanRows, {{x}, {lengths}}, {2, dim}), kOpTolerance) << "3 rows, then 1";
  std::vector<float> with_zero_row = test::random_floats(rows * dim, 34);
  std::fill_n(with_zero_row.begin() + dim, dim, 0.0f);
  EXPECT_LT(both(OpKind::L2Normalize, {{test::tensor_of(with_zero_row, {rows, dim})}}, {rows, dim}), kOpTolerance);
}

// Sequences padded to seq_len, each attending to its own first lengths[b]
// rows, over one and several of the CPU's 32-row blocks.
TEST(CudaOps, MaskedAttentionMatchesTheCpuBackend) {
  OCTET_REQUIRE_GPU(gpu);
  auto cpu = make_cpu_backend(0);
  const int heads = 3;
  for (const int hd : {32, 64, 132}) {
    for (const auto& [seq_len, lens] :
         {std::pair{7, std::vector<std::int32_t>{7, 3, 1}}, {130, std::vector<std::int32_t>{130, 65}}}) {
      const int batch = static_cast<int>(lens.size()), rows = batch * seq_len;
      const Tensor q = test::tensor_of(test::random_floats(rows * heads * hd, 35), {rows, heads * hd});
      const Tensor k = test::tensor_of(test::random_floats(rows * heads * hd, 36), {rows, heads * hd});
      const Tensor v = test::tensor_of(test::random_floats(rows * heads * hd, 37), {rows, heads * hd});
      Tensor lengths = Tensor::zeros(DType::I32, {batch});
      std::copy(lens.begin(), lens.end(), lengths.data_mut<std::int32_t>());
      const NodeParams p{.head_dim = hd, .n_heads = heads};
      const std::vector<test::NodeInput> in{{q}, {k}, {v}, {lengths}};
      const auto a = test::run_node(*cpu, OpKind::MaskedAttention, in, {rows, heads * hd}, p);
      const auto g = test::run_node(*gpu, OpKind::MaskedAttention, in, {rows, heads * hd}, p);
      EXPECT_LT(relative_error(g.output, a.output), kOpTolerance) << "head_dim " << hd << ", " << seq_len << " rows";
    }
  }
}

// A matmul's bias (BERT's linears) is added after the product on every path:
// the GEMV, cuBLASLt writing the output, and a padded product; bf16 and FP8.
TEST(CudaOps, MatmulBiasIsAddedOnEveryPath) {
  OCTET_REQUIRE_GPU(gpu);
  for (const auto& [m, k, n] : {Shape3{1, 64, 40}, Shape3{16, 100, 23}, Shape3{40, 64, 96}}) {
    for (const QuantScheme scheme : {QuantScheme::F32, QuantScheme::Fp8}) {
      if (scheme == QuantScheme::Fp8 && !gpu->supports(OpKind::MatMul, DType::F8E4M3)) continue;
      const Tensor x = test::tensor_of(test::random_floats(static_cast<std::size_t>(m * k), 38), {m, k});
      const Tensor w =
          quantize_weight(test::tensor_of(test::random_floats(static_cast<std::size_t>(n * k), 39), {n, k}), scheme);
      const std::vector<float> bias = test::random_floats(static_cast<std::size_t>(n), 40);
      const auto plain = test::run_node(*gpu, OpKind::MatMul, {{x}, {w, ValueKind::Weight}}, {m, n});
      const auto biased = test::run_node(
          *gpu, OpKind::MatMul, {{x}, {w, ValueKind::Weight}, {test::tensor_of(bias, {n}), ValueKind::Weight}}, {m, n});
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          const auto at = static_cast<std::size_t>(i * n + j);
          ASSERT_EQ(biased.output[at], plain.output[at] + bias[static_cast<std::size_t>(j)])
              << quant_scheme_name(scheme) << " " << m << "x" << k << "x" << n << " at " << i << ", " << j;
        }
    }
  }
}

// 6 query heads over 2 key/value heads, a cache already holding `pos` rows.
// Head widths: 40 (not a multiple of the warp; tiled prefill with 4 lanes a
// query), 96 (8 lanes a query) and 132 (wider than the tiled kernel takes).
class CudaAttentionTest : public ::testing::TestWithParam<int> {};

TEST_P(CudaAttentionTest, MatchesTheCpuBackendInPrefillAndDecode) {
  OCTET_REQUIRE_GPU(gpu);
  auto cpu = make_cpu_backend(0);
  const int heads = 6, kv_heads = 2, hd = GetParam(), n_ctx = 300;
  // Decode (one token, split over the keys) at the first and a later position, and
  // prefill over one and several tiles of 32 queries and keys.
  for (const auto& [tokens, pos] : {std::pair{7, 0}, {1, 250}, {1, 0}, {3, 4}, {70, 0}, {40, 100}}) {
    const Tensor q = test::tensor_of(test::random_floats(tokens * heads * hd, 5), {tokens, heads * hd});
    const Tensor k = test::tensor_of(test::random_floats(tokens * kv_heads * hd, 6), {tokens, kv_heads * hd});
    const Tensor v = test::tensor_of(test::random_floats(tokens * kv_heads * hd, 7), {tokens, kv_heads * hd});
    const Tensor kc = test::tensor_of(test::random_floats(n_ctx * kv_heads * hd, 8), {n_ctx, kv_heads * hd});
    const Tensor vc = test::tensor_of(test::random_floats(n_ctx * kv_heads * hd, 9), {n_ctx, kv_heads * hd});
    const NodeParams p{.head_dim = hd, .n_heads = heads, .n_kv_heads = kv_heads};
    const std::vector<test::NodeInput> in{{q}, {k}, {v}, {kc, ValueKind::State}, {vc, ValueKind::State}};
    const auto a = test::run_node(*cpu, OpKind::Attention, in, {tokens, heads * hd}, p, pos, n_ctx);
    const auto b = test::run_node(*gpu, OpKind::Attention, in, {tokens, heads * hd}, p, pos, n_ctx);
    EXPECT_LT(relative_error(b.output, a.output), kOpTolerance) << tokens << " tokens at " << pos;
    for (int s = 0; s < 2; ++s) {
      const auto* want = a.state_after[static_cast<std::size_t>(s)].data<float>();
      const auto* got = b.state_after[static_cast<std::size_t>(s)].data<float>();
      EXPECT_TRUE(std::equal(got, got + n_ctx * kv_heads * hd, want)) << "cache " << s << " after appending";
    }
  }
}

// An FP8 cache of `rows` rows: random floats, each head's slice quantized
// as the CPU stores it ({codes, scales}).
std::pair<Tensor, Tensor> fp8_cache(int rows, int kv_heads, int hd, std::uint32_t seed) {
  const auto x = test::random_floats(static_cast<std::size_t>(rows * kv_heads * hd), seed);
  Tensor codes = Tensor::zeros(DType::F8E4M3, {rows, kv_heads * hd});
  Tensor scales = Tensor::zeros(DType::F32, {rows, kv_heads});
  for (int i = 0; i < rows * kv_heads; ++i) {
    scales.data_mut<float>()[i] =
        quantize_row_fp8(x.data() + static_cast<std::ptrdiff_t>(i) * hd, hd, codes.data_mut<std::uint8_t>() + i * hd);
  }
  return {codes, scales};
}

// The FP8 KV cache (--kv-cache fp8) on every attention path (decode split
// over the keys, tiled prefill, the one-block-per-query fallback at 132),
// one sequence and three: the GPU stores the new rows' codes and scales bit
// for bit as the CPU does (the same float arithmetic), and reads the values
// they stand for: outputs as close as for a float cache.
TEST_P(CudaAttentionTest, Fp8CacheMatchesTheCpuBackend) {
  OCTET_REQUIRE_GPU(gpu);
  auto cpu = make_cpu_backend(0);
  const int heads = 6, kv_heads = 2, hd = GetParam(), n_ctx = 300;
  for (const int batch : {1, 3}) {
    for (const auto& [tokens, pos] : {std::pair{1, 0}, {1, 250}, {7, 0}, {40, 100}}) {
      const int rows = batch * tokens, cache_rows = batch * n_ctx;
      const Tensor q = test::tensor_of(test::random_floats(rows * heads * hd, 31), {rows, heads * hd});
      const Tensor k = test::tensor_of(test::random_floats(rows * kv_heads * hd, 32, 4.0f), {rows, kv_heads * hd});
      const Tensor v = test::tensor_of(test::random_floats(rows * kv_heads * hd, 33, 0.1f), {rows, kv_heads * hd});
      const auto [kc, ks] = fp8_cache(cache_rows, kv_heads, hd, 34);
      const auto [vc, vs] = fp8_cache(cache_rows, kv_heads, hd, 35);
      const NodeParams p{.head_dim = hd, .n_heads = heads, .n_kv_heads = kv_heads, .batch = batch};
      const std::vector<test::NodeInput> in{{q},
                                            {k},
                                            {v},
                                            {kc, ValueKind::State},
                                            {vc, ValueKind::State},
                                            {ks, ValueKind::State},
                                            {vs, ValueKind::State}};
      const auto a = test::run_node(*cpu, OpKind::Attention, in, {rows, heads * hd}, p, pos, n_ctx);
      const auto b = test::run_node(*gpu, OpKind::Attention, in, {rows, heads * hd}, p, pos, n_ctx);
      EXPECT_LT(relative_error(b.output, a.output), kOpTolerance)
          << "batch " << batch << ", " << tokens << " tokens at " << pos;
      for (int s = 0; s < 4; ++s) {
        const Tensor& want = a.state_after[static_cast<std::size_t>(s)];
        const Tensor& got = b.state_after[static_cast<std::size_t>(s)];
        const auto* w = static_cast<const std::uint8_t*>(want.raw());
        EXPECT_TRUE(std::equal(w, w + want.nbytes(), static_cast<const std::uint8_t*>(got.raw())))
            << (s < 2 ? "codes" : "scales") << " of cache " << s % 2 << ", batch " << batch << ", " << tokens
            << " tokens at " << pos;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(HeadDims, CudaAttentionTest, ::testing::Values(40, 96, 132));

// Three sequences in one step (batched decode and prefill), each with its own
// cache rows holding different histories, against the CPU backend.
TEST(CudaOps, BatchedAttentionMatchesTheCpuBackend) {
  OCTET_REQUIRE_GPU(gpu);
  auto cpu = make_cpu_backend(0);
  const int heads = 4, kv_heads = 2, batch = 3, n_ctx = 120;
  for (const int hd : {40, 96, 132}) {
    for (const auto& [tokens, pos] : {std::pair{1, 0}, {1, 90}, {5, 30}, {40, 20}}) {
      const int rows = batch * tokens;
      const Tensor q = test::tensor_of(test::random_floats(rows * heads * hd, 21), {rows, heads * hd});
      const Tensor k = test::tensor_of(test::random_floats(rows * kv_heads * hd, 22), {rows, kv_heads * hd});
      const Tensor v = test::tensor_of(test::random_floats(rows * kv_heads * hd, 23), {rows, kv_heads * hd});
      const int cache_rows = batch * n_ctx;
      const Tensor kc =
          test::tensor_of(test::random_floats(cache_rows * kv_heads * hd, 24), {cache_rows, kv_heads * hd});
      const Tensor vc =
          test::tensor_of(test::random_floats(cache_rows * kv_heads * hd, 25), {cache_rows, kv_heads * hd});
      const NodeParams p{.head_dim = hd, .n_heads = heads, .n_kv_heads = kv_heads, .batch = batch};
      const std::vector<test::NodeInput> in{{q}, {k}, {v}, {kc, ValueKind::State}, {vc, ValueKind::State}};
      const auto a = test::run_node(*cpu, OpKind::Attention, in, {rows, heads * hd}, p, pos, n_ctx);
      const auto b = test::run_node(*gpu, OpKind::Attention, in, {rows, heads * hd}, p, pos, n_ctx);
      EXPECT_LT(relative_error(b.output, a.output), kOpTolerance)
          << "head_dim " << hd << ", " << tokens << " at " << pos;
      for (int c = 0; c < 2; ++c) {
        const auto* want = a.state_after[static_cast<std::size_t>(c)].data<float>();
        const auto* got = b.state_after[static_cast<std::size_t>(c)].data<float>();
        EXPECT_TRUE(std::equal(got, got + cache_rows * kv_heads * hd, want)) << "cache " << c << ", head_dim " << hd;
      }
    }
  }
}

// The device's Argmax against the CPU's (octet::argmax): rows of odd widths
// and of a 32000-token vocabulary, with planted ties (the first wins), NaNs
// (which never win), a row of -inf (0) and a row of NaNs only (-1).
TEST(CudaOps, ArgmaxMatchesTheCpuBackend) {
  OCTET_REQUIRE_GPU(gpu);
  auto cpu = make_cpu_backend(0);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const int cols : {1, 7, 1000, 32000}) {
    const int rows = 4;
    auto x = test::random_floats(static_cast<std::size_t>(rows * cols), 41);
    const auto at = [&](int r, int c) -> float& { return x[static_cast<std::size_t>(r * cols + c)]; };
    at(0, cols - 1) = 50.0f;  // row 0: a tie between the last column and, where there is one, column cols / 2
    at(0, cols / 2) = 50.0f;
    at(1, 0) = nan;  // row 1: NaNs around a maximum
    at(1, cols - 1) = nan;
    for (int c = 0; c < cols; ++c) at(2, c) = -inf;
    for (int c = 0; c < cols; ++c) at(3, c) = nan;  // row 3: NaNs only, -1
    const std::vector<test::NodeInput> in{{test::tensor_of(x, {rows, cols})}};
    const auto ids = [&](Backend& b) {
      const auto run = test::run_node(b, OpKind::Argmax, in, {rows});
      std::vector<std::int32_t> out(static_cast<std::size_t>(rows));
      std::memcpy(out.data(), run.output.data(), out.size() * sizeof(std::int32_t));  // i32 bits, carried as floats
      return out;
    };
    const std::vector<std::int32_t> want = ids(*cpu);
    EXPECT_EQ(want[0], cols / 2);
    EXPECT_EQ(want[2], 0);
    EXPECT_EQ(want[3], -1);
    EXPECT_EQ(ids(*gpu), want) << cols << " columns";
  }
}

class CudaMatmulTest : public ::testing::TestWithParam<Shape3> {};

// FP8 against the float64 product of the same E4M3 values, on every path:
// octet's GEMV (M <= 8 where the codes fit in shared memory: 1, 2, 3, 8,
// with partial blocks of rows and of K), cuBLASLt with its own per-token and
// per-channel scales (N a multiple of 16: 40 x 64 x 96, 256 x 2048 x 96,
// 64 x 4096 x 256) and cuBLASLt with octet's scaling of a padded product
// (16 x 257 x 7, 40 x 100 x 23). The products are exact, but Hopper's FP8 MMA adds them
// with about 14 mantissa bits (as the DeepSeek-V3 report measured; cuBLASLt
// and the GEMV promote to float32 between blocks of K): measured here 1.1e-4
// to 1.8e-4 of the output's scale at K = 64..2048. The bound, 2^-11 =
// 4.9e-4, leaves 2.7x; a wrong index or scale is off by far more.
TEST_P(CudaMatmulTest, Fp8MatchesFloat64ProductOfTheSameQuantizedValues) {
  OCTET_REQUIRE_GPU(gpu);
  const auto [m, k, n] = GetParam();
  const auto x = test::random_floats(static_cast<std::size_t>(m * k), 11, 3.0f);
  const Tensor w = quantize_weight(test::tensor_of(test::random_floats(static_cast<std::size_t>(n * k), 12), {n, k}),
                                   QuantScheme::Fp8);
  const std::vector<test::NodeInput> in{{test::tensor_of(x, {m, k})}, {w, ValueKind::Weight}};
  const auto got = test::run_node(*gpu, OpKind::MatMul, in, {m, n});
  const double tolerance = std::ldexp(1.0, -11);
  EXPECT_LT(test::max_relative_error(got.output, test::fp8_reference_product(x, m, k, w)), tolerance);
  // And the CPU's emulation of the same numerics agrees.
  auto cpu = make_cpu_backend(0);
  EXPECT_LT(relative_error(got.output, test::run_node(*cpu, OpKind::MatMul, in, {m, n}).output), tolerance);
}

// bf16 (float weights on the GPU) against float64 of the bf16-rounded values;
// bf16 tensor cores accumulate in float32.
TEST_P(CudaMatmulTest, Bf16MatchesFloat64ProductOfTheRoundedValues) {
  OCTET_REQUIRE_GPU(gpu);
  const auto [m, k, n] = GetParam();
  const auto x = test::random_floats(static_cast<std::size_t>(m * k), 13);
  const auto w = test::random_floats(static_cast<std::size_t>(n * k), 14);
  const auto got = test::run_node(
      *gpu, OpKind::MatMul, {{test::tensor_of(x, {m, k})}, {test::tensor_of(w, {n, k}), ValueKind::Weight}}, {m, n});
  const auto bf16 = [](float v) { return static_cast<double>(bf16_to_f32(f32_to_bf16(v))); };
  std::vector<double> want(static_cast<std::size_t>(m * n));
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int p = 0; p < k; ++p)
        acc += bf16(x[static_cast<std::size_t>(i * k + p)]) * bf16(w[static_cast<std::size_t>(j * k + p)]);
      want[static_cast<std::size_t>(i * n + j)] = acc;
    }
  EXPECT_LT(test::max_relative_error(got.output, want), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaMatmulTest,
                         ::testing::Values(Shape3{1, 100, 130}, Shape3{16, 257, 7}, Shape3{3, 64, 172},
                                           Shape3{256, 2048, 96}, Shape3{1, 2048, 520}, Shape3{8, 4096, 40},
                                           Shape3{2, 11008, 37}, Shape3{40, 64, 96}, Shape3{40, 100, 23},
                                           Shape3{64, 4096, 256}));

TEST(CudaBackend, UploadsEachWeightOnce) {
  OCTET_REQUIRE_GPU(gpu);
  const Tensor w = quantize_weight(test::tensor_of(test::random_floats(64 * 32, 15), {64, 32}), QuantScheme::Fp8);
  const Tensor a = gpu->prepare_weight(w, OpKind::MatMul), b = gpu->prepare_weight(w, OpKind::MatMul);
  EXPECT_EQ(a.raw(), b.raw());
  EXPECT_EQ(a.device(), Device::Cuda);
  EXPECT_EQ(a.dtype(), DType::F8E4M3);
}

std::vector<std::int32_t> greedy_ids(const Model& model, const Placement& placement, int n) {
  Executor executor(model, placement, n + 1);
  std::vector<std::int32_t> ids{model.info().bos_id};
  for (int pos = 0; pos < n; ++pos) {
    const Tensor& logits = executor.forward(std::span(&ids.back(), 1), pos, false);
    const float* row = logits.data<float>();
    ids.push_back(static_cast<std::int32_t>(std::max_element(row, row + logits.dim(1)) - row));
  }
  return ids;
}

struct Comparison {
  double max_relative_error = 0;  // over all rows, relative to each row's largest logit
  double top1_agreement = 0;      // fraction of rows with the same argmax
};

// Logits of `ids` as one prompt on two backends (or two models), row by row.
Comparison compare_logits(const Model& a_model, const Placement& a, const Model& b_model, const Placement& b,
                          std::span<const std::int32_t> ids) {
  const auto n = static_cast<int>(ids.size());
  Executor ea(a_model, a, n), eb(b_model, b, n);
  const Tensor& ta = ea.forward(ids, 0, true);
  const std::vector<float> la(ta.data<float>(), ta.data<float>() + ta.numel());
  const Tensor& tb = eb.forward(ids, 0, true);
  const std::int64_t vocab = tb.dim(1);
  Comparison c;
  for (int r = 0; r < n; ++r) {
    const float* x = la.data() + r * vocab;
    const float* y = tb.data<float>() + r * vocab;
    double err = 0, scale = 1e-30;
    for (std::int64_t j = 0; j < vocab; ++j) {
      err = std::max(err, std::abs(static_cast<double>(x[j]) - y[j]));
      scale = std::max(scale, std::abs(static_cast<double>(x[j])));
    }
    c.max_relative_error = std::max(c.max_relative_error, err / scale);
    c.top1_agreement += (std::max_element(x, x + vocab) - x) == (std::max_element(y, y + vocab) - y);
  }
  c.top1_agreement /= n;
  return c;
}

// Issue 5's end-to-end check, on stories260K.
// bf16 (float weights on the GPU) has no activation quantization, so the GPU
// follows the CPU's float model within bf16 rounding and makes its choices
// wherever they are not near-ties.
// FP8 cannot match the CPU's FP8 path token for token: quantizing activations
// to E4M3 turns any difference in the last bits of a sum (and the GPU's FP8
// accumulation has ~14 bits) into a whole E4M3 step (6%) wherever a value sits
// near a rounding boundary, and those steps spread through the layers. Measured:
// the first 20 greedy tokens agree, then a near-tie flips. So the check is that
// GPU FP8 differs from CPU FP8 by no more than FP8 differs from float: the same
// noise, not a bug (a wrong kernel is off by far more).
TEST(CudaBackend, Stories260KMatchesTheCpuInBf16AndFp8) {
  OCTET_REQUIRE_GPU(gpu);
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  const auto f32 = models::builtin_registry().load_model(checkpoint);
  const auto fp8 = models::builtin_registry().load_model(checkpoint, {QuantRecipe{QuantScheme::Fp8, {}}});
  auto cpu = make_cpu_backend(0);
  const auto ids = greedy_ids(*f32, *cpu, 200);
  const Comparison bf16 = compare_logits(*f32, *cpu, *f32, *gpu, ids);
  EXPECT_LT(bf16.max_relative_error, 0.02) << "bf16 rounding of weights and activations";
  EXPECT_GT(bf16.top1_agreement, 0.97);

  const Comparison quantization = compare_logits(*f32, *cpu, *fp8, *cpu, ids);  // what FP8 costs
  const Comparison backends = compare_logits(*fp8, *cpu, *fp8, *gpu, ids);      // CPU FP8 against GPU FP8
  EXPECT_LT(backends.max_relative_error, 2 * quantization.max_relative_error);
  EXPECT_GT(backends.top1_agreement, 0.9);
  EXPECT_GT(backends.top1_agreement, quantization.top1_agreement - 0.05);
}

// Greedy generation takes the argmax on the GPU (only ids come back, in
// recorded decode steps): the same tokens as the argmax of the logits the
// GPU sends back, bf16 and FP8.
TEST(CudaBackend, GreedyGenerationPicksOnTheGpuWhatTheLogitsSay) {
  OCTET_REQUIRE_GPU(gpu);
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  for (const QuantScheme scheme : {QuantScheme::F32, QuantScheme::Fp8}) {
    const auto model = models::builtin_registry().load_model(checkpoint, {QuantRecipe{scheme, {}}});
    const auto want = greedy_ids(*model, *gpu, 100);  // logits to the host, argmax there
    GenerationSession session(*model, *gpu, 101);
    Sampler sampler({.temperature = 0.0f}, model->info().vocab_size);
    std::vector<std::int32_t> got{model->info().bos_id};
    session.generate(std::span(got).first(1), 100, sampler, [&](std::int32_t id) {
      got.push_back(id);
      return true;
    });
    const std::size_t n = std::min(got.size(), want.size());  // generation stops at EOS
    EXPECT_EQ(std::vector<std::int32_t>(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(n)),
              std::vector<std::int32_t>(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(n)))
        << quant_scheme_name(scheme);
    EXPECT_GT(n, 20u);
  }
}

// --gpu-layers 3 --quant fp8 --cpu-quant int8: FP8 blocks on the GPU, int8
// blocks and head on the CPU. The split follows the CPU running the same
// mixed model as closely as GPU FP8 follows CPU FP8 (within the noise the
// 8-bit schemes themselves add).
TEST(CudaBackend, SplitWithInt8OnTheCpuMatchesTheCpu) {
  OCTET_REQUIRE_GPU(gpu);
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");  // 5 blocks
  QuantRecipe recipe{QuantScheme::Fp8, {}};
  recipe.rest_from = 3;
  recipe.rest_scheme = QuantScheme::Int8;
  const auto f32 = models::builtin_registry().load_model(checkpoint);
  const auto mixed = models::builtin_registry().load_model(checkpoint, {recipe});
  auto cpu = make_cpu_backend(0);
  const auto ids = greedy_ids(*f32, *cpu, 200);
  const Comparison quantization = compare_logits(*f32, *cpu, *mixed, *cpu, ids);
  const Comparison split = compare_logits(*mixed, *cpu, *mixed, Placement(*gpu, 3, *cpu), ids);
  EXPECT_LT(split.max_relative_error, 2 * quantization.max_relative_error);
  EXPECT_GT(split.top1_agreement, 0.9);
}

// The FP8 KV cache through the whole model: on the GPU, bf16 weights with
// an FP8 cache follow the CPU's float model with the same cache as closely
// as bf16 alone follows float (the codes agree wherever the bf16 rounding of
// a key does not cross an E4M3 boundary, and a crossing is one 6% step of one
// value), and closer than the cache itself moves the model.
TEST(CudaBackend, Stories260KWithAnFp8KvCacheMatchesTheCpu) {
  OCTET_REQUIRE_GPU(gpu);
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  LoadOptions options;
  options.kv_cache = DType::F8E4M3;
  const auto f32 = models::builtin_registry().load_model(checkpoint);
  const auto kv8 = models::builtin_registry().load_model(checkpoint, options);
  auto cpu = make_cpu_backend(0);
  const auto ids = greedy_ids(*kv8, *cpu, 200);
  const Comparison cache_cost = compare_logits(*f32, *cpu, *kv8, *cpu, ids);  // what the FP8 cache costs
  const Comparison backends = compare_logits(*kv8, *cpu, *kv8, *gpu, ids);
  EXPECT_LT(backends.max_relative_error, cache_cost.max_relative_error);
  EXPECT_GT(backends.top1_agreement, 0.95);
  // Decode steps (the split kernel over the cache the earlier steps wrote)
  // against the GPU's own prefill of the same ids (the tiled kernel).
  Executor prefill(*kv8, *gpu, 64), steps(*kv8, *gpu, 64);
  const Tensor& all = prefill.forward(std::span(ids.data(), 64), 0, true);
  const std::vector<float> rows(all.data<float>(), all.data<float>() + all.numel());
  const std::int64_t vocab = all.dim(1);
  for (int pos = 0; pos < 64; ++pos) {
    const Tensor& step = steps.forward(std::span(ids.data() + pos, 1), pos, false);
    const std::vector<float> got(step.data<float>(), step.data<float>() + vocab);
    const std::vector<float> want(rows.begin() + pos * vocab, rows.begin() + (pos + 1) * vocab);
    EXPECT_LT(relative_error(got, want), cache_cost.max_relative_error) << "step " << pos;
  }
}

// --gpu-layers: the first blocks on the GPU, the rest on the CPU. Each node
// computes as it does on its backend alone, so a split follows the CPU's float
// model as closely as the whole GPU does (bf16 rounding), and FP8 as closely
// as the whole GPU's FP8 does. Decoding through a split (recorded GPU steps,
// the hidden state crossing every token) picks the tokens that the split's own
// prefill logits pick, but for near-ties between the two paths' roundings.
TEST(CudaBackend, SplitBetweenTheGpuAndTheCpuMatchesTheCpu) {
  OCTET_REQUIRE_GPU(gpu);
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");  // 5 blocks
  const auto f32 = models::builtin_registry().load_model(checkpoint);
  const auto fp8 = models::builtin_registry().load_model(checkpoint, {QuantRecipe{QuantScheme::Fp8, {}}});
  auto cpu = make_cpu_backend(0);
  const auto ids = greedy_ids(*f32, *cpu, 200);
  EXPECT_EQ(compare_logits(*f32, *cpu, *f32, Placement(*gpu, 0, *cpu), ids).max_relative_error, 0.0)
      << "no block on the GPU: the CPU alone";
  const Comparison quantization = compare_logits(*f32, *cpu, *fp8, *cpu, ids);
  for (const int blocks : {1, 3, 5}) {
    const Placement split(*gpu, blocks, *cpu);
    const Comparison bf16 = compare_logits(*f32, *cpu, *f32, split, ids);
    EXPECT_LT(bf16.max_relative_error, 0.02) << blocks << " blocks on the GPU";
    EXPECT_GT(bf16.top1_agreement, 0.97) << blocks << " blocks on the GPU";
    const Comparison fp8_split = compare_logits(*fp8, *cpu, *fp8, split, ids);
    EXPECT_LT(fp8_split.max_relative_error, 2 * quantization.max_relative_error) << blocks << " blocks, FP8";
    EXPECT_GT(fp8_split.top1_agreement, 0.9) << blocks << " blocks, FP8";

    const int n = 40;
    const auto decoded = greedy_ids(*f32, split, n);
    Executor prefill(*f32, split, n);
    const Tensor& logits = prefill.forward(std::span(decoded).first(n), 0, true);
    int agree = 0;
    for (int t = 0; t < n; ++t) {
      const float* row = logits.data<float>() + static_cast<std::int64_t>(t) * logits.dim(1);
      agree += std::max_element(row, row + logits.dim(1)) - row == decoded[static_cast<std::size_t>(t) + 1];
    }
    EXPECT_GE(agree, n - 4) << blocks << " blocks: decoded tokens against the split's own prefill";
  }
}

// The shipped sst2-mini classifier (BERT) on the GPU: bf16 weights and
// activations follow the CPU's float logits within bf16 rounding and give
// every text the same label; FP8 differs from CPU FP8 by no more than FP8
// differs from float. Padding (texts of different lengths in one batch) is
// masked on the GPU as on the CPU.
TEST(CudaBackend, Sst2MiniClassifiesAsTheCpu) {
  OCTET_REQUIRE_GPU(gpu);
  const std::string path = test::project_dir() + "/assets/models/sst2-mini";
  const auto tokenizer = load_tokenizer_for(path, "");
  const TokenizerConfig config = read_tokenizer_config(path);
  auto cpu = make_cpu_backend(0);
  const std::vector<std::string> texts{"a charming and often affecting journey .", "unflinchingly bleak and desperate",
                                       "the acting is terrible and the plot is worse .",
                                       "one of the best films of the year , funny and moving", "fine"};
  const auto classify = [&](const Model& model, const Placement& placement) {
    EncoderSession session(model, placement, *tokenizer, config);
    std::vector<FramedText> framed;
    for (const auto& t : texts) framed.push_back(session.frame(t));
    std::vector<float> flat;
    for (const auto& row : session.run(framed, 8)) flat.insert(flat.end(), row.begin(), row.end());
    return flat;
  };
  const auto f32 = models::builtin_registry().load_model(path);
  const std::vector<float> want = classify(*f32, *cpu), got = classify(*f32, *gpu);
  EXPECT_LT(relative_error(got, want), 0.02) << "bf16 rounding";
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(got[2 * i] > got[2 * i + 1], want[2 * i] > want[2 * i + 1]) << texts[i];
  }
  if (!gpu->supports(OpKind::MatMul, DType::F8E4M3)) return;
  const auto fp8 = models::builtin_registry().load_model(path, {QuantRecipe{QuantScheme::Fp8, {}}});
  const std::vector<float> cpu_fp8 = classify(*fp8, *cpu);
  EXPECT_LT(relative_error(classify(*fp8, *gpu), cpu_fp8), 2 * relative_error(cpu_fp8, want));
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

// Continuous batching on the GPU: sequences prefilled into their own cache
// slots, then decoded together at their own positions (the slot and position
// arrays the kernels read), get the logits each gets alone on the GPU. Only
// the matmuls' row counts differ: bf16 GEMMs of other shapes, float rounding.
TEST(CudaBackend, MixedPositionsAndSlotsEqualEachSequenceAlone) {
  OCTET_REQUIRE_GPU(gpu);
  for (const QuantScheme scheme : {QuantScheme::F32, QuantScheme::Fp8}) {
    const auto model = models::builtin_registry().load_model(test::shipped_model(), {QuantRecipe{scheme, {}}});
    const std::int64_t vocab = model->info().vocab_size;
    const int n_ctx = 32;
    const std::vector<std::vector<std::int32_t>> prompts{{1, 2, 3, 4, 5, 6, 7}, {1, 9}, {1, 11, 12, 13}};
    const int slots[] = {2, 0, 1};
    std::vector<std::vector<float>> alone;  // each sequence's logits after its prompt and one more token
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      Executor executor(*model, *gpu, n_ctx);
      executor.forward(prompts[b], 0, false);
      const std::int32_t next = 40 + static_cast<std::int32_t>(b);
      const Tensor& out = executor.forward(std::span(&next, 1), static_cast<int>(prompts[b].size()), false);
      alone.emplace_back(out.data<float>(), out.data<float>() + vocab);
    }
    Executor executor(*model, *gpu, n_ctx, 3);
    ASSERT_TRUE(executor.runs_mixed_steps());
    std::vector<std::int32_t> tokens;
    std::vector<SequenceStep> sequences;
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      const SequenceStep first{slots[b], 0};
      executor.forward_sequences(prompts[b], std::span(&first, 1));
      tokens.push_back(40 + static_cast<std::int32_t>(b));
      sequences.push_back({slots[b], static_cast<int>(prompts[b].size())});
    }
    const Tensor& out = executor.forward_sequences(tokens, sequences);
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      const std::vector<float> got(out.data<float>() + static_cast<std::int64_t>(b) * vocab,
                                   out.data<float>() + static_cast<std::int64_t>(b + 1) * vocab);
      EXPECT_LT(relative_error(got, alone[b]), 1e-3) << quant_scheme_name(scheme) << " sequence " << b;
    }
  }
}

}  // namespace
}  // namespace octet
