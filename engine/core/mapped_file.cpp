#include "engine/core/mapped_file.h"

#include "engine/core/error.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace octet {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", path);
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  const unsigned char* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail("{}: cannot mmap {} bytes: {}", path, size, std::strerror(err));
    }
    data = static_cast<const unsigned char*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
  return std::shared_ptr<const MappedFile>(new MappedFile(path, data, size));
}

void MappedFile::release_pages(const void* begin, std::size_t bytes) const {
  static const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto start = reinterpret_cast<std::uintptr_t>(data_);
  const auto from = std::max(reinterpret_cast<std::uintptr_t>(begin), start);
  const auto to = std::min(reinterpret_cast<std::uintptr_t>(begin) + bytes, start + size_);
  const std::uintptr_t first = (from + page - 1) / page * page, last = to / page * page;
  if (first >= last) return;
  auto* range = reinterpret_cast<void*>(first);
  // The range becomes a mapping of its own, without huge pages: a kernel that
  // maps a file's large folios whole (2 MiB at a fault) would otherwise map
  // these pages back when a neighbouring tensor is read.
  ::madvise(range, last - first, MADV_NOHUGEPAGE);
  // A read-only private mapping never written: its pages are the file's, so
  // dropping them loses nothing. (Advice: a failure only keeps them resident.)
  ::madvise(range, last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
}

}  // namespace octet
