// Llama-shaped models with seeded random weights, for benchmarking shapes
// nobody has downloaded: `synthetic:llama-110m`, or `synthetic:PATH/config.json`
// for any Llama config. Speed does not depend on the values.
#pragma once

#include "engine/core/model.h"
#include "engine/io/model_registry.h"

#include <memory>
#include <string>
#include <vector>

namespace octet::models {

// `spec` is what follows "synthetic:".
std::unique_ptr<Model> load_synthetic(const std::string& spec, const LoadOptions& options);
std::vector<std::string> synthetic_presets();

}  // namespace octet::models
