// One classifier output row as `octet classify` and `octet serve` report it:
// {"label", "score"} (the most likely class and its probability) and, with
// top_k > 0, "probs": the k most likely labels with their probabilities.
#pragma once

#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <vector>

namespace octet {

// The index of the most likely class (the first on ties).
int predicted_class(std::span<const float> logits);
nlohmann::ordered_json classification_json(std::span<const float> logits, const std::vector<std::string>& labels,
                                           int top_k);

}  // namespace octet
