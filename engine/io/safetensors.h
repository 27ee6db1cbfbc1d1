// The one safetensors reader and writer. Files are memory-mapped and every
// header is validated before a byte of tensor data is touched: offsets inside
// the file, sizes equal to dtype x shape, no two tensors overlapping.
#pragma once

#include "engine/core/tensor.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace octet {

struct SafetensorsEntry {
  std::string name;
  DType dtype;  // meaningless where `foreign_dtype` is set
  // A safetensors dtype octet does not compute with ("I64", "BOOL", ...):
  // such a tensor (a buffer like BERT's position_ids) is validated and
  // skipped; only reading it is an error.
  std::string foreign_dtype;
  Shape shape;
  std::size_t begin;  // byte offsets relative to the start of the data section
  std::size_t end;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const;
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  // A zero-copy view; throws if `name` is not in this file or has a foreign dtype.
  Tensor tensor(const std::string& name) const;
  // The values of a small integer tensor (I64, I32 or U8; I64 is foreign to
  // octet's tensors), such as compressed-tensors' `*.shape`.
  std::vector<std::int64_t> integers(const std::string& name) const;

 private:
  const SafetensorsEntry* find(const std::string& name) const;
  std::shared_ptr<const MappedFile> file_;
  std::size_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;  // sorted by name
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint directory: `model.safetensors`, or the shards
// listed in `model.safetensors.index.json`. A weight stored in
// compressed-tensors' sparse-24-bitmask form (NAME.compressed, NAME.bitmask,
// NAME.shape; engine/io/sparse24_bitmask.h) is also found as NAME.weight,
// decompressed when read.
class WeightStore {
 public:
  static WeightStore open_dir(const std::string& dir);
  explicit WeightStore(std::vector<std::string> files);

  bool contains(const std::string& name) const;
  Tensor get(const std::string& name) const;
  // Checks the shape and names tensor and file in the error.
  Tensor get(const std::string& name, const Shape& expected) const;
  std::vector<std::string> names() const;
  const std::string& describe() const { return description_; }

 private:
  const SafetensorsFile& file_of(const std::string& name) const;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> index_;
  std::map<std::string, std::string> sparse24_;  // NAME.weight -> NAME, for compressed weights
  std::string description_;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Writes to `path + ".tmp"` then renames, so a failed write never leaves a
// truncated file under the real name.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace octet
