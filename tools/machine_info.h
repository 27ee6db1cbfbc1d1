// Facts about this machine and build, for benchmark headers.
#pragma once

#include <cstddef>
#include <string>

namespace octet::cli {

std::string machine_description();  // "AMD EPYC, 2 cores, avx2 fma; int8 matmuls on ..."
std::string build_description();    // "git 1a2b3c4, Release, g++ 12.2"
int machine_cores();
std::size_t peak_rss_bytes();
// Resident memory now (VmRSS): with a model loaded and between runs, about
// what its weights take (plus the libraries and the backend's scratch).
std::size_t resident_bytes();

}  // namespace octet::cli
