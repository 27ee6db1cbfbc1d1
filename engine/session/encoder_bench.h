// Timing of an encoder: batches of `batch` sequences of `seq_len` tokens
// (no padding), as sentences per second. Token ids are fixed pseudo-random
// values: tokenization is left out. One untimed warm-up precedes the
// repetitions.
#pragma once

#include "engine/core/model.h"
#include "engine/core/node_profile.h"
#include "engine/core/placement.h"

#include <vector>

namespace octet {

struct EncoderBenchRequest {
  int batch = 32;
  int seq_len = 128;
  int repetitions = 5;
  NodeProfile* profile = nullptr;  // where not null, the timed repetitions' nodes are timed into it
};

// Sentences per second, one per repetition.
std::vector<double> run_encoder_bench(const Model& model, const Placement& placement,
                                      const EncoderBenchRequest& request);

}  // namespace octet
