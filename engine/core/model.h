// What a model family (models/llama.cpp, models/bert.cpp, ...) gives the
// engine: facts about the model and a function that builds its graph for a
// step shape. Decoders map token ids to logits over the vocabulary, step by
// step over a KV cache; encoders map a padded batch of sequences to one row
// per sequence (class logits, or a pooled embedding).
#pragma once

#include "engine/core/graph.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace octet {

enum class ModelKind { Decoder, Encoder };

struct ModelInfo {
  ModelKind kind = ModelKind::Decoder;
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
  // Encoders: the names of the output rows' columns (config.json id2label);
  // empty when the output is an embedding.
  std::vector<std::string> labels;
  std::int32_t pad_id = 0;  // encoders: the id padded batches are filled with
};

struct GraphRequest {
  int n_tokens = 1;         // tokens fed in this step, per sequence (encoders: padded)
  int n_ctx = 0;            // KV cache length per sequence (encoders: the longest sequence allowed)
  bool all_logits = false;  // decoders: logits for every token, or only each sequence's last
  int batch = 1;            // sequences in the step (decoders: decoded together, at the same positions)
  // Decoders, without all_logits: each sequence's most likely next token
  // (i32 [batch], OpKind::Argmax) instead of its logits.
  bool argmax = false;
  // Decoders: the step's tokens, all sequences together, where they feed
  // different numbers (a ragged step; 0: batch * n_tokens). The graph's
  // rows are then these; StepContext says whose each is.
  int rows = 0;
  int total_rows() const { return rows > 0 ? rows : batch * n_tokens; }
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  // Graph for one step. Decoders: one input "tokens" i32 [batch * n_tokens]
  // (sequence after sequence); the output is logits [batch * n_tokens, vocab]
  // (all_logits) or [batch, vocab]; the KV cache is State [batch * n_ctx, ...]
  // per layer, sequence after sequence. Encoders: inputs "tokens",
  // "token_types" and "positions" i32 [batch * n_tokens] (sequence after
  // sequence, each padded to n_tokens) and "lengths" i32 [batch]; the output
  // is [batch, labels or hidden].
  virtual Graph build_graph(const GraphRequest& request) const = 0;
  // Every weight, for parameter and memory counts.
  virtual std::vector<std::pair<std::string, Tensor>> weights() const = 0;
  // Puts `replacement(name, weight)` in place of each weight, one after the
  // other, so that each old form can be freed before the next new one is
  // made: the same values in another form (a backend's packed copy, see
  // pack_matmul_weights in kernels/cpu/cpu_backend.h). A model without it
  // keeps its weights.
  using WeightReplacement = std::function<Tensor(const std::string& name, const Tensor& weight)>;
  virtual void replace_weights(const WeightReplacement& /*replacement*/) {}
  // The norms whose output feeds matmuls directly, with those matmuls'
  // weight names: where SmoothQuant can move scale (engine/quant/calibration.h).
  struct NormFeeds {
    std::string norm;
    std::vector<std::string> linears;
  };
  virtual std::vector<NormFeeds> smoothable() const { return {}; }
};

// A model whose weights are its own members, each named by
// Derived::visit_weights(self, f), which calls f(name, weight) for every
// weight in checkpoint order (self: Derived or const Derived): weights() and
// replace_weights() from that one list.
template <typename Derived>
class MemberWeightsModel : public Model {
 public:
  std::vector<std::pair<std::string, Tensor>> weights() const override {
    std::vector<std::pair<std::string, Tensor>> out;
    Derived::visit_weights(static_cast<const Derived&>(*this),
                           [&](const std::string& name, const Tensor& w) { out.emplace_back(name, w); });
    return out;
  }

  void replace_weights(const WeightReplacement& replacement) override {
    Derived::visit_weights(static_cast<Derived&>(*this),
                           [&](const std::string& name, Tensor& w) { w = replacement(name, w); });
  }
};

}  // namespace octet
