// Each kind of bad model input gets a clear error that names the file and the problem.
#include "engine/error.h"
#include "engine/generation_session.h"
#include "engine/safetensors.h"
#include "engine/sentencepiece_tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <fstream>

namespace octet {
namespace {

namespace fs = std::filesystem;

std::string load_error(const std::string& path) {
  try {
    models::builtin_registry().load_model(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(loaded without error)";
}

// A copy of the shipped model with config.json edited by `edit`.
void copy_model(const test::TempDir& dir, const std::function<void(Json&)>& edit) {
  for (const char* f : {"model.safetensors", "tokenizer.model"}) fs::copy(test::shipped_model() + "/" + f, dir.file(f));
  Json config = read_json_file(test::shipped_model() + "/config.json");
  edit(config);
  std::ofstream(dir.file("config.json")) << config.dump(2);
}

TEST(MalformedModel, UnknownModelType) {
  test::TempDir dir;
  copy_model(dir, [](Json& c) { c["model_type"] = "mamba"; });
  const std::string msg = load_error(dir.path());
  EXPECT_CONTAINS(msg, "unknown model_type 'mamba'");
  EXPECT_CONTAINS(msg, "config.json");
  EXPECT_CONTAINS(msg, "llama");
}

TEST(MalformedModel, MissingConfigKeyAndBadHeads) {
  test::TempDir dir;
  copy_model(dir, [](Json& c) { c.erase("hidden_size"); });
  EXPECT_CONTAINS(load_error(dir.path()), "missing required key 'hidden_size'");
  test::TempDir dir2;
  copy_model(dir2, [](Json& c) { c["num_key_value_heads"] = 3; });
  EXPECT_CONTAINS(load_error(dir2.path()), "not a multiple of num_key_value_heads 3");
}

TEST(MalformedModel, MissingTensor) {
  test::TempDir dir;
  copy_model(dir, [](Json&) {});
  // Rewrite the weights without one tensor.
  std::vector<NamedTensor> kept;
  {
    const WeightStore store = WeightStore::open_dir(test::shipped_model());
    for (const auto& name : store.names()) {
      if (name != "model.layers.2.mlp.up_proj.weight") kept.push_back({name, store.get(name)});
    }
    write_safetensors(dir.file("model.safetensors"), kept);
  }
  const std::string msg = load_error(dir.path());
  EXPECT_CONTAINS(msg, "missing tensor 'model.layers.2.mlp.up_proj.weight'");
  EXPECT_CONTAINS(msg, "model.safetensors");
}

TEST(MalformedModel, ShapeDisagreesWithConfig) {
  test::TempDir dir;
  copy_model(dir, [](Json& c) { c["intermediate_size"] = 300; });
  EXPECT_CONTAINS(load_error(dir.path()), "expected [300, 128]");
}

TEST(MalformedModel, TruncatedWeights) {
  test::TempDir dir;
  copy_model(dir, [](Json&) {});
  fs::resize_file(dir.file("model.safetensors"), fs::file_size(dir.file("model.safetensors")) / 2);
  EXPECT_CONTAINS(load_error(dir.path()), "truncated");
}

TEST(MalformedModel, MissingTokenizer) {
  test::TempDir dir;
  copy_model(dir, [](Json&) {});
  fs::remove(dir.file("tokenizer.model"));
  try {
    load_tokenizer_for(dir.path(), "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "no tokenizer found");
  }
}

TEST(MalformedModel, NotAModel) {
  test::TempDir dir;
  EXPECT_CONTAINS(load_error(dir.path()), "no config.json");
  EXPECT_CONTAINS(load_error(dir.file("absent")), "no such file");
  std::ofstream(dir.file("weights.pt")) << "x";
  EXPECT_CONTAINS(load_error(dir.file("weights.pt")), "unknown checkpoint file type");
}

TEST(MalformedModel, TruncatedLlama2cCheckpoint) {
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  test::TempDir dir;
  fs::copy(checkpoint, dir.file("s.bin"));
  fs::resize_file(dir.file("s.bin"), fs::file_size(dir.file("s.bin")) - 4);
  EXPECT_CONTAINS(load_error(dir.file("s.bin")), "truncated");
  fs::resize_file(dir.file("s.bin"), 10);
  EXPECT_CONTAINS(load_error(dir.file("s.bin")), "too short");
}

TEST(MalformedModel, PromptLongerThanTheContext) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  GenerationSession session(*model, *backend, 16);
  const std::vector<std::int32_t> prompt(17, 5);
  try {
    session.append(prompt);
    FAIL() << "no error";
  } catch (const ContextFullError& e) {
    EXPECT_CONTAINS(std::string(e.what()), "17 tokens do not fit the context: 0 of 16");
  }
  EXPECT_EQ(session.n_past(), 0) << "nothing was fed";
  EXPECT_THROW(GenerationSession(*model, *backend, 100000), Error) << "context beyond the model's maximum";
}

}  // namespace
}  // namespace octet
