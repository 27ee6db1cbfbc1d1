// The exceptions octet throws. Every message says what went wrong and where
// (the file, the tensor, the option, expected vs found); octet never exits or
// aborts on bad input.
#pragma once

#include "octet/export.h"

#include <stdexcept>

namespace octet {

class OCTET_EXPORT Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The prompt or conversation does not fit in the context window.
class OCTET_EXPORT ContextFullError : public Error {
 public:
  using Error::Error;
};

}  // namespace octet
