#include "engine/quant/calibration.h"

#include "engine/core/error.h"
#include "engine/core/executor.h"

#include <algorithm>
#include <cmath>

namespace octet {

ActivationStats measure_activation_stats(const Model& model, Backend& backend, std::span<const std::int32_t> tokens,
                                         int n_ctx, int max_windows, const std::function<void(int, int)>& progress) {
  if (backend.device() != Device::Cpu) fail("activation ranges are measured on the CPU backend");
  if (n_ctx < 2) fail("calibration windows need at least 2 tokens, got {}", n_ctx);
  const std::size_t body = static_cast<std::size_t>(n_ctx) - 1;  // tokens after BOS per window
  int windows = static_cast<int>(tokens.size() / body);
  if (max_windows > 0) windows = std::min(windows, max_windows);
  if (windows == 0) fail("the calibration text has {} tokens: fewer than one window of {}", tokens.size(), n_ctx);
  Executor executor(model, backend, n_ctx);
  // Every matmul input is read after the step: none may be overwritten by a later value.
  executor.keep_every_value();
  ActivationStats stats;
  std::vector<std::int32_t> window(static_cast<std::size_t>(n_ctx));
  for (int w = 0; w < windows; ++w) {
    window[0] = model.info().bos_id;
    std::copy_n(tokens.begin() + static_cast<std::ptrdiff_t>(w * body), body, window.begin() + 1);
    executor.forward(window, 0, true);
    const Graph& graph = *executor.last_graph();
    for (const Node& node : graph.nodes()) {
      if (node.op != OpKind::MatMul) continue;
      const Tensor& x = graph.values()[node.inputs[0]].tensor;
      ChannelStats& c = stats[graph.values()[node.inputs[1]].name];
      const std::int64_t rows = x.dim(0), cols = x.dim(1);
      c.max_abs.resize(static_cast<std::size_t>(cols), 0.0f);
      c.sum_squares.resize(static_cast<std::size_t>(cols), 0.0);
      const float* v = x.data<float>();
      for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < cols; ++j) {
          const auto k = static_cast<std::size_t>(j);
          const float value = v[i * cols + j];
          c.max_abs[k] = std::max(c.max_abs[k], std::fabs(value));
          c.sum_squares[k] += double{value} * value;
        }
      }
    }
    if (progress) progress(w + 1, windows);
  }
  return stats;
}

std::map<std::string, float> static_input_scales(const ActivationStats& stats) {
  std::map<std::string, float> scales;
  for (const auto& [name, c] : stats) {
    const auto& channels = c.max_abs;
    const float absmax = channels.empty() ? 0.0f : *std::max_element(channels.begin(), channels.end());
    if (absmax > 0.0f) scales.emplace(name, absmax / 127.0f);  // an input that was always 0 stays dynamic
  }
  return scales;
}

std::map<std::string, std::vector<float>> activation_norms(const ActivationStats& stats) {
  std::map<std::string, std::vector<float>> norms;
  for (const auto& [name, c] : stats) {
    std::vector<float>& n = norms[name];
    for (const double s : c.sum_squares) n.push_back(static_cast<float>(std::sqrt(s)));
  }
  return norms;
}

std::map<std::string, std::vector<float>> smoothing_factors(const Model& model, const ActivationStats& stats,
                                                            float alpha) {
  if (!(alpha >= 0.0f && alpha <= 1.0f)) fail("--smooth alpha must be in [0, 1], got {}", alpha);
  std::map<std::string, Tensor> weights;
  for (const auto& [name, t] : model.weights()) weights.emplace(name, t);
  std::map<std::string, std::vector<float>> factors;
  for (const auto& feeds : model.smoothable()) {
    if (feeds.linears.empty()) continue;
    const auto range = stats.find(feeds.linears.front());
    if (range == stats.end()) fail("no activation range was measured for '{}'", feeds.linears.front());
    const std::vector<float>& act = range->second.max_abs;
    std::vector<float> w_max(act.size(), 0.0f);
    for (const auto& name : feeds.linears) {
      const auto it = weights.find(name);
      if (it == weights.end() || it->second.quant() != nullptr || it->second.dtype() != DType::F32) {
        fail("smoothing needs the float weight '{}'", name);
      }
      const Tensor& w = it->second;
      if (w.dim(1) != static_cast<std::int64_t>(act.size())) fail("'{}' does not read {} channels", name, act.size());
      for (std::int64_t r = 0; r < w.dim(0); ++r)
        for (std::int64_t c = 0; c < w.dim(1); ++c)
          w_max[static_cast<std::size_t>(c)] =
              std::max(w_max[static_cast<std::size_t>(c)], std::fabs(w.data<float>()[r * w.dim(1) + c]));
    }
    std::vector<float> s(act.size(), 1.0f);
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (act[j] > 0.0f && w_max[j] > 0.0f) {
        s[j] = static_cast<float>(std::pow(double{act[j]}, alpha) / std::pow(double{w_max[j]}, 1.0 - alpha));
      }
    }
    factors.emplace(feeds.norm, std::move(s));
  }
  return factors;
}

}  // namespace octet
