// Reading config.json-style files with errors that name the file and the key.
#pragma once

#include "engine/error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace octet {

using Json = nlohmann::json;

// Parses a JSON file; throws octet::Error naming the path if missing or malformed.
Json read_json_file(const std::string& path);

// `config[key]` as T, or an error naming the file, the key and what was found.
template <typename T>
T json_required(const Json& config, const std::string& key, const std::string& path) {
  if (!config.contains(key) || config[key].is_null()) fail("{}: missing required key '{}'", path, key);
  try {
    return config[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: key '{}' has the wrong type ({})", path, key, config[key].dump());
  }
}

template <typename T>
T json_optional(const Json& config, const std::string& key, T fallback, const std::string& path) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  return json_required<T>(config, key, path);
}

// A size read from `path` (a layer count, a dimension) must be positive.
inline void require_positive(std::int64_t value, const char* what, const std::string& path) {
  if (value <= 0) fail("{}: {} must be positive, found {}", path, what, value);
}

}  // namespace octet
