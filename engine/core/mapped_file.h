// A read-only memory map of a whole file; weights are viewed in place, never copied.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace octet {

class MappedFile {
 public:
  // Throws octet::Error naming the path if it cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Gives back the resident pages that lie wholly inside [begin, begin +
  // bytes) of this mapping (a weight a backend has copied into its own
  // layout): they stop counting in the process's memory, and come back from
  // the file, unchanged, if read again (they alone: the range becomes a
  // mapping of its own, so reading a neighbour does not map them back).
  void release_pages(const void* begin, std::size_t bytes) const;

 private:
  MappedFile(std::string path, const unsigned char* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const unsigned char* data_;
  std::size_t size_;
};

}  // namespace octet
