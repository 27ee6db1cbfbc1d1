// Timing of a decoder's two phases, as llama-bench measures them, for `batch`
// sequences processed together:
//  pp: each sequence's prompt of n_prompt tokens, all in one forward pass;
//  tg: n_gen tokens per sequence, decoded one step at a time after a
//      one-token prompt (a step gives every sequence its next token).
// Tokens per second count every sequence's tokens. Token ids are fixed
// pseudo-random values: tokenization and sampling are left out, but a tg step
// ends as greedy generation's do, with the backend's argmax (from a GPU only
// the ids come back). Every repetition follows one untimed warm-up of each test.
#pragma once

#include "engine/core/model.h"
#include "engine/core/node_profile.h"
#include "engine/core/placement.h"

#include <cstdint>
#include <vector>

namespace octet {

struct DecoderBenchRequest {
  int n_prompt = 512;
  int n_gen = 128;
  int repetitions = 5;
  int batch = 1;
  // Where not null, the timed repetitions' nodes are timed into them (pp and tg apart).
  NodeProfile* pp_profile = nullptr;
  NodeProfile* tg_profile = nullptr;
};

struct DecoderBenchResult {
  std::vector<double> pp_tokens_per_second;  // one per repetition
  std::vector<double> ttft_ms;               // per repetition: the -p token prompt pass until the first token's logits
  std::vector<double> tg_tokens_per_second;
  std::vector<double> tg_token_ms;      // every decode step of every repetition (a token of each sequence)
  std::size_t decode_weight_bytes = 0;  // matmul weights (and scales) read per decode step, whatever the batch
};

DecoderBenchResult run_decoder_bench(const Model& model, const Placement& placement,
                                     const DecoderBenchRequest& request);

}  // namespace octet
