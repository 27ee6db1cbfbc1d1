// Timing of one backend's matrix product alone, for the shapes that dominate
// a model (Llama-7B: 4096x4096, 11008x4096, 4096x11008) at several token
// counts M: what `octet bench --matmul` reports as TFLOP/s. Values are random
// (speed does not depend on them); the weight is quantized to the scheme first.
#pragma once

#include "engine/core/backend.h"
#include "engine/quant/quant.h"

#include <vector>

namespace octet {

struct MatmulBenchRequest {
  QuantScheme scheme = QuantScheme::F32;
  int m = 1, k = 4096, n = 4096;
  int repetitions = 20;
};

struct MatmulBenchResult {
  std::vector<double> seconds;  // per call, one entry per timed batch of calls
  double flops = 0;             // 2 m n k
  double tflops() const;        // flops over the median time, in 1e12/s
};

MatmulBenchResult run_matmul_bench(Backend& backend, const MatmulBenchRequest& request);

}  // namespace octet
