#include "engine/core/tensor.h"
#include "engine/core/error.h"
#include "engine/core/mapped_file.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace octet {
namespace {

TEST(Tensor, ShapeNumelRefusesNegativeDimensionsAndOverflow) {
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({3, 0, 5}), 0);
  EXPECT_EQ(shape_numel({1 << 20, 1 << 20, 1 << 19}), std::int64_t{1} << 59);
  // Sizes read from a file (three header fields of 2^31) multiply past 2^63;
  // the count must be refused, not wrap.
  EXPECT_CONTAINS(test::error_of([] {
                    shape_numel({std::int64_t{1} << 31, std::int64_t{1} << 31, std::int64_t{1} << 31});
                  }),
                  "[2147483648, 2147483648, 2147483648] has too many elements");
  // 2^61 elements would be 2^64 bytes of float64-sized data: too many as well.
  EXPECT_THROW(shape_numel({std::int64_t{1} << 61}), Error);
  EXPECT_THROW(shape_numel({4, -1}), Error);
}

TEST(Tensor, EmptyTensorsConvertToEmptyFloat) {
  // An empty tensor owns no storage; converting it must not hand a null
  // pointer to memcpy (UBSan's check) or read anything.
  for (const DType dtype : {DType::F32, DType::BF16, DType::F8E4M3}) {
    const Tensor converted = to_f32(Tensor::zeros(dtype, {0, 4}));
    EXPECT_EQ(converted.dtype(), DType::F32);
    EXPECT_EQ(converted.shape(), (Shape{0, 4}));
    EXPECT_EQ(converted.numel(), 0);
  }
}

// Pages of [begin, begin + bytes) mapped in this process (/proc/self/pagemap:
// bit 63 of a page's entry says it is present).
int present_pages(const void* begin, std::size_t bytes) {
  // pread: the file takes whole 8-byte entries only, which a buffered stream does not ask for.
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) ADD_FAILURE() << "cannot open /proc/self/pagemap";
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(begin) / 4096;
  const std::uintptr_t last = (reinterpret_cast<std::uintptr_t>(begin) + bytes + 4095) / 4096;
  int present = 0;
  for (std::uintptr_t page = first; page < last; ++page) {
    std::uint64_t entry = 0;
    if (::pread(fd, &entry, sizeof entry, static_cast<off_t>(page * sizeof entry)) != sizeof entry) {
      ADD_FAILURE() << "cannot read /proc/self/pagemap";
      break;
    }
    present += static_cast<int>(entry >> 63);
  }
  if (fd >= 0) ::close(fd);
  return present;
}

// `size` bytes of a pattern no page repeats, written to `path`.
std::vector<std::uint8_t> write_pattern(const std::string& path, std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 131 + (i >> 12));
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

// A backend releases a packed weight's checkpoint pages; reading them again
// must give the file's bytes, including the partial pages at both ends of
// the range, which stay resident.
TEST(Tensor, ReleasedFilePagesReadBackUnchanged) {
  test::TempDir dir;
  const std::string path = dir.file("weights.bin");
  const std::vector<std::uint8_t> bytes = write_pattern(path, 5 * 4096 + 123);
  const auto file = MappedFile::open(path);
  const Tensor t = Tensor::mapped(DType::U8, {4 * 4096}, file, 1000);  // not page-aligned at either end
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) sum += file->data()[i];  // every page resident
  EXPECT_GT(sum, 0u);
  ASSERT_EQ(present_pages(file->data(), file->size()), 6);
  t.release_file_pages();
  // Pages 1..4 of 0..5 lie wholly inside [1000, 1000 + 16384): 3 of them (4096..16383).
  EXPECT_EQ(present_pages(file->data() + 4096, 3 * 4096), 0);
  EXPECT_EQ(present_pages(file->data(), 4096), 1);
  EXPECT_EQ(present_pages(file->data() + 4 * 4096, 2 * 4096), 2);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), file->data()));
  file->release_pages(file->data(), file->size());  // the whole file, and a range past its end: clipped
  file->release_pages(file->data() + 4096, 10 * 4096);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), file->data()));
  Tensor::zeros(DType::U8, {100}).release_file_pages();  // not mapped: nothing to give back
}

// The tensors beside a released one are read afterwards (its scales, the
// next weight); that must not map its pages back. (A kernel that maps a
// file's large folios whole, 2 MiB at a fault, did so: 60 MB of a 2:4
// checkpoint's compressed weights came back this way.)
TEST(Tensor, ReleasedFilePagesStayOutWhenTheirNeighboursAreRead) {
  test::TempDir dir;
  const std::string path = dir.file("weights.bin");
  const std::size_t mib = std::size_t{1} << 20;
  const std::vector<std::uint8_t> bytes = write_pattern(path, 16 * mib);
  const auto file = MappedFile::open(path);
  std::vector<std::uint8_t> copy(bytes.size());
  std::copy_n(file->data(), file->size(), copy.begin());  // read as a loader reads: every page
  const std::size_t from = 4 * mib + 8192, to = 6 * mib - 8192;
  const Tensor t = Tensor::mapped(DType::U8, {static_cast<std::int64_t>(to - from)}, file, from);
  t.release_file_pages();
  ASSERT_EQ(present_pages(t.raw(), t.nbytes()), 0);
  EXPECT_EQ(file->data()[from - 100], bytes[from - 100]);
  EXPECT_EQ(file->data()[to + 100], bytes[to + 100]);
  EXPECT_EQ(present_pages(t.raw(), t.nbytes()), 0);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), file->data()));  // and they read back unchanged
}

}  // namespace
TEST(Tensor, AViewReadsPartOfTheStorageAndKeepsItAlive) {
  Tensor view;
  {
    Tensor whole = Tensor::zeros(DType::I8, {64});
    for (int i = 0; i < 64; ++i) whole.data_mut<std::int8_t>()[i] = static_cast<std::int8_t>(i);
    view = whole.view(DType::I8, {2, 8}, 40);
    EXPECT_THROW(whole.view(DType::I8, {4, 8}, 40), Error) << "past the end";
    EXPECT_THROW(whole.view(DType::F32, {1}, 65), Error) << "an offset past the end";
  }
  ASSERT_EQ(view.shape(), (Shape{2, 8}));
  for (int i = 0; i < 16; ++i) EXPECT_EQ(view.data<std::int8_t>()[i], 40 + i);
}

}  // namespace octet
