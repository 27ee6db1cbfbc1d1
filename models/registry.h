// Every model family octet knows, registered in one place.
#pragma once

#include "engine/io/model_registry.h"

namespace octet::models {

// A registry holding every built-in family and file format.
const ModelRegistry& builtin_registry();

}  // namespace octet::models
