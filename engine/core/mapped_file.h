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

 private:
  MappedFile(std::string path, const unsigned char* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const unsigned char* data_;
  std::size_t size_;
};

}  // namespace octet
