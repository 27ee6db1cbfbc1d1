// The exceptions (octet::Error, ContextFullError) are the public API's own
// (include/octet/error.h): what the engine throws is what a library user
// catches. Messages say what went wrong and where (file, tensor name,
// expected vs found); only tools/ turns them into exit codes.
#pragma once

#include "octet/error.h"

#include <fmt/format.h>

#include <string>
#include <utility>

namespace octet {

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace octet
