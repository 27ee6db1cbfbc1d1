// Calibration: what the activations of a float model look like on sample
// text, and the three things octet derives from it.
//
// Static int8 activation scales: one per matmul input, max|x| / 127 over the
// calibration text, instead of a scale per token computed at run time.
//
// SmoothQuant (Xiao et al., 2023): activations have a few channels with large
// values that ruin per-token int8 scales; weights do not. Dividing activation
// channel j by s_j and multiplying weight column j by s_j changes nothing in
// float (x W^T = (x / s)(W * s)^T), and when the division is folded into the
// preceding norm's weight it costs nothing at run time:
//   s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha),
// with max|X_j| measured on calibration text. alpha = 0 leaves activations
// alone; 1 moves all their range into the weights.
//
// Wanda's activation norms (engine/quant/pruning.h): ||X_j||, the L2 norm of
// input channel j of each matmul over every calibration token.
#pragma once

#include "engine/core/backend.h"
#include "engine/core/model.h"

#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace octet {

// Per input channel of one matmul: the largest |x| it saw, and the sum of x^2.
struct ChannelStats {
  std::vector<float> max_abs;
  std::vector<double> sum_squares;
};
// By weight name.
using ActivationStats = std::map<std::string, ChannelStats>;

// Runs `model` (float) over `tokens` in windows of n_ctx (each opened by BOS,
// at most max_windows, 0 = all) and records each matmul input's channel statistics.
ActivationStats measure_activation_stats(const Model& model, Backend& backend, std::span<const std::int32_t> tokens,
                                         int n_ctx, int max_windows,
                                         const std::function<void(int, int)>& progress = {});

// Static per-tensor int8 activation scales, by weight name (LoadOptions::input_scales).
std::map<std::string, float> static_input_scales(const ActivationStats& stats);

// ||X_j|| per input channel, by weight name (LoadOptions::input_norms, for Wanda).
std::map<std::string, std::vector<float>> activation_norms(const ActivationStats& stats);

// The factors for every norm of model.smoothable(), by norm weight name, ready
// for LoadOptions::smoothing. Channels that never saw a value, or whose
// weights are all zero, keep factor 1.
std::map<std::string, std::vector<float>> smoothing_factors(const Model& model, const ActivationStats& stats,
                                                            float alpha);

}  // namespace octet
