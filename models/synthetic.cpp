#include "models/synthetic.h"

#include "engine/core/error.h"
#include "engine/core/random_tensor.h"
#include "models/bert.h"
#include "models/llama.h"

#include <fmt/ranges.h>

#include <cstring>
#include <map>

namespace octet::models {

namespace {

// Shapes of well-known checkpoints: llama2.c's stories15M and stories110M,
// TinyLlama 1.1B, Llama 2 7B.
LlamaConfig preset(std::int64_t d, std::int64_t ffn, std::int64_t layers, std::int64_t heads, std::int64_t kv_heads,
                   std::int64_t ctx) {
  LlamaConfig c;
  c.architecture = "LlamaForCausalLM (synthetic, random weights)";
  c.hidden_size = d;
  c.intermediate_size = ffn;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.head_dim = d / heads;
  c.vocab_size = 32000;
  c.context_length = ctx;
  return c;
}

const std::map<std::string, LlamaConfig>& presets() {
  static const std::map<std::string, LlamaConfig> table{
      {"llama-15m", preset(288, 768, 6, 6, 6, 256)},
      {"llama-110m", preset(768, 2048, 12, 12, 12, 1024)},
      {"llama-1.1b", preset(2048, 5632, 22, 32, 4, 2048)},
      {"llama-7b", preset(4096, 11008, 32, 32, 32, 4096)},
  };
  return table;
}

// Encoder shapes, as the config.json of the real checkpoints says them:
// BERT-base and BERT-large (uncased vocabulary), with a two-class head.
Json bert_preset(std::int64_t d, std::int64_t layers, std::int64_t heads) {
  return {{"model_type", "bert"},
          {"architectures", {"BertForSequenceClassification"}},
          {"hidden_size", d},
          {"num_hidden_layers", layers},
          {"num_attention_heads", heads},
          {"intermediate_size", 4 * d},
          {"vocab_size", 30522},
          {"max_position_embeddings", 512},
          {"type_vocab_size", 2},
          {"id2label", {{"0", "LABEL_0"}, {"1", "LABEL_1"}}}};
}

const std::map<std::string, Json>& encoder_presets() {
  static const std::map<std::string, Json> table{
      {"bert-base", bert_preset(768, 12, 12)},
      {"bert-large", bert_preset(1024, 24, 16)},
  };
  return table;
}

// Random values with a trained model's scale: norm weights near 1, others small.
Tensor random_weight(const std::string& name, const Shape& shape, std::uint64_t& seed) {
  seed += 0x632be59bd9b4e019ull;
  if (name.ends_with("norm.weight") || name.ends_with("LayerNorm.weight") || name.ends_with("layer_norm.weight")) {
    Tensor t = random_uniform(shape, seed, 0.1f);
    for (float& v : t.f32_mut()) v += 1.0f;
    return t;
  }
  return random_uniform(shape, seed, 0.05f);
}

std::unique_ptr<Model> synthetic_encoder(const Json& config, const std::string& spec, const LoadOptions& options) {
  std::uint64_t seed = 1;
  const BertWeights weights{
      [](const std::string&) { return true; },
      [&](const std::string& name, const Shape& shape) { return random_weight(name, shape, seed); }};
  return make_bert(config, "synthetic:" + spec, weights, "synthetic:" + spec, options);
}

}  // namespace

std::vector<std::string> synthetic_presets() {
  std::vector<std::string> out;
  for (const auto& [name, c] : presets()) out.push_back(name);
  for (const auto& [name, c] : encoder_presets()) out.push_back(name);
  return out;
}

std::unique_ptr<Model> load_synthetic(const std::string& spec, const LoadOptions& options) {
  LlamaConfig c;
  if (auto it = encoder_presets().find(spec); it != encoder_presets().end()) {
    return synthetic_encoder(it->second, spec, options);
  }
  if (auto it = presets().find(spec); it != presets().end()) {
    c = it->second;
  } else if (spec.size() > 5 && spec.ends_with(".json")) {
    const Json config = read_json_file(spec);
    const std::string type = json_optional<std::string>(config, "model_type", "llama", spec);
    if (type == "bert" || type == "roberta" || type == "distilbert") return synthetic_encoder(config, spec, options);
    c = llama_config_from_json(config, spec);
    c.architecture += " (synthetic, random weights)";
  } else {
    fail("synthetic:{} is neither a preset ({}) nor a config.json path", spec, fmt::join(synthetic_presets(), ", "));
  }
  std::uint64_t seed = 1;
  const auto lookup = [&](const std::string& name, const Shape& shape) { return random_weight(name, shape, seed); };
  return make_llama(c, lookup, !c.tie_word_embeddings, "synthetic:" + spec, options);
}

}  // namespace octet::models
