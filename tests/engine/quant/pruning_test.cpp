// Pruning against a float64 reference of the same rule (every score in
// double, the whole group or row sorted by (score, column) and the lowest
// zeroed), on matrices whose rows are not multiples of 16 and hold ties,
// zeros and negative values; the 2:4 pattern in every group; pruning at load
// before quantization; and what is refused.
#include "engine/quant/pruning.h"
#include "engine/io/model_registry.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

namespace octet {
namespace {

Tensor random_matrix(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Tensor w = Tensor::zeros(DType::F32, {rows, cols});
  float* v = w.data_mut<float>();
  for (std::int64_t i = 0; i < w.numel(); ++i) v[i] = normal(rng);
  // Ties: equal magnitudes of both signs, and zeros already in place.
  for (std::int64_t r = 0; r < rows; ++r) {
    v[r * cols + 1] = -v[r * cols];
    v[r * cols + cols - 1] = 0.0f;
    v[r * cols + cols / 2] = v[r * cols + 2];
  }
  return w;
}

// The reference: in each group of `width` columns, sort by (|w| * norm in double, column) and zero the lowest `count`.
std::vector<float> reference(const Tensor& w, int width, int count, const std::vector<float>& norms) {
  const std::int64_t rows = w.dim(0), cols = w.dim(1);
  std::vector<float> out(w.data<float>(), w.data<float>() + w.numel());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t g = 0; g < cols; g += width) {
      std::vector<std::pair<double, std::int64_t>> scored;
      for (std::int64_t j = g; j < g + width; ++j) {
        const double norm = norms.empty() ? 1.0 : static_cast<double>(norms[static_cast<std::size_t>(j)]);
        scored.emplace_back(std::abs(static_cast<double>(out[static_cast<std::size_t>(r * cols + j)])) * norm, j);
      }
      std::sort(scored.begin(), scored.end());
      for (int k = 0; k < count; ++k)
        out[static_cast<std::size_t>(r * cols + scored[static_cast<std::size_t>(k)].second)] = 0.0f;
    }
  }
  return out;
}

Tensor copy_of(const Tensor& w) {
  Tensor c = Tensor::zeros(DType::F32, w.shape());
  std::copy_n(w.data<float>(), w.numel(), c.data_mut<float>());
  return c;
}

void expect_equal(const Tensor& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.numel(), static_cast<std::int64_t>(want.size()));
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    ASSERT_EQ(got.data<float>()[i], want[static_cast<std::size_t>(i)]) << what << " at " << i;
  }
}

TEST(Pruning, TwoFourMagnitudeIsTheReferenceRule) {
  for (const auto& [rows, cols] : {std::pair{7, 20}, std::pair{3, 36}, std::pair{1, 4}}) {
    Tensor w = random_matrix(rows, cols, 11);
    const auto want = reference(w, 4, 2, {});
    prune_matrix(w, *sparsity_from_name("2:4"));
    expect_equal(w, want, "2:4 magnitude");
    EXPECT_TRUE(holds_two_four(w));
  }
  EXPECT_FALSE(holds_two_four(random_matrix(3, 12, 5))) << "a dense matrix is not 2:4";
}

TEST(Pruning, UnstructuredMagnitudeZeroesTheLowestShareOfEachRow) {
  for (const double fraction : {0.5, 0.3, 0.9}) {
    Tensor w = random_matrix(5, 23, 7);
    const int count = static_cast<int>(std::lround(fraction * 23));
    const auto want = reference(w, 23, count, {});
    PruneRecipe recipe = *sparsity_from_name(fmt::format("{}", fraction));
    EXPECT_EQ(recipe.pattern, SparsityPattern::Unstructured);
    prune_matrix(w, recipe);
    expect_equal(w, want, fmt::format("unstructured {}", fraction));
  }
}

TEST(Pruning, WandaWeighsEachColumnByItsActivationNorm) {
  Tensor w = random_matrix(6, 28, 3);
  std::vector<float> norms(28);
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> spread(0.01f, 50.0f);
  for (float& n : norms) n = spread(rng);
  norms[3] = norms[4];  // a tie through the norms too
  for (const std::string sparsity : {"2:4", "0.5"}) {
    Tensor pruned = copy_of(w);
    PruneRecipe recipe = *sparsity_from_name(sparsity);
    recipe.method = PruneMethod::Wanda;
    const auto want =
        recipe.pattern == SparsityPattern::TwoFour ? reference(w, 4, 2, norms) : reference(w, 28, 14, norms);
    prune_matrix(pruned, recipe, norms);
    expect_equal(pruned, want, "wanda " + sparsity);
    // The norms change the choice: magnitude alone picks other weights.
    Tensor by_magnitude = copy_of(w);
    prune_matrix(by_magnitude, *sparsity_from_name(sparsity));
    EXPECT_NE(std::memcmp(by_magnitude.raw(), pruned.raw(), pruned.nbytes()), 0);
  }
}

TEST(Pruning, RefusesWhatItCannotDo) {
  for (const char* bad : {"3:4", "1:2", "0", "1", "1.5", "-0.5", "half", "0.5x", ""}) {
    EXPECT_FALSE(sparsity_from_name(bad).has_value()) << bad;
  }
  EXPECT_FALSE(prune_method_from_name("sparsegpt").has_value());
  Tensor odd = random_matrix(2, 6, 1);
  EXPECT_CONTAINS(test::error_of([&] { prune_matrix(odd, *sparsity_from_name("2:4")); }), "multiple of 4");
  PruneRecipe wanda = *sparsity_from_name("0.5");
  wanda.method = PruneMethod::Wanda;
  Tensor w = random_matrix(2, 8, 1);
  EXPECT_CONTAINS(test::error_of([&] { prune_matrix(w, wanda, std::vector<float>(7, 1.0f)); }), "7 for 8 channels");
}

TEST(Pruning, AtLoadBeforeQuantizationAndNotTheHead) {
  LoadOptions options;
  options.quant.scheme = QuantScheme::Int8;
  options.prune = *sparsity_from_name("2:4");
  const auto model = models::builtin_registry().load_model(test::shipped_model(), options);
  int pruned = 0;
  for (const auto& [name, t] : model->weights()) {
    if (t.quant() == nullptr || t.quant()->scheme == QuantScheme::W8) continue;  // norms and the int8 embedding table
    const auto* q = t.data<std::int8_t>();
    std::int64_t zeros = 0;
    bool two_four = t.dim(1) % 4 == 0;
    for (std::int64_t g = 0; g < t.numel(); g += 4) {
      const int z = (q[g] == 0) + (q[g + 1] == 0) + (q[g + 2] == 0) + (q[g + 3] == 0);
      zeros += z;
      two_four = two_four && z >= 2;
    }
    if (name.find("lm_head") != std::string::npos) {
      EXPECT_LT(zeros, t.numel() / 4) << name << " stays dense";
    } else {
      EXPECT_TRUE(two_four) << name;
      ++pruned;
    }
  }
  EXPECT_EQ(pruned, 4 * 7) << "every matmul of the 4 blocks";
  LoadOptions wanda = options;
  wanda.prune.method = PruneMethod::Wanda;
  EXPECT_CONTAINS(test::error_of([&] { models::builtin_registry().load_model(test::shipped_model(), wanda); }),
                  "Wanda has no calibration norms for 'model.layers.0.self_attn.q_proj.weight'");
}

}  // namespace
}  // namespace octet
