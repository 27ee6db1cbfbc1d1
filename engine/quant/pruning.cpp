#include "engine/quant/pruning.h"

#include "engine/core/error.h"
#include "engine/quant/quant.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

namespace octet {

bool PruneRecipe::prunes(std::string_view weight_name) const {
  if (pattern == SparsityPattern::Dense) return false;
  return std::none_of(keep_dense.begin(), keep_dense.end(), [&](const std::string& part) {
    return !part.empty() && weight_name.find(part) != std::string_view::npos;
  });
}

std::optional<PruneRecipe> sparsity_from_name(std::string_view name) {
  PruneRecipe r;
  if (name == "2:4") {
    r.pattern = SparsityPattern::TwoFour;
    return r;
  }
  double fraction = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fraction);
  if (ec != std::errc() || end != name.data() + name.size() || !(fraction > 0.0 && fraction < 1.0)) {
    return std::nullopt;
  }
  r.pattern = SparsityPattern::Unstructured;
  r.fraction = fraction;
  return r;
}

std::optional<PruneMethod> prune_method_from_name(std::string_view name) {
  if (name == "magnitude") return PruneMethod::Magnitude;
  if (name == "wanda") return PruneMethod::Wanda;
  return std::nullopt;
}

std::string_view prune_method_name(PruneMethod method) { return method == PruneMethod::Wanda ? "wanda" : "magnitude"; }

std::string sparsity_name(const PruneRecipe& recipe) {
  switch (recipe.pattern) {
    case SparsityPattern::Dense:
      return "dense";
    case SparsityPattern::TwoFour:
      return "2:4";
    case SparsityPattern::Unstructured:
      return fmt::format("{:g}% unstructured", 100.0 * recipe.fraction);
  }
  return "dense";
}

namespace {

// Zeroes the `count` lowest-scored of `width` weights starting at `w` (the
// scores of the same columns at `score`), lowest (score, column) first.
void zero_lowest(float* w, const double* score, int width, int count, std::vector<int>& order) {
  order.resize(static_cast<std::size_t>(width));
  std::iota(order.begin(), order.end(), 0);
  const auto before = [&](int a, int b) { return score[a] < score[b] || (score[a] == score[b] && a < b); };
  std::nth_element(order.begin(), order.begin() + count, order.end(), before);
  for (int i = 0; i < count; ++i) w[order[static_cast<std::size_t>(i)]] = 0.0f;
}

}  // namespace

void prune_matrix(Tensor& w, const PruneRecipe& recipe, std::span<const float> input_norms) {
  if (w.dtype() != DType::F32 || w.rank() != 2) fail("pruning needs a float32 matrix");
  const std::int64_t rows = w.dim(0), cols = w.dim(1);
  if (recipe.pattern == SparsityPattern::Dense) return;
  if (recipe.pattern == SparsityPattern::TwoFour && cols % 4 != 0) {
    fail("2:4 sparsity needs rows of a multiple of 4 weights, not {}", cols);
  }
  const bool wanda = recipe.method == PruneMethod::Wanda;
  if (wanda && static_cast<std::int64_t>(input_norms.size()) != cols) {
    fail("Wanda needs one activation norm per input channel: {} for {} channels", input_norms.size(), cols);
  }
  const int zeroed = recipe.pattern == SparsityPattern::TwoFour
                         ? 2
                         : static_cast<int>(std::lround(recipe.fraction * static_cast<double>(cols)));
  const int width = recipe.pattern == SparsityPattern::TwoFour ? 4 : static_cast<int>(cols);
  float* data = w.data_mut<float>();
#pragma omp parallel
  {
    // In double, |w| * ||X_j|| is exact: the order cannot depend on rounding.
    std::vector<double> score(static_cast<std::size_t>(cols));
    std::vector<int> order;
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      float* row = data + r * cols;
      for (std::int64_t j = 0; j < cols; ++j) {
        score[static_cast<std::size_t>(j)] =
            std::fabs(double{row[j]}) * (wanda ? double{input_norms[static_cast<std::size_t>(j)]} : 1.0);
      }
      for (std::int64_t g = 0; g < cols; g += width) zero_lowest(row + g, score.data() + g, width, zeroed, order);
    }
  }
}

namespace {

template <typename T>
bool groups_hold_two_zeros(const T* v, std::int64_t n) {
  // Blocks of 256 groups without an early exit inside: a loop the compiler vectorizes.
  constexpr std::int64_t kBlock = 4 * 256;
  for (std::int64_t b = 0; b < n; b += kBlock) {
    int fewest = 4;
    for (std::int64_t g = b; g < std::min(b + kBlock, n); g += 4) {
      fewest =
          std::min(fewest, int{v[g] == T{0}} + int{v[g + 1] == T{0}} + int{v[g + 2] == T{0}} + int{v[g + 3] == T{0}});
    }
    if (fewest < 2) return false;
  }
  return true;
}

}  // namespace

bool holds_two_four(const Tensor& w) {
  if (w.rank() != 2 || w.dim(1) % 4 != 0) return false;
  if (w.quant() != nullptr && (w.quant()->packed_panels || w.quant()->packed_two_four)) return false;  // not rows
  if (w.dtype() == DType::F32) return groups_hold_two_zeros(w.data<float>(), w.numel());
  if (w.dtype() == DType::I8) return groups_hold_two_zeros(w.data<std::int8_t>(), w.numel());
  return false;
}

}  // namespace octet
