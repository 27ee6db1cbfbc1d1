// The one GGUF reader (llama.cpp's single-file format, versions 2 and 3).
// The file is memory-mapped and everything in its header is validated before
// it is trusted: magic and version, counts bounded by the bytes that could
// hold them, string and array lengths inside the file, tensor dimensions,
// types, offsets (aligned, inside the data section, not overlapping).
// Tensors are dequantized to float32 on request (gguf_dequant.h).
#pragma once

#include "engine/core/tensor.h"
#include "engine/io/gguf_dequant.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace octet {

// One metadata value. Integers of every width become int64 (u64 above 2^63 is
// refused); arrays hold one of these kinds.
struct GgufValue {
  using Array =
      std::variant<std::vector<std::int64_t>, std::vector<double>, std::vector<std::string>, std::vector<bool>>;
  std::variant<std::int64_t, double, bool, std::string, Array> value;
};

struct GgufTensorInfo {
  std::string name;
  Shape shape;  // row-major, outermost first: ggml's ne[] reversed ([rows, cols] for a matrix)
  GgmlType type;
  std::size_t offset;  // bytes from the start of the file
  std::size_t nbytes;
};

class GgufFile {
 public:
  // Throws octet::Error naming the path and what is wrong.
  explicit GgufFile(const std::string& path);

  const std::string& path() const;
  std::uint32_t version() const { return version_; }

  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  // Typed metadata reads; each throws naming the key and the file when the
  // key is absent or of another type.
  std::string get_string(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;  // a float, or an integer
  bool get_bool(const std::string& key) const;
  const std::vector<std::string>& get_strings(const std::string& key) const;
  const std::vector<std::int64_t>& get_ints(const std::string& key) const;
  const std::vector<double>& get_floats(const std::string& key) const;
  std::optional<std::string> find_string(const std::string& key) const;
  std::optional<std::int64_t> find_int(const std::string& key) const;
  std::optional<bool> find_bool(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // The tensor as float32 (owned), whatever its stored type; the file's
  // pages of its stored bytes are given back (MappedFile::release_pages).
  Tensor dequantize(const GgufTensorInfo& info) const;

 private:
  const GgufValue& get(const std::string& key, const char* type) const;
  std::shared_ptr<const MappedFile> file_;
  std::uint32_t version_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;  // tensor name -> position in tensors_
};

// True when `path` names a GGUF file (by its extension; the reader checks the magic).
bool is_gguf_path(const std::string& path);

}  // namespace octet
