// The GGUF reader: dequantization equal to the gguf package's, value for
// value (tests/data/gguf/types.gguf holds each tensor and, beside it, what
// the package makes of it: tests/reference/make_gguf_golden.py), typed
// metadata, and every malformed header refused with the file and the fault.
#include "engine/io/gguf.h"

#include "engine/core/error.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

namespace octet {
namespace {

TEST(Gguf, DequantizesEveryTypeExactlyAsTheGgufPackage) {
  const GgufFile g(test::test_data("gguf/types.gguf"));
  EXPECT_EQ(g.version(), 3u);
  int checked = 0;
  for (const GgufTensorInfo& t : g.tensors()) {
    if (t.name.starts_with("expected.")) continue;
    const GgufTensorInfo* want = g.find_tensor("expected." + t.name);
    ASSERT_NE(want, nullptr) << t.name;
    const Tensor got = g.dequantize(t), expected = g.dequantize(*want);
    ASSERT_EQ(got.shape(), expected.shape()) << t.name;
    for (std::int64_t i = 0; i < got.numel(); ++i) {
      // Bit for bit: the same float arithmetic, in the same order.
      ASSERT_EQ(std::memcmp(got.data<float>() + i, expected.data<float>() + i, 4), 0)
          << t.name << "[" << i << "]: " << got.data<float>()[i] << " vs " << expected.data<float>()[i];
    }
    ++checked;
  }
  EXPECT_EQ(checked, 14) << "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K ... Q6_K and a 3-D Q8_0";
  EXPECT_EQ(g.find_tensor("q8_0_3d")->shape, (Shape{2, 3, 32})) << "ggml's ne[] reversed: outermost first";
}

TEST(Gguf, ReadsTypedMetadataAndNamesTheKeyOfAWrongType) {
  const GgufFile g(test::test_data("gguf/tiny_llama.gguf"));
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_int("llama.block_count"), 2);
  EXPECT_DOUBLE_EQ(g.get_float("llama.rope.freq_base"), 10000.0);
  EXPECT_FALSE(*g.find_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(g.get_strings("tokenizer.ggml.tokens").size(), g.get_ints("tokenizer.ggml.token_type").size());
  EXPECT_CONTAINS(test::error_of([&] { g.get_int("general.architecture"); }),
                  "metadata 'general.architecture' should be an integer but is a string");
  EXPECT_CONTAINS(test::error_of([&] { g.get_string("no.such.key"); }), "metadata 'no.such.key' (a string) is missing");
}

// GGUF bytes written field by field, so that each test can break one.
struct GgufBytes {
  std::string bytes;
  template <typename T>
  GgufBytes& put(T v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  GgufBytes& str(const std::string& s) {
    put<std::uint64_t>(s.size());
    bytes += s;
    return *this;
  }
  // Header with one string pair (general.architecture) and `n_tensors` announced.
  static GgufBytes header(std::uint64_t n_tensors, std::uint32_t version = 3) {
    GgufBytes b;
    b.bytes = "GGUF";
    b.put<std::uint32_t>(version).put<std::uint64_t>(n_tensors).put<std::uint64_t>(1);
    b.str("general.architecture").put<std::uint32_t>(8).str("llama");
    return b;
  }
  GgufBytes& tensor(const std::string& name, std::uint64_t cols, std::uint32_t type, std::uint64_t offset) {
    str(name).put<std::uint32_t>(1).put<std::uint64_t>(cols).put<std::uint32_t>(type).put<std::uint64_t>(offset);
    return *this;
  }
  GgufBytes& data(std::size_t n) {
    bytes.resize((bytes.size() + 31) / 32 * 32, '\0');
    bytes.append(n, '\0');
    return *this;
  }
};

std::string open_error(const test::TempDir& dir, const std::string& bytes) {
  const std::string path = dir.file("bad.gguf");
  std::ofstream(path, std::ios::binary) << bytes;
  return test::error_of([&] { GgufFile{path}; });
}

TEST(Gguf, RefusesMalformedHeadersNamingTheFileAndTheFault) {
  test::TempDir dir;
  EXPECT_EQ(open_error(dir, GgufBytes::header(1).tensor("w", 32, 0, 0).data(128).bytes), "(no error)");
  EXPECT_CONTAINS(open_error(dir, "GGML" + GgufBytes::header(0).bytes.substr(4)), "bad.gguf: not a GGUF file");
  EXPECT_CONTAINS(open_error(dir, GgufBytes::header(0, 1).bytes), "GGUF version 1 is not supported");
  EXPECT_CONTAINS(open_error(dir, GgufBytes::header(1'000'000'000).bytes), "tensor count 1000000000");
  EXPECT_CONTAINS(open_error(dir, GgufBytes::header(1).tensor("w", 32, 16, 0).data(128).bytes),
                  "tensor 'w' has type IQ2_XXS, which octet does not read");
  EXPECT_CONTAINS(open_error(dir, GgufBytes::header(1).tensor("w", 32, 12, 0).data(256).bytes),
                  "tensor 'w' rows of 32 values are not whole blocks of 256 (Q4_K)");
  EXPECT_CONTAINS(open_error(dir, GgufBytes::header(1).tensor("w", 32, 0, 4).data(256).bytes), "not aligned");
  EXPECT_CONTAINS(open_error(dir, GgufBytes::header(1).tensor("w", 32, 0, 0).data(100).bytes),
                  "runs past the end of the file");
  EXPECT_CONTAINS(open_error(dir, GgufBytes::header(1).tensor("w", 33, 8, 0).data(128).bytes),
                  "not whole blocks of 32");
  EXPECT_CONTAINS(open_error(dir, GgufBytes::header(2).tensor("a", 32, 0, 0).tensor("b", 32, 0, 64).data(256).bytes),
                  "two tensors overlap");
  GgufBytes long_string;
  long_string.bytes = "GGUF";
  long_string.put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1).put<std::uint64_t>(1ull << 60);
  long_string.bytes.append(32, 'x');  // a key said to be 2^60 bytes long
  EXPECT_CONTAINS(open_error(dir, long_string.bytes), "past the end of the file");
}

TEST(Gguf, EveryTruncationOfARealFileIsAnError) {
  std::ifstream in(test::test_data("gguf/types.gguf"), std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  test::TempDir dir;
  for (std::size_t n = 0; n < whole.size(); n += 13) {
    EXPECT_NE(open_error(dir, whole.substr(0, n)), "(no error)") << "cut at " << n << " of " << whole.size();
  }
}

}  // namespace
}  // namespace octet
