// octet's version; CMakeLists.txt reads it from here (the one place it is written).
#pragma once

#define OCTET_VERSION_MAJOR 0
#define OCTET_VERSION_MINOR 4
#define OCTET_VERSION_PATCH 0
#define OCTET_VERSION_STRING "0.4.0"
