// What a decoder family (models/llama.cpp, ...) gives the engine: facts about
// the model and a function that builds its graph for a number of tokens.
#pragma once

#include "engine/graph.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace octet {

struct ModelInfo {
  std::string family;        // "llama"
  std::string architecture;  // "LlamaForCausalLM", or "llama2.c checkpoint"
  std::string source;        // the directory or file it came from
  std::int64_t vocab_size = 0;
  std::int64_t context_length = 0;  // max_position_embeddings
  std::int64_t n_layers = 0;
  std::int64_t hidden_size = 0;
  std::int32_t bos_id = -1;
  std::vector<std::int32_t> eos_ids;
  std::map<std::string, std::string> details;  // shown by `octet info`
};

struct GraphRequest {
  int n_tokens = 1;         // tokens fed in this step
  int n_ctx = 0;            // KV cache length
  bool all_logits = false;  // logits for every token, or only the last
};

class DecoderModel {
 public:
  virtual ~DecoderModel() = default;
  virtual const ModelInfo& info() const = 0;
  // Graph for one step; its output is logits [n_tokens or 1, vocab].
  virtual Graph build_graph(const GraphRequest& request) const = 0;
  // Every weight, for parameter and memory counts.
  virtual std::vector<std::pair<std::string, Tensor>> weights() const = 0;
  // The norms whose output feeds matmuls directly, with those matmuls'
  // weight names: where SmoothQuant can move scale (engine/calibration.h).
  struct NormFeeds {
    std::string norm;
    std::vector<std::string> linears;
  };
  virtual std::vector<NormFeeds> smoothable() const { return {}; }
};

}  // namespace octet
