// Perplexity of a decoder over a token stream, and what a quantized copy of
// the model costs against it (mean KL divergence, top-1 agreement), like
// llama.cpp's perplexity / KLD modes.
//
// The stream is cut into windows of n_ctx tokens, each opened by BOS and
// followed by n_ctx - 1 tokens of text; every next-token prediction inside a
// window is scored. The standard error treats tokens as independent (they are
// not quite: neighbours share context), as llama.cpp does.
#pragma once

#include "engine/core/model.h"
#include "engine/core/placement.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

namespace octet {

struct ComparisonStats {
  double perplexity = 0;  // of the compared model
  double ppl_stderr = 0;
  double kld_mean = 0;  // mean over tokens of KL(base || compared), nats
  double kld_stderr = 0;
  double top1_agreement = 0;  // fraction of tokens where both pick the same argmax
};

struct PerplexityResult {
  std::int64_t tokens = 0;  // predictions scored
  int windows = 0;
  double nll_mean = 0;
  double perplexity = 0;
  double ppl_stderr = 0;
  std::optional<ComparisonStats> compare;
};

struct PerplexityRequest {
  int n_ctx = 0;        // window length, BOS included
  int max_windows = 0;  // 0 = as many as the text gives
  std::int32_t bos_id = 1;
};

// Called after each window with (done, total).
using ProgressCallback = std::function<void(int, int)>;

// `compared` (optional) runs on the same windows as `model`, on its own backend.
PerplexityResult measure_perplexity(const Model& model, const Placement& placement, std::span<const std::int32_t> text,
                                    const PerplexityRequest& request, const Model* compared,
                                    const Placement* compared_placement, const ProgressCallback& progress = {});

}  // namespace octet
