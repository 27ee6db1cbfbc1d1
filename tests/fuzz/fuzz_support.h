// Shared by the fuzz targets. Each target feeds its bytes to one of octet's
// input readers; the only acceptable way to refuse them is octet::Error (the
// error the CLI prints, naming the file). Anything else escaping — a
// nlohmann or std::out_of_range exception, bad_alloc on a tiny input, a crash,
// a sanitizer report — is a finding.
#pragma once

#include "engine/core/error.h"

#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace octet::fuzz {

// A scratch directory of this process (fuzzers run one input at a time).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("octet-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

// Runs `body`, swallowing the one expected refusal.
template <typename Body>
void refuse_only_with_octet_error(Body&& body) {
  try {
    body();
  } catch (const octet::Error&) {
  }
}

// The source tree, for the fixed files some targets read (a vocabulary, a model).
inline std::filesystem::path source_dir() { return OCTET_SOURCE_DIR; }

}  // namespace octet::fuzz
