// Text classification and embeddings with an encoder (BERT, RoBERTa,
// DistilBERT), with the same results as `octet classify`.
//
// Thread safety: a Classifier may be used from many threads at once; their
// calls run one after another (each call batches its own texts).
#pragma once

#include "octet/export.h"

#include "octet/model.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace octet {

struct Classification {
  std::string label;  // the most likely class
  double score = 0;   // its probability
  // Every class with its probability, the most likely first.
  std::vector<std::pair<std::string, double>> probabilities;
};

class OCTET_EXPORT Classifier {
 public:
  // Loads the encoder and its tokenizer. Throws octet::Error naming the file
  // and what is wrong, or when the model is a decoder.
  explicit Classifier(const ModelOptions& options = {});
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;

  // Whether the model has a classification head (labels); without one it
  // gives embeddings only.
  bool has_head() const;
  // One result per text, in order, `batch` texts per forward pass (sorted by
  // length inside). Throws octet::Error naming the text (its index) that is
  // empty or not valid UTF-8, or when the model has no head.
  std::vector<Classification> classify(const std::vector<std::string>& texts, int batch = 32) const;
  // The model's raw output rows: class logits, or (without a head) the pooled embedding.
  std::vector<std::vector<float>> outputs(const std::vector<std::string>& texts, int batch = 32) const;

  const ModelSummary& summary() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet
