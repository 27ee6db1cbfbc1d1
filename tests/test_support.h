// Paths and helpers shared by the tests.
#pragma once

#include "engine/core/error.h"
#include "engine/io/safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace octet::test {

inline std::string project_dir() { return OCTET_SOURCE_DIR; }
inline std::string test_data(const std::string& name) { return project_dir() + "/tests/data/" + name; }
inline std::string shipped_model() { return project_dir() + "/assets/models/tinystories-mini"; }

// ../shared beside the checkout, or $OCTET_SHARED_DIR.
inline std::string shared_dir() {
  if (const char* env = std::getenv("OCTET_SHARED_DIR")) return env;
  return project_dir() + "/../shared";
}

// A fresh scratch directory for one test, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/octet-test-XXXXXX";
    path_ = mkdtemp(templ);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Copies the model directory `source` into `dir`, its weights rewritten as
// float32 with `edit` applied to the values of the tensor called `name` (a
// NaN planted in a checkpoint, say); every other file as it is.
inline void copy_model_editing(const TempDir& dir, const std::string& source, const std::string& name,
                               const std::function<void(std::span<float>)>& edit) {
  for (const auto& entry : std::filesystem::directory_iterator(source)) {
    if (entry.path().extension() != ".safetensors")
      std::filesystem::copy(entry.path(), dir.file(entry.path().filename()));
  }
  const WeightStore store = WeightStore::open_dir(source);
  std::vector<NamedTensor> tensors;
  for (const auto& tensor_name : store.names()) {
    const Tensor original = to_f32(store.get(tensor_name));
    Tensor copy = Tensor::zeros(DType::F32, original.shape());
    std::copy_n(original.data<float>(), original.numel(), copy.data_mut<float>());
    if (tensor_name == name) edit(std::span(copy.data_mut<float>(), static_cast<std::size_t>(copy.numel())));
    tensors.push_back({tensor_name, copy});
  }
  write_safetensors(dir.file("model.safetensors"), tensors);
}

// The message of the octet::Error that `run` throws, or "(no error)": tests
// of refused input check what the user is told, not only that it failed.
inline std::string error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace octet::test

// EXPECT that the string `text` contains `part`, printing `text` where not.
#define EXPECT_CONTAINS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

// Binds `var` to ../shared/<relative>. Where that data is absent (a user's
// machine) the test is skipped and says why; on CI (CI set) it fails instead,
// because CI must run every test.
#define OCTET_REQUIRE_SHARED(var, relative)                                                           \
  const std::string var = ::octet::test::shared_dir() + "/" + (relative);                             \
  if (!std::filesystem::exists(var)) {                                                                \
    if (std::getenv("CI") != nullptr) FAIL() << "CI needs shared data at " << var;                    \
    GTEST_SKIP() << "shared data not found at " << var << " (set OCTET_SHARED_DIR to run this test)"; \
  }
