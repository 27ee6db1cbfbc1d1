// Reading config.json-style files with errors that name the file and the key.
#pragma once

#include "engine/core/error.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace octet {

using Json = nlohmann::json;

// Parses a JSON file; throws octet::Error naming the path if missing or malformed.
Json read_json_file(const std::string& path);

// Writes `j` to `path`, indented by 2; throws octet::Error naming the path
// where it cannot be written or a string in `j` is not valid UTF-8.
void write_json_file(const std::string& path, const Json& j);

namespace detail {
template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};
}  // namespace detail

// `value` as T, or nullopt when it does not hold a T. Numbers are checked,
// not converted blindly: nlohmann's get<int>() truncates 2.5 to 2, wraps 2^40
// and casts 1e300 to an integer, which is undefined behaviour.
template <typename T>
std::optional<T> json_as(const Json& value) {
  if constexpr (std::is_same_v<T, bool>) {
    if (value.is_boolean()) return value.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    // Unsigned first: read as int64, 2^64 - 1 would pass for -1.
    if (value.is_number_unsigned()) {
      if (std::in_range<T>(value.get<std::uint64_t>())) return static_cast<T>(value.get<std::uint64_t>());
    } else if (value.is_number_integer() && std::in_range<T>(value.get<std::int64_t>())) {
      return static_cast<T>(value.get<std::int64_t>());
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    // JSON numbers are finite; a double beyond T's range has no T value.
    if (value.is_number() && std::abs(value.get<double>()) <= std::numeric_limits<T>::max()) {
      return static_cast<T>(value.get<double>());
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (value.is_string()) return value.get<std::string>();
  } else if constexpr (detail::IsVector<T>::value) {
    if (!value.is_array()) return std::nullopt;
    T out;
    for (const auto& element : value) {
      auto converted = json_as<typename T::value_type>(element);
      if (!converted) return std::nullopt;
      out.push_back(std::move(*converted));
    }
    return out;
  } else {
    static_assert(std::is_same_v<T, Json>, "json_as: add the checks for this type");
    return value;
  }
  return std::nullopt;
}

// `config[key]` as T, or an error naming the file, the key and what was found.
template <typename T>
T json_required(const Json& config, const std::string& key, const std::string& path) {
  if (!config.is_object() || !config.contains(key) || config[key].is_null()) {
    fail("{}: missing required key '{}'", path, key);
  }
  auto value = json_as<T>(config[key]);
  if (!value) fail("{}: key '{}' has the wrong type or is out of range ({})", path, key, config[key].dump());
  return std::move(*value);
}

template <typename T>
T json_optional(const Json& config, const std::string& key, T fallback, const std::string& path) {
  if (!config.is_object() || !config.contains(key) || config[key].is_null()) return fallback;
  return json_required<T>(config, key, path);
}

// A size read from `path` (a layer count, a dimension) must be positive and
// fit in 31 bits, so that products of a few sizes (a weight's bytes, a layer
// stack) cannot overflow 64-bit arithmetic.
inline constexpr std::int64_t kMaxModelSize = 0x7fffffff;
inline void require_size(std::int64_t value, const char* what, const std::string& path) {
  if (value <= 0) fail("{}: {} must be positive, found {}", path, what, value);
  if (value > kMaxModelSize) fail("{}: {} is {}, larger than octet supports ({})", path, what, value, kMaxModelSize);
}

}  // namespace octet
