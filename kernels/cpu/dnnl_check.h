// The one way oneDNN failures become octet::Error: C statuses through
// OCTET_DNNL_STATUS, C++ API calls (which throw dnnl::error) through OCTET_DNNL_CHECK.
#pragma once

#include "engine/core/error.h"

#include <oneapi/dnnl/dnnl.hpp>

#define OCTET_DNNL_STATUS(call)                                                                                        \
  do {                                                                                                                 \
    const dnnl_status_t octet_dnnl_status_ = (call);                                                                   \
    if (octet_dnnl_status_ != dnnl_success) {                                                                          \
      ::octet::fail("oneDNN: {} failed with status {} ({}:{})", #call, static_cast<int>(octet_dnnl_status_), __FILE__, \
                    __LINE__);                                                                                         \
    }                                                                                                                  \
  } while (0)

#define OCTET_DNNL_CHECK(statement)                                                      \
  do {                                                                                   \
    try {                                                                                \
      statement;                                                                         \
    } catch (const dnnl::error& octet_dnnl_error_) {                                     \
      ::octet::fail("oneDNN: {} ({}:{})", octet_dnnl_error_.what(), __FILE__, __LINE__); \
    }                                                                                    \
  } while (0)
