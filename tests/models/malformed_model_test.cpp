// Each kind of bad model input gets a clear error that names the file and the problem.
#include "engine/core/error.h"
#include "engine/io/safetensors.h"
#include "engine/session/generation_session.h"
#include "engine/text/sentencepiece_tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <fstream>

namespace octet {
namespace {

namespace fs = std::filesystem;

std::string load_error(const std::string& path) {
  return test::error_of([&] { models::builtin_registry().load_model(path); });
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
  EXPECT_CONTAINS(test::error_of([&] { load_tokenizer_for(dir.path(), ""); }), "no tokenizer found");
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

TEST(MalformedModel, ConfigNumbersAreCheckedNotConverted) {
  test::TempDir dir;
  copy_model(dir, [](Json& c) { c["hidden_size"] = std::int64_t{1} << 40; });
  EXPECT_CONTAINS(load_error(dir.path()), "config.json: hidden_size is 1099511627776, larger than octet supports");
  // nlohmann's own conversion would truncate 128.5 to 128, and cast 1e300 to
  // an integer or a float (undefined behaviour; found by tests/fuzz/hf_config_fuzz).
  const std::pair<const char*, Json> bad[] = {{"hidden_size", 128.5},
                                              {"max_position_embeddings", 1e300},
                                              {"rms_norm_eps", 1e300},
                                              {"bos_token_id", std::int64_t{1} << 40},
                                              {"eos_token_id", Json::array({2, -1e300})}};
  for (const auto& [key, value] : bad) {
    test::TempDir d;
    copy_model(d, [&](Json& c) { c[key] = value; });
    EXPECT_CONTAINS(load_error(d.path()),
                    fmt::format("config.json: key '{}' has the wrong type or is out of range", key));
  }

  // A llama2.c header whose sizes multiply past 2^64 bytes (found by
  // tests/fuzz/llama2c_fuzz: the byte offsets overflowed before the size check).
  const std::int32_t header[7] = {1 << 30, 1 << 30, 1 << 30, 1 << 4, 1 << 4, 5, 4};
  std::ofstream(dir.file("huge.bin"), std::ios::binary).write(reinterpret_cast<const char*>(header), sizeof header);
  const std::string bin_msg = load_error(dir.file("huge.bin"));
  EXPECT_CONTAINS(bin_msg, "huge.bin: the header's shapes need more bytes than the file's 28");
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
