// OCTET_EXPORT marks the API's classes as liboctet's public interface: their
// type information is then one and the same in liboctet and in a program or
// module built with -fvisibility=hidden (a pybind11 module), so that an
// octet::Error thrown inside liboctet is caught as one outside it.
#pragma once

#define OCTET_EXPORT __attribute__((visibility("default")))
