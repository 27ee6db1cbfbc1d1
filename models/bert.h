// BERT-family encoders as Hugging Face stores them: BERT, RoBERTa and
// DistilBERT, with a sequence-classification head (logits over id2label) or
// without one (a vector per sequence, pooled as LoadOptions::pooling says or
// as a sentence-transformers directory's modules say). Only description
// here: names, shapes and the graph.
#pragma once

#include "engine/core/model.h"
#include "engine/io/json_file.h"
#include "engine/io/model_registry.h"
#include "engine/io/safetensors.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace octet::models {

// Where make_bert finds tensors by Hugging Face name (a checkpoint, or random values).
struct BertWeights {
  std::function<bool(const std::string& name)> contains;
  std::function<Tensor(const std::string& name, const Shape& shape)> get;  // checks the shape
};

// What a sentence-transformers directory adds on top of the encoder
// (modules.json): its Pooling module's mode, and whether a Normalize module
// follows it.
struct SentenceTransformersModules {
  std::optional<Pooling> pooling;  // First (cls token) or Mean
  bool normalize = false;          // the vector is divided by its L2 norm
};
// Reads `model_dir`/modules.json and its Pooling module's config.json; empty
// when there is no modules.json. Modes octet does not run are refused.
SentenceTransformersModules read_sentence_transformers(const std::string& model_dir);

// Builds an encoder from a config.json (model_type bert, roberta or
// distilbert); matmul weights are quantized as `options.quant` says.
std::unique_ptr<Model> make_bert(const Json& config, const std::string& config_path, const BertWeights& weights,
                                 std::string source, const LoadOptions& options,
                                 const SentenceTransformersModules& modules = {});

// The loading path, registered for model_type bert, roberta and distilbert.
std::unique_ptr<Model> load_bert_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                    const LoadOptions& options);

}  // namespace octet::models
