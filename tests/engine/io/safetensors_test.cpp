#include "engine/io/safetensors.h"
#include "engine/core/error.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

namespace octet {
namespace {

using test::error_of;
using test::TempDir;

Tensor filled(DType dtype, Shape shape, int seed) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  auto* bytes = static_cast<unsigned char*>(t.raw_mut());
  for (std::size_t i = 0; i < t.nbytes(); ++i) bytes[i] = static_cast<unsigned char>(i * 31 + seed);
  return t;
}

// Writes a file with a hand-made header and `data_bytes` bytes of data.
void write_raw(const std::string& path, const std::string& header, std::size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header << std::string(data_bytes, '\0');
}

TEST(Safetensors, WriteThenReadRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const Tensor a = filled(DType::F32, {3, 5}, 1), b = filled(DType::BF16, {7}, 2), c = filled(DType::I8, {2, 3, 1}, 3);
  write_safetensors(path, {{"a", a}, {"b.weight", b}, {"c", c}}, {{"format", "pt"}});
  SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  ASSERT_EQ(file.entries().size(), 3u);
  for (const auto& [name, want] : std::vector<std::pair<std::string, Tensor>>{{"a", a}, {"b.weight", b}, {"c", c}}) {
    const Tensor got = file.tensor(name);
    EXPECT_EQ(got.dtype(), want.dtype());
    EXPECT_EQ(got.shape(), want.shape());
    ASSERT_EQ(got.nbytes(), want.nbytes());
    EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << name;
    EXPECT_TRUE(got.is_mapped());
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, ShardedDirectoryThroughIndex) {
  TempDir dir;
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {{"x", filled(DType::F32, {2}, 4)}});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), {{"y", filled(DType::F32, {3}, 5)}});
  std::ofstream(dir.file("model.safetensors.index.json"))
      << R"({"metadata": {}, "weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}})";
  const WeightStore store = WeightStore::open_dir(dir.path());
  EXPECT_EQ(store.get("x").shape(), Shape{2});
  EXPECT_EQ(store.get("y", {3}).numel(), 3);
  EXPECT_EQ(store.names().size(), 2u);
}

TEST(Safetensors, TruncatedFile) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_safetensors(path, {{"w", filled(DType::F32, {16, 16}, 6)}});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  EXPECT_NE(error_of([&] { SafetensorsFile f(path); }).find("truncated"), std::string::npos);
  std::filesystem::resize_file(path, 5);
  EXPECT_NE(error_of([&] { SafetensorsFile f(path); }).find("too short"), std::string::npos);
}

TEST(Safetensors, HeaderLengthPastTheEnd) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t len = 4096;
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << "{}";
  out.close();
  const std::string msg = error_of([&] { SafetensorsFile f(path); });
  EXPECT_NE(msg.find("header length 4096 runs past the end"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << "the error names the file";
}

TEST(Safetensors, OffsetsPastTheEnd) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8);
  EXPECT_NE(error_of([&] { SafetensorsFile f(path); }).find("past the end of the data"), std::string::npos);
}

TEST(Safetensors, DTypeShapeMismatch) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 32]}})", 32);
  const std::string msg = error_of([&] { SafetensorsFile f(path); });
  EXPECT_NE(msg.find("'w' is F32 [3, 3] = 36 bytes but data_offsets span 32"), std::string::npos) << msg;
}

TEST(Safetensors, OverlappingTensors) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_raw(path,
            R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
            24);
  EXPECT_NE(error_of([&] { SafetensorsFile f(path); }).find("overlap"), std::string::npos);
}

TEST(Safetensors, MalformedHeaders) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const std::pair<std::string, std::string> cases[] = {
      {"not json at all", "not a JSON object"},
      {R"([1, 2])", "not a JSON object"},
      {R"({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 8]}})", "unknown dtype 'F128'"},
      {R"({"w": {"dtype": "I64", "shape": [2], "data_offsets": [0, 8]}})", "'w' is I64 [2] = 16 bytes"},
      {R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "negative dimension"},
      {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", "begin 8 > end 4"},
      {R"({"w": {"dtype": "F32", "shape": [1]}})", "needs data_offsets"},
      {R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", "no dtype"},
  };
  for (const auto& [header, expected] : cases) {
    write_raw(path, header, 8);
    const std::string msg = error_of([&] { SafetensorsFile f(path); });
    EXPECT_NE(msg.find(expected), std::string::npos) << header << " -> " << msg;
  }
}

// Hub checkpoints carry buffers no node reads (BERT's position_ids, I64):
// they are validated like any tensor, and only reading one is an error.
TEST(Safetensors, ATensorOfAForeignDtypeIsRefusedOnlyWhenRead) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_raw(path,
            R"({"embeddings.position_ids": {"dtype": "I64", "shape": [1, 2], "data_offsets": [0, 16]},
                "w": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}})",
            24);
  const SafetensorsFile f(path);
  EXPECT_EQ(f.tensor("w").numel(), 2);
  EXPECT_CONTAINS(error_of([&] { f.tensor("embeddings.position_ids"); }),
                  "tensor 'embeddings.position_ids' has dtype 'I64', which octet does not read");
}

TEST(Safetensors, MissingTensorAndWrongShape) {
  TempDir dir;
  write_safetensors(dir.file("model.safetensors"), {{"w", filled(DType::F32, {2, 3}, 7)}});
  const WeightStore store = WeightStore::open_dir(dir.path());
  EXPECT_NE(error_of([&] { store.get("missing.weight"); }).find("missing tensor 'missing.weight'"), std::string::npos);
  const std::string msg = error_of([&] { store.get("w", {3, 2}); });
  EXPECT_NE(msg.find("has shape [2, 3], expected [3, 2]"), std::string::npos) << msg;
}

TEST(Safetensors, MissingFileAndEmptyDirectory) {
  TempDir dir;
  EXPECT_NE(error_of([&] { SafetensorsFile f(dir.file("nope.safetensors")); }).find("cannot open"), std::string::npos);
  EXPECT_NE(error_of([&] { WeightStore::open_dir(dir.path()); }).find("no model.safetensors"), std::string::npos);
}

// A sharded checkpoint's index names its shards; every way it can be wrong
// is refused with the index file named, and never opens a file outside the
// model's directory.
TEST(Safetensors, ShardIndexErrorsNameTheIndex) {
  TempDir dir;
  write_safetensors(dir.file("a.safetensors"), {{"w", filled(DType::F32, {2}, 1)}});
  write_safetensors(dir.file("b.safetensors"), {{"v", filled(DType::F32, {2}, 2)}});
  const auto open_with_index = [&](const std::string& index) {
    std::ofstream(dir.file("model.safetensors.index.json")) << index;
    return error_of([&] { WeightStore::open_dir(dir.path()); });
  };
  const std::string index = dir.file("model.safetensors.index.json");
  for (const auto& [json, message] : std::vector<std::pair<std::string, std::string>>{
           {"{", "not a safetensors index (no weight_map object)"},
           {R"({"weight_map": ["a.safetensors"]})", "not a safetensors index (no weight_map object)"},
           {R"({"weight_map": {"w": 3}})", "weight_map['w'] is not a file name"},
           {R"({"weight_map": {"w": "../a.safetensors"}})", "shard name '../a.safetensors' must be a plain file name"},
           {R"({"weight_map": {"w": ".."}})", "shard name '..' must be a plain file name"},
           {R"({"weight_map": {"w": ""}})", "shard name '' must be a plain file name"},
           {R"({"weight_map": {"w": "b.safetensors"}})",
            "lists tensor 'w' in b.safetensors but that shard does not hold it"},
       }) {
    EXPECT_EQ(open_with_index(json), index + ": " + message) << json;
  }
  EXPECT_CONTAINS(open_with_index(R"({"weight_map": {"w": "c.safetensors"}})"), "c.safetensors: cannot open");
}

}  // namespace
}  // namespace octet
