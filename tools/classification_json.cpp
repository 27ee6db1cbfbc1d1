#include "tools/classification_json.h"

#include "engine/session/encoder_session.h"

#include <algorithm>
#include <numeric>

namespace octet {

int predicted_class(std::span<const float> logits) {
  return static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

nlohmann::ordered_json classification_json(std::span<const float> logits, const std::vector<std::string>& labels,
                                           int top_k) {
  const std::vector<double> p = softmax(logits);
  const auto best = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
  nlohmann::ordered_json o = {{"label", labels[best]}, {"score", p[best]}};
  if (top_k > 0) {
    std::vector<std::size_t> order(p.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
    o["probs"] = nlohmann::ordered_json::array();
    for (std::size_t k = 0; k < std::min<std::size_t>(static_cast<std::size_t>(top_k), order.size()); ++k) {
      o["probs"].push_back({{"label", labels[order[k]]}, {"prob", p[order[k]]}});
    }
  }
  return o;
}

}  // namespace octet
