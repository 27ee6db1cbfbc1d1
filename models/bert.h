// BERT-family encoders as Hugging Face stores them: BERT, RoBERTa and
// DistilBERT, with a sequence-classification head (logits over id2label) or
// without one (the pooled embedding: BertModel's tanh pooler, else the first
// token's hidden state). Only description here: names, shapes and the graph.
#pragma once

#include "engine/json_file.h"
#include "engine/model.h"
#include "engine/model_registry.h"
#include "engine/safetensors.h"

#include <functional>
#include <memory>
#include <string>

namespace octet::models {

// Where make_bert finds tensors by Hugging Face name (a checkpoint, or random values).
struct BertWeights {
  std::function<bool(const std::string& name)> contains;
  std::function<Tensor(const std::string& name, const Shape& shape)> get;  // checks the shape
};

// Builds an encoder from a config.json (model_type bert, roberta or
// distilbert); matmul weights are quantized as `options.quant` says.
std::unique_ptr<Model> make_bert(const Json& config, const std::string& config_path, const BertWeights& weights,
                                 std::string source, const LoadOptions& options);

// The loading path, registered for model_type bert, roberta and distilbert.
std::unique_ptr<Model> load_bert_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                    const LoadOptions& options);

}  // namespace octet::models
