#include "engine/core/tensor.h"
#include "engine/core/error.h"
#include "engine/core/mapped_file.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
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

// Resident kilobytes of the mapping that holds `address` (/proc/self/smaps).
std::int64_t resident_kib_of_mapping(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &from, &to) == 2 && line.find(':') > line.find(' ')) {
      inside = from <= at && at < to;
      continue;
    }
    std::int64_t kib = 0;
    if (inside && std::sscanf(line.c_str(), "Rss: %ld kB", &kib) == 1) return kib;
  }
  return -1;
}

// A backend releases a packed weight's checkpoint pages; reading them again
// must give the file's bytes, including the partial pages at both ends of
// the range, which stay resident.
TEST(Tensor, ReleasedFilePagesReadBackUnchanged) {
  test::TempDir dir;
  const std::string path = dir.file("weights.bin");
  std::vector<std::uint8_t> bytes(5 * 4096 + 123);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 131 + (i >> 12));
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  const auto file = MappedFile::open(path);
  const Tensor t = Tensor::mapped(DType::U8, {4 * 4096}, file, 1000);  // not page-aligned at either end
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) sum += file->data()[i];  // every page resident
  EXPECT_GT(sum, 0u);
  const std::int64_t resident = resident_kib_of_mapping(file->data());
  t.release_file_pages();
  // Pages 1..4 of 0..5 lie wholly inside [1000, 1000 + 16384): 3 of them (4096..16383).
  EXPECT_EQ(resident - resident_kib_of_mapping(file->data()), 3 * 4) << "resident before: " << resident << " KiB";
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), file->data()));
  file->release_pages(file->data(), file->size());  // the whole file, and a range past its end: clipped
  file->release_pages(file->data() + 4096, 10 * 4096);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), file->data()));
  Tensor::zeros(DType::U8, {100}).release_file_pages();  // not mapped: nothing to give back
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
