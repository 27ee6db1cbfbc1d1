#include "engine/io/compressed_tensors.h"
#include "engine/core/error.h"
#include "engine/core/executor.h"
#include "engine/io/safetensors.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/engine/prompt_logits.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>

namespace octet {
namespace {

namespace fs = std::filesystem;

TEST(CompressedTensors, SavedCheckpointReloadsBitIdentical) {
  for (QuantScheme scheme : {QuantScheme::Int8, QuantScheme::W8, QuantScheme::Fp8}) {
    test::TempDir dir;
    const QuantRecipe recipe{scheme, {}};
    const auto at_load = models::builtin_registry().load_model(test::shipped_model(), {recipe});
    write_checkpoint(*at_load, read_json_file(test::shipped_model() + "/config.json"), recipe, dir.path());

    const Json config = read_json_file(dir.file("config.json"));
    const Json& q = config["quantization_config"];
    EXPECT_EQ(q["quant_method"], "compressed-tensors");
    const bool fp8 = scheme == QuantScheme::Fp8;
    EXPECT_EQ(q["format"], fp8 ? "float-quantized" : "int-quantized");
    EXPECT_EQ(q["config_groups"]["group_0"]["weights"]["type"], fp8 ? "float" : "int");
    EXPECT_EQ(q["config_groups"]["group_0"]["weights"]["strategy"], "channel");
    EXPECT_EQ(q["config_groups"]["group_0"]["input_activations"].is_null(), scheme == QuantScheme::W8);
    EXPECT_EQ(config["tie_word_embeddings"], false) << "the quantized head is stored on its own";

    const WeightStore store = WeightStore::open_dir(dir.path());
    EXPECT_EQ(store.get("model.layers.0.mlp.up_proj.weight").dtype(), fp8 ? DType::F8E4M3 : DType::I8);
    EXPECT_EQ(store.get("model.layers.0.mlp.up_proj.weight_scale").shape(), (Shape{352, 1}));
    EXPECT_EQ(store.get("model.norm.weight").dtype(), DType::F32);
    // Under int8 and w8 the embedding table is int8 rows too, in a group of its own.
    EXPECT_EQ(q["config_groups"].contains("group_1"), !fp8);
    EXPECT_EQ(store.get("model.embed_tokens.weight").dtype(), fp8 ? DType::F32 : DType::I8);
    if (!fp8) {
      const Json& tables = q["config_groups"]["group_1"];
      EXPECT_EQ(tables["targets"], Json({"Embedding"}));
      EXPECT_TRUE(tables["input_activations"].is_null());
      EXPECT_EQ(store.get("model.embed_tokens.weight_scale").shape(), (Shape{1024, 1}));
    }

    // Reloading needs no recipe: the checkpoint says what it is.
    const auto reloaded = models::builtin_registry().load_model(dir.path());
    for (const auto& [name, t] : reloaded->weights()) {
      if (name == "model.embed_tokens.weight" && !fp8) {
        ASSERT_NE(t.quant(), nullptr);
        EXPECT_EQ(t.quant()->scheme, QuantScheme::W8);
      }
    }
    const auto a = test::prompt_logits(*at_load), b = test::prompt_logits(*reloaded);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << quant_scheme_name(scheme);
  }
}

// Static activation scales (calibrated int8) travel as *.input_scale tensors
// with a "strategy": "tensor", "dynamic": false activations block.
TEST(CompressedTensors, StaticActivationScalesRoundTrip) {
  test::TempDir dir;
  const QuantRecipe recipe{QuantScheme::Int8, {}};
  std::map<std::string, float> scales;
  for (const auto& [name, t] : models::builtin_registry().load_model(test::shipped_model())->weights()) {
    if (name.find("_proj.") != std::string::npos) scales[name] = 0.01f * static_cast<float>(name.size());
  }
  scales["lm_head.weight"] = 0.05f;
  const auto at_load = models::builtin_registry().load_model(test::shipped_model(), {recipe, {}, scales});
  write_checkpoint(*at_load, read_json_file(test::shipped_model() + "/config.json"), recipe, dir.path());
  const Json config = read_json_file(dir.file("config.json"));
  const Json& activations = config["quantization_config"]["config_groups"]["group_0"]["input_activations"];
  EXPECT_EQ(activations["strategy"], "tensor");
  EXPECT_EQ(activations["dynamic"], false);
  const WeightStore store = WeightStore::open_dir(dir.path());
  EXPECT_EQ(store.get("model.layers.1.mlp.down_proj.input_scale").numel(), 1);
  const auto reloaded = models::builtin_registry().load_model(dir.path());
  for (const auto& [name, t] : reloaded->weights()) {
    if (t.quant() != nullptr && name != "model.embed_tokens.weight") {  // the table has no activations
      EXPECT_EQ(t.quant()->input_scale, scales.at(name)) << name;
    }
  }
  const auto a = test::prompt_logits(*at_load), b = test::prompt_logits(*reloaded);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  EXPECT_NE(a, test::prompt_logits(*models::builtin_registry().load_model(test::shipped_model(), {recipe})))
      << "static scales change the activations' quantization";
}

TEST(CompressedTensors, KeepFloatLayersStayFloat) {
  test::TempDir dir;
  const QuantRecipe recipe{QuantScheme::Int8, {"lm_head", "layers.0."}};
  const auto model = models::builtin_registry().load_model(test::shipped_model(), {recipe});
  write_checkpoint(*model, read_json_file(test::shipped_model() + "/config.json"), recipe, dir.path());
  const WeightStore store = WeightStore::open_dir(dir.path());
  EXPECT_EQ(store.get("model.layers.0.self_attn.q_proj.weight").dtype(), DType::F32);
  EXPECT_EQ(store.get("model.layers.1.self_attn.q_proj.weight").dtype(), DType::I8);
  EXPECT_FALSE(store.contains("lm_head.weight")) << "a float tied head stays the embedding";
  EXPECT_EQ(read_json_file(dir.file("config.json"))["quantization_config"]["ignore"], Json({"lm_head", "layers.0."}));
}

TEST(CompressedTensors, RefusesWhatItCannotRead) {
  const std::string path = "config.json";
  Json config = {{"quantization_config", {{"quant_method", "gptq"}}}};
  EXPECT_THROW(checkpoint_scheme(config, path), Error);
  config["quantization_config"] = {{"quant_method", "compressed-tensors"}, {"format", "float-quantized"}};
  EXPECT_THROW(checkpoint_scheme(config, path), Error);
  EXPECT_FALSE(checkpoint_scheme(Json::object(), path).has_value());
  const Json linear = {{"targets", {"Linear"}},
                       {"weights", {{"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", "channel"}}},
                       {"input_activations", nullptr}};
  Json tables = linear;
  tables["targets"] = {"Embedding"};
  config["quantization_config"] = {
      {"quant_method", "compressed-tensors"}, {"format", "int-quantized"}, {"config_groups", {{"g0", linear}}}};
  EXPECT_EQ(checkpoint_scheme(config, path)->scheme, QuantScheme::W8);
  config["quantization_config"]["config_groups"]["g1"] = tables;
  EXPECT_EQ(checkpoint_scheme(config, path)->scheme, QuantScheme::W8);
  config["quantization_config"]["config_groups"]["g1"]["weights"]["num_bits"] = 4;
  EXPECT_CONTAINS(test::error_of([&] { checkpoint_scheme(config, path); }),
                  "config.json: config group 'g1' of Embedding tables: only int8 per-channel weights");
  config["quantization_config"]["config_groups"]["g1"] = linear;
  EXPECT_CONTAINS(test::error_of([&] { checkpoint_scheme(config, path); }), "one config group of Linear layers");

  // An int8 weight whose scale is missing.
  test::TempDir dir;
  const QuantRecipe recipe{QuantScheme::Int8, {}};
  const auto model = models::builtin_registry().load_model(test::shipped_model(), {recipe});
  write_checkpoint(*model, read_json_file(test::shipped_model() + "/config.json"), recipe, dir.path());
  const WeightStore store = WeightStore::open_dir(dir.path());
  std::vector<NamedTensor> kept;
  for (const auto& name : store.names()) {
    if (name != "model.layers.1.mlp.down_proj.weight_scale") kept.push_back({name, store.get(name)});
  }
  write_safetensors(dir.file("model.safetensors"), kept);
  EXPECT_CONTAINS(test::error_of([&] { models::builtin_registry().load_model(dir.path()); }),
                  "has no 'model.layers.1.mlp.down_proj.weight_scale'");
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

// A pruned checkpoint, float or int8, reloads bit-identical to the model
// pruned at load, says what it is in a compressed-tensors sparsity_config,
// stores its 2:4 weights in the sparse-24-bitmask format (5/8 of an int8
// weight's bytes), and a config.json whose sparsity its tensors do not hold is refused.
TEST(CompressedTensorsSparsity, PrunedCheckpointRoundTripsAndIsChecked) {
  for (const QuantScheme scheme : {QuantScheme::F32, QuantScheme::Int8}) {
    test::TempDir dir;
    LoadOptions options{QuantRecipe{scheme, {}}};
    options.prune = *sparsity_from_name("2:4");
    const auto at_load = models::builtin_registry().load_model(test::shipped_model(), options);
    const MeasuredSparsity measured = measure_sparsity(*at_load, options.prune.keep_dense);
    EXPECT_TRUE(measured.breaks_two_four.empty()) << measured.breaks_two_four;
    EXPECT_GE(measured.zero_fraction, 0.5);
    Json config = read_json_file(test::shipped_model() + "/config.json");
    config["sparsity_config"] = sparsity_config_json(options.prune, measured.zero_fraction);
    write_checkpoint(*at_load, config, options.quant, dir.path());
    const Json written = read_json_file(dir.file("config.json"));
    EXPECT_EQ(written["sparsity_config"]["sparsity_structure"], "2:4");
    EXPECT_EQ(written["sparsity_config"]["format"], "sparse-24-bitmask");
    EXPECT_EQ(written.contains("quantization_config"), scheme != QuantScheme::F32);
    const SafetensorsFile file(dir.file("model.safetensors"));
    const std::string q_proj = "model.layers.0.self_attn.q_proj";
    EXPECT_FALSE(file.contains(q_proj + ".weight")) << "stored compressed";
    ASSERT_TRUE(file.contains(q_proj + ".compressed") && file.contains(q_proj + ".bitmask"));
    Tensor dense_q;
    for (const auto& [name, t] : at_load->weights()) {
      if (name == q_proj + ".weight") dense_q = t;
    }
    EXPECT_EQ(file.tensor(q_proj + ".compressed").nbytes() + file.tensor(q_proj + ".bitmask").nbytes(),
              scheme == QuantScheme::Int8 ? dense_q.nbytes() * 5 / 8 : dense_q.nbytes() / 2 + dense_q.numel() / 8);
    EXPECT_TRUE(file.contains("lm_head.weight") || !file.contains("lm_head.compressed")) << "the head is kept dense";

    const auto reloaded = models::builtin_registry().load_model(dir.path());
    const auto a = at_load->weights(), b = reloaded->weights();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].first, b[i].first);
      ASSERT_EQ(a[i].second.nbytes(), b[i].second.nbytes()) << a[i].first;
      EXPECT_EQ(std::memcmp(a[i].second.raw(), b[i].second.raw(), a[i].second.nbytes()), 0) << a[i].first;
    }
    const auto la = test::prompt_logits(*at_load), lb = test::prompt_logits(*reloaded);
    EXPECT_EQ(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)), 0) << quant_scheme_name(scheme);
  }

  // The dense model's weights under a config.json that says 2:4, or 60% zeros.
  test::TempDir dir;
  const auto dense = models::builtin_registry().load_model(test::shipped_model());
  Json config = read_json_file(test::shipped_model() + "/config.json");
  config["sparsity_config"] = sparsity_config_json(*sparsity_from_name("2:4"), 0.5);
  config["sparsity_config"]["format"] = "dense";  // sparse-24-bitmask could not even store them
  write_checkpoint(*dense, config, QuantRecipe{}, dir.path());
  EXPECT_CONTAINS(test::error_of([&] { models::builtin_registry().load_model(dir.path()); }),
                  "sparsity_config says 2:4, but 'model.layers.0.self_attn.q_proj.weight' has a group of 4 weights "
                  "with fewer than 2 zeros");
  const auto rewrite = [&](const std::string& key, const Json& value) {
    Json c = read_json_file(dir.file("config.json"));
    c["sparsity_config"][key] = value;
    std::ofstream(dir.file("config.json")) << c.dump();
    return test::error_of([&] { models::builtin_registry().load_model(dir.path()); });
  };
  rewrite("sparsity_structure", "unstructured");
  EXPECT_CONTAINS(rewrite("global_sparsity", 0.6), "sparsity_config says 60.0% of the weights are zero, but 0.0% are");
  EXPECT_CONTAINS(rewrite("format", "sparse-bitmask"), "sparsity_config format 'sparse-bitmask' is not read");
  EXPECT_CONTAINS(rewrite("format", "sparse-24-bitmask"),
                  "sparsity_config format 'sparse-24-bitmask' needs sparsity_structure 2:4, not 'unstructured'");
  rewrite("format", "dense");
  EXPECT_CONTAINS(rewrite("sparsity_structure", "4:8"), "sparsity_structure '4:8' is not read");
}

}  // namespace
}  // namespace octet
