// One-shot pruning of matmul weights, no retraining: zeroes chosen by a score,
// row by row (per output channel).
//
//   2:4           in every group of 4 consecutive weights of a row (4 input
//                 channels), the 2 with the lowest scores become 0: half the
//                 weights, in the pattern sparse kernels can skip.
//   unstructured  in every row, the round(fraction * columns) lowest scores.
//
// Scores: magnitude |w|, or Wanda's |w| * ||X_j|| (Sun et al., 2023), ||X_j||
// being the L2 norm of input channel j over calibration text
// (engine/quant/calibration.h). Ties go to the lower column: the order is
// (score, column), so the choice is the same on every machine.
#pragma once

#include "engine/core/tensor.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

enum class SparsityPattern { Dense, TwoFour, Unstructured };
enum class PruneMethod { Magnitude, Wanda };

struct PruneRecipe {
  SparsityPattern pattern = SparsityPattern::Dense;
  double fraction = 0.5;  // unstructured: the share of each row zeroed
  PruneMethod method = PruneMethod::Magnitude;
  // Weights whose name contains one of these stay dense (the head, by default:
  // pruning it costs the most and saves the least of a decoder's time).
  std::vector<std::string> keep_dense = {"lm_head"};
  bool prunes(std::string_view weight_name) const;
};

// "2:4", or a fraction in (0, 1) ("0.5") for unstructured; nullopt otherwise.
std::optional<PruneRecipe> sparsity_from_name(std::string_view name);
std::optional<PruneMethod> prune_method_from_name(std::string_view name);  // magnitude, wanda
std::string_view prune_method_name(PruneMethod method);
// "2:4", or "50% unstructured".
std::string sparsity_name(const PruneRecipe& recipe);

// Zeroes the pruned weights of `w` [rows, cols] (float32) in place.
// `input_norms` (Wanda): cols values, ||X_j|| per input channel. Throws
// octet::Error when 2:4 meets a row length that is not a multiple of 4, or
// the norms do not fit.
void prune_matrix(Tensor& w, const PruneRecipe& recipe, std::span<const float> input_norms = {});

// Whether every group of 4 in every row of `w` [rows, cols] (float32 or int8,
// cols a multiple of 4) holds at least 2 zeros. Stops at the first group that
// does not, so a dense weight costs next to nothing. False for a weight held
// in a backend's packed form (its bytes are not rows).
bool holds_two_four(const Tensor& w);

}  // namespace octet
