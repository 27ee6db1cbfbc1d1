#include "models/bert.h"

#include "engine/core/error.h"
#include "engine/io/compressed_tensors.h"
#include "engine/quant/quant.h"

#include <fmt/format.h>

#include <filesystem>
#include <optional>

namespace octet::models {

namespace {

// What a classification (or pooling) head does to the first token's state.
enum class HeadKind {
  BertPooler,   // pooler.dense + tanh, then classifier (BERT)
  RobertaHead,  // classifier.dense + tanh, then classifier.out_proj (RoBERTa)
  DistilHead,   // pre_classifier + ReLU, then classifier (DistilBERT)
  FirstToken,   // no head: the first token's hidden state
  MeanTokens,   // no head: the mean of the tokens' hidden states
};

// Heads whose dense layer reads the first token (a pooler or a classifier).
bool has_dense_head(HeadKind head) { return head != HeadKind::FirstToken && head != HeadKind::MeanTokens; }

struct BertConfig {
  std::string family;  // "bert", "roberta", "distilbert"
  std::string architecture;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t n_layers = 0;
  std::int64_t n_heads = 0;
  std::int64_t vocab_size = 0;
  std::int64_t max_positions = 0;    // max_position_embeddings (rows of the position table)
  std::int64_t position_offset = 0;  // RoBERTa: positions start after the padding index
  std::int64_t type_vocab_size = 0;  // 0: no token-type embeddings (DistilBERT)
  float eps = 1e-12f;
  std::int32_t pad_id = 0;
  std::vector<std::string> labels;  // empty: no classifier
  HeadKind head = HeadKind::FirstToken;
  bool normalize = false;  // the output vector divided by its L2 norm (sentence-transformers' Normalize)
};

// The Hugging Face tensor names of one family.
struct BertNames {
  std::string word, position, type, embed_norm;  // prefixes without ".weight"
  std::string layer;                             // "bert.encoder.layer.{}."
  std::string q, k, v, attn_out, attn_norm, ffn_up, ffn_down, ffn_norm;
  std::string dense, out;  // the head: dense (+ activation), then the classifier
};

BertNames names_for(const BertConfig& c, const BertWeights& weights) {
  BertNames n;
  if (c.family == "distilbert") {
    const std::string p = "distilbert.";
    n = {p + "embeddings.word_embeddings",
         p + "embeddings.position_embeddings",
         "",
         p + "embeddings.LayerNorm",
         p + "transformer.layer.{}.",
         "attention.q_lin",
         "attention.k_lin",
         "attention.v_lin",
         "attention.out_lin",
         "sa_layer_norm",
         "ffn.lin1",
         "ffn.lin2",
         "output_layer_norm",
         "pre_classifier",
         "classifier"};
  } else {
    // Task heads store the encoder under "bert." / "roberta."; a bare
    // BertModel checkpoint may store it without the prefix.
    std::string p = c.family + ".";
    if (!weights.contains(p + "embeddings.word_embeddings.weight")) p = "";
    n = {p + "embeddings.word_embeddings",
         p + "embeddings.position_embeddings",
         p + "embeddings.token_type_embeddings",
         p + "embeddings.LayerNorm",
         p + "encoder.layer.{}.",
         "attention.self.query",
         "attention.self.key",
         "attention.self.value",
         "attention.output.dense",
         "attention.output.LayerNorm",
         "intermediate.dense",
         "output.dense",
         "output.LayerNorm",
         "",
         ""};
    if (c.head == HeadKind::BertPooler) {
      n.dense = p + "pooler.dense";
      n.out = "classifier";
    } else if (c.head == HeadKind::RobertaHead) {
      n.dense = "classifier.dense";
      n.out = "classifier.out_proj";
    }
  }
  return n;
}

BertConfig bert_config_from_json(const Json& j, const std::string& path, const BertWeights& weights, Pooling pooling,
                                 const SentenceTransformersModules& modules) {
  BertConfig c;
  c.family = json_required<std::string>(j, "model_type", path);
  const auto architectures = json_optional<std::vector<std::string>>(j, "architectures", {}, path);
  if (!architectures.empty()) c.architecture = architectures[0];
  const bool distil = c.family == "distilbert";
  c.hidden_size = json_required<std::int64_t>(j, distil ? "dim" : "hidden_size", path);
  c.intermediate_size = json_required<std::int64_t>(j, distil ? "hidden_dim" : "intermediate_size", path);
  c.n_layers = json_required<std::int64_t>(j, distil ? "n_layers" : "num_hidden_layers", path);
  c.n_heads = json_required<std::int64_t>(j, distil ? "n_heads" : "num_attention_heads", path);
  c.vocab_size = json_required<std::int64_t>(j, "vocab_size", path);
  c.max_positions = json_optional<std::int64_t>(j, "max_position_embeddings", 512, path);
  c.type_vocab_size = distil ? 0 : json_optional<std::int64_t>(j, "type_vocab_size", 2, path);
  c.eps = distil ? 1e-12f : json_optional<float>(j, "layer_norm_eps", 1e-12f, path);
  c.pad_id = json_optional<std::int32_t>(j, "pad_token_id", distil || c.family == "bert" ? 0 : 1, path);
  if (c.family == "roberta") c.position_offset = std::int64_t{c.pad_id} + 1;
  const auto act = json_optional<std::string>(j, distil ? "activation" : "hidden_act", "gelu", path);
  if (act != "gelu") fail("{}: activation '{}' is not supported (only gelu, the exact erf form)", path, act);
  if (distil && json_optional<bool>(j, "sinusoidal_pos_embds", false, path)) {
    fail("{}: sinusoidal_pos_embds is not supported", path);
  }
  require_size(c.hidden_size, "hidden_size", path);
  require_size(c.intermediate_size, "intermediate_size", path);
  require_size(c.n_layers, "num_hidden_layers", path);
  require_size(c.n_heads, "num_attention_heads", path);
  require_size(c.vocab_size, "vocab_size", path);
  require_size(c.max_positions, "max_position_embeddings", path);
  require_size(c.max_positions - c.position_offset, "max_position_embeddings (after the position offset)", path);
  if (c.hidden_size % c.n_heads != 0) {
    fail("{}: hidden_size {} is not a multiple of num_attention_heads {}", path, c.hidden_size, c.n_heads);
  }
  if (c.pad_id < 0 || c.pad_id >= c.vocab_size) fail("{}: pad_token_id {} is outside the vocabulary", path, c.pad_id);

  const bool classifies = c.architecture.ends_with("ForSequenceClassification");
  if (classifies && pooling != Pooling::Auto) {
    fail("{}: {} has a classification head; --pooling is for encoders without one", path, c.architecture);
  }
  if (classifies) {
    c.head = distil ? HeadKind::DistilHead : c.family == "roberta" ? HeadKind::RobertaHead : HeadKind::BertPooler;
    // id2label names the classes; num_labels alone gives LABEL_0, LABEL_1, ...
    std::int64_t n_labels = json_optional<std::int64_t>(j, "num_labels", 2, path);
    if (j.contains("id2label")) {
      if (!j["id2label"].is_object()) fail("{}: 'id2label' must be an object", path);
      n_labels = static_cast<std::int64_t>(j["id2label"].size());
    }
    require_size(n_labels, "the number of labels", path);
    // Names are made before the classifier's shape is checked; a num_labels
    // of 2^31 must not make two billion of them first.
    constexpr std::int64_t kMaxLabels = 1 << 20;
    if (n_labels > kMaxLabels) fail("{}: {} labels is more than octet supports ({})", path, n_labels, kMaxLabels);
    for (std::int64_t i = 0; i < n_labels; ++i) {
      const std::string key = std::to_string(i);
      if (j.contains("id2label")) {
        if (!j["id2label"].contains(key) || !j["id2label"][key].is_string()) {
          fail("{}: id2label has no string for class {} (classes must be numbered 0..{})", path, i, n_labels - 1);
        }
        c.labels.push_back(j["id2label"][key].get<std::string>());
      } else {
        c.labels.push_back("LABEL_" + key);
      }
    }
  } else if (c.architecture.empty() || c.architecture.ends_with("Model")) {
    // A bare encoder: the pooling asked for, else the sentence-transformers
    // module's, else BERT's pooled output when the checkpoint has the pooler.
    const std::string p = weights.contains("bert.pooler.dense.weight") ? "bert." : "";
    const bool has_pooler = c.family == "bert" && weights.contains(p + "pooler.dense.weight");
    const Pooling chosen =
        pooling != Pooling::Auto ? pooling : modules.pooling.value_or(has_pooler ? Pooling::Pooler : Pooling::First);
    if (chosen == Pooling::Pooler && !has_pooler) {
      fail("{}: pooling 'pooler' needs BERT's pooler weights (pooler.dense), which this checkpoint does not have",
           path);
    }
    c.head = chosen == Pooling::Pooler ? HeadKind::BertPooler
             : chosen == Pooling::Mean ? HeadKind::MeanTokens
                                       : HeadKind::FirstToken;
    c.normalize = modules.normalize;
  } else {
    fail("{}: architecture '{}' is not supported; octet runs {}ForSequenceClassification and bare encoders", path,
         c.architecture, c.family);
  }
  return c;
}

struct BertLayer {
  Tensor wq, bq, wk, bk, wv, bv, wo, bo, attn_norm_w, attn_norm_b, w_up, b_up, w_down, b_down, ffn_norm_w, ffn_norm_b;
};

class BertModel final : public Model {
 public:
  BertModel(BertConfig config, BertNames names, std::vector<std::pair<std::string, Tensor>> weights, std::string source)
      : config_(std::move(config)), names_(std::move(names)), weights_(std::move(weights)) {
    const BertConfig& c = config_;
    info_.kind = ModelKind::Encoder;
    info_.family = c.family;
    info_.architecture = c.architecture;
    info_.source = std::move(source);
    info_.vocab_size = c.vocab_size;
    info_.context_length = c.max_positions - c.position_offset;
    info_.n_layers = c.n_layers;
    info_.hidden_size = c.hidden_size;
    info_.labels = c.labels;
    info_.pad_id = c.pad_id;
    const char* heads[] = {"pooler (tanh) + classifier", "dense (tanh) + out_proj",
                           "pre_classifier (ReLU) + classifier", "first token's hidden state",
                           "mean of the tokens' hidden states"};
    const std::string output = c.labels.empty() && c.head == HeadKind::BertPooler ? "pooled embedding (pooler, tanh)"
                                                                                  : heads[static_cast<int>(c.head)];
    info_.details = {
        {"heads", fmt::format("{}, head_dim {}", c.n_heads, c.hidden_size / c.n_heads)},
        {"ffn", fmt::format("GELU, {}", c.intermediate_size)},
        {"output", c.normalize ? output + ", L2-normalized" : output},
        {"labels", c.labels.empty() ? "none (embeddings)" : fmt::format("{}", fmt::join(c.labels, ", "))},
    };
  }

  const ModelInfo& info() const override { return info_; }
  std::vector<std::pair<std::string, Tensor>> weights() const override { return weights_; }
  void replace_weights(const WeightReplacement& replacement) override {
    for (auto& [name, w] : weights_) w = replacement(name, w);
  }

  Graph build_graph(const GraphRequest& req) const override {
    const BertConfig& c = config_;
    const BertNames& n = names_;
    const std::int64_t B = req.batch, T = req.n_tokens, BT = B * T, d = c.hidden_size;
    if (T > info_.context_length) fail("{}: {} tokens exceed the {} positions", info_.source, T, info_.context_length);
    Graph g;
    const int tokens = g.add_input("tokens", DType::I32, {BT});
    const int types = g.add_input("token_types", DType::I32, {BT});
    const int positions = g.add_input("positions", DType::I32, {BT});
    const int lengths = g.add_input("lengths", DType::I32, {B});
    const auto w = [&](const std::string& name) { return g.add_weight(name, weight(name)); };
    const auto linear = [&](const std::string& name, const std::string& prefix, int x, std::int64_t rows,
                            std::int64_t out) {
      return g.add_node(OpKind::MatMul, name, {x, w(prefix + ".weight"), w(prefix + ".bias")}, {rows, out});
    };
    const NodeParams norm{.eps = c.eps};
    const auto layer_norm = [&](const std::string& name, const std::string& prefix, int x, std::int64_t rows) {
      return g.add_node(OpKind::LayerNorm, name, {x, w(prefix + ".weight"), w(prefix + ".bias")}, {rows, d}, norm);
    };

    int x = g.add_node(OpKind::Embedding, "tok_embd", {w(n.word + ".weight"), tokens}, {BT, d});
    // RoBERTa's first position_offset rows belong to padding: the graph reads
    // the table after them, so that positions count from 0 for every family.
    const Tensor& table = weight(n.position + ".weight");
    const int pos_table = g.add_weight(
        n.position + ".weight",
        c.position_offset == 0 ? table
                               : Tensor::borrowed(DType::F32, {info_.context_length, d},
                                                  const_cast<float*>(table.data<float>() + c.position_offset * d)));
    const int pos = g.add_node(OpKind::Embedding, "pos_embd", {pos_table, positions}, {BT, d});
    x = g.add_node(OpKind::Add, "embd_pos", {x, pos}, {BT, d});
    if (c.type_vocab_size > 0) {
      const int type = g.add_node(OpKind::Embedding, "type_embd", {w(n.type + ".weight"), types}, {BT, d});
      x = g.add_node(OpKind::Add, "embd_type", {x, type}, {BT, d});
    }
    x = layer_norm("embd_norm", n.embed_norm, x, BT);

    const NodeParams attn{.head_dim = static_cast<int>(d / c.n_heads), .n_heads = static_cast<int>(c.n_heads)};
    for (std::int64_t l = 0; l < c.n_layers; ++l) {
      const std::string p = fmt::format(fmt::runtime(n.layer), l);
      const auto name = [&](const char* what) { return fmt::format("blk.{}.{}", l, what); };
      const int q = linear(name("attn_q"), p + n.q, x, BT, d);
      const int k = linear(name("attn_k"), p + n.k, x, BT, d);
      const int v = linear(name("attn_v"), p + n.v, x, BT, d);
      // An int8 layer's attention may run its products in bf16, or in
      // integers where the CPU has no bf16 (NodeParams).
      const QuantParams* q_quant = weight(p + n.q + ".weight").quant();
      NodeParams layer_attn = attn;
      layer_attn.bf16_attention = q_quant != nullptr && q_quant->scheme == QuantScheme::Int8;
      layer_attn.integer_attention = layer_attn.bf16_attention;
      int a = g.add_node(OpKind::MaskedAttention, name("attn"), {q, k, v, lengths}, {BT, d}, layer_attn);
      // After the last attention only the first token of each sequence feeds
      // the output (unless it is the mean of all of them): the rest of the
      // last block runs on B rows, not B * T.
      std::int64_t rows = BT;
      if (l + 1 == c.n_layers && c.head != HeadKind::MeanTokens) {
        a = g.add_node(OpKind::FirstRows, name("attn_first"), {a}, {B, d});
        x = g.add_node(OpKind::FirstRows, name("input_first"), {x}, {B, d});
        rows = B;
      }
      const int o = linear(name("attn_out"), p + n.attn_out, a, rows, d);
      x = g.add_node(OpKind::Add, name("attn_residual"), {x, o}, {rows, d});
      x = layer_norm(name("attn_norm"), p + n.attn_norm, x, rows);
      const int up = linear(name("ffn_up"), p + n.ffn_up, x, rows, c.intermediate_size);
      const int act = g.add_node(OpKind::Gelu, name("ffn_act"), {up}, {rows, c.intermediate_size});
      const int down = linear(name("ffn_down"), p + n.ffn_down, act, rows, d);
      x = g.add_node(OpKind::Add, name("ffn_residual"), {x, down}, {rows, d});
      x = layer_norm(name("ffn_norm"), p + n.ffn_norm, x, rows);
    }
    if (c.head == HeadKind::MeanTokens) x = g.add_node(OpKind::MeanRows, "mean_pool", {x, lengths}, {B, d});
    if (has_dense_head(c.head)) {
      x = linear("head_dense", n.dense, x, B, d);
      x = g.add_node(c.head == HeadKind::DistilHead ? OpKind::Relu : OpKind::Tanh, "head_act", {x}, {B, d});
      if (!c.labels.empty()) {
        x = linear("logits", n.out, x, B, static_cast<std::int64_t>(c.labels.size()));
      }
    }
    if (c.normalize) x = g.add_node(OpKind::L2Normalize, "normalize", {x}, {B, d});
    g.set_output(x);
    return g;
  }

 private:
  const Tensor& weight(const std::string& name) const {
    for (const auto& [key, t] : weights_) {
      if (key == name) return t;
    }
    fail("{}: no weight '{}'", info_.source, name);
  }

  BertConfig config_;
  BertNames names_;
  ModelInfo info_;
  std::vector<std::pair<std::string, Tensor>> weights_;  // Hugging Face names, as loaded (matmuls quantized)
};

}  // namespace

std::unique_ptr<Model> make_bert(const Json& config, const std::string& config_path, const BertWeights& store,
                                 std::string source, const LoadOptions& options,
                                 const SentenceTransformersModules& modules) {
  const BertConfig c = bert_config_from_json(config, config_path, store, options.pooling, modules);
  const BertNames n = names_for(c, store);
  if (!options.smoothing.empty()) fail("{}: SmoothQuant is not implemented for encoders", source);
  const std::int64_t d = c.hidden_size, ffn = c.intermediate_size;
  std::vector<std::pair<std::string, Tensor>> weights;
  // Position and type embeddings, norms and biases stay float; the word
  // embedding table is int8 rows under the int8 schemes (quantize_embedding).
  const auto plain = [&](const std::string& name, const Shape& shape) {
    weights.emplace_back(name, to_f32(store.get(name, shape)));
  };
  // Matmul weights get the recipe's scheme (or keep the checkpoint's).
  const auto linear = [&](const std::string& prefix, std::int64_t out, std::int64_t in) {
    const std::string name = prefix + ".weight";
    Tensor t = quantize_weight(prune_at_load(name, store.get(name, {out, in}), options, source),
                               options.quant.scheme_for(name));
    const auto it = options.input_scales.find(name);
    if (it != options.input_scales.end() && t.quant() != nullptr && t.quant()->scheme == QuantScheme::Int8) {
      t = with_input_scale(t, it->second);
    }
    weights.emplace_back(name, std::move(t));
    plain(prefix + ".bias", {out});
  };
  const auto norm = [&](const std::string& prefix) {
    plain(prefix + ".weight", {d});
    plain(prefix + ".bias", {d});
  };
  const std::string word = n.word + ".weight";
  weights.emplace_back(word,
                       quantize_embedding(store.get(word, {c.vocab_size, d}), options.quant.table_scheme_for(word)));
  plain(n.position + ".weight", {c.max_positions, d});
  if (c.type_vocab_size > 0) plain(n.type + ".weight", {c.type_vocab_size, d});
  norm(n.embed_norm);
  for (std::int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = fmt::format(fmt::runtime(n.layer), l);
    linear(p + n.q, d, d);
    linear(p + n.k, d, d);
    linear(p + n.v, d, d);
    linear(p + n.attn_out, d, d);
    norm(p + n.attn_norm);
    linear(p + n.ffn_up, ffn, d);
    linear(p + n.ffn_down, d, ffn);
    norm(p + n.ffn_norm);
  }
  if (has_dense_head(c.head)) {
    linear(n.dense, d, d);
    if (!c.labels.empty()) linear(n.out, static_cast<std::int64_t>(c.labels.size()), d);
  }
  return std::make_unique<BertModel>(c, n, std::move(weights), std::move(source));
}

std::unique_ptr<Model> load_bert_hf(const Json& config, const std::string& config_path, const WeightStore& store,
                                    const LoadOptions& options) {
  const std::optional<CheckpointQuant> stored = checkpoint_scheme(config, config_path);
  const BertWeights weights{[&](const std::string& name) { return store.contains(name); },
                            [&](const std::string& name, const Shape& shape) {
                              const Tensor t = store.get(name, shape);
                              if (!stored) return t;
                              CheckpointQuant quant = *stored;  // a table has no activations to scale
                              quant.static_activations &= !name.ends_with("word_embeddings.weight");
                              return with_checkpoint_scales(store, name, t, quant);
                            }};
  const std::string dir = std::filesystem::path(config_path).parent_path().string();
  return make_bert(config, config_path, weights, dir, options, read_sentence_transformers(dir));
}

SentenceTransformersModules read_sentence_transformers(const std::string& model_dir) {
  SentenceTransformersModules out;
  const std::filesystem::path modules_path = std::filesystem::path(model_dir) / "modules.json";
  if (!std::filesystem::exists(modules_path)) return out;
  const Json modules = read_json_file(modules_path.string());
  if (!modules.is_array()) fail("{}: expected a list of modules", modules_path.string());
  for (const Json& m : modules) {
    const std::string type = json_optional<std::string>(m, "type", "", modules_path.string());
    if (type == "sentence_transformers.models.Normalize") out.normalize = true;
    if (type != "sentence_transformers.models.Pooling") continue;
    const std::string config_path = (std::filesystem::path(model_dir) /
                                     json_required<std::string>(m, "path", modules_path.string()) / "config.json")
                                        .string();
    const Json pc = read_json_file(config_path);
    const auto mode = [&](const char* key) { return json_optional<bool>(pc, key, false, config_path); };
    for (const char* unsupported : {"pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                                    "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
      if (mode(unsupported))
        fail("{}: {} is not supported (octet pools by cls token or mean)", config_path, unsupported);
    }
    const bool cls = mode("pooling_mode_cls_token"), mean = mode("pooling_mode_mean_tokens");
    if (cls == mean) {
      fail("{}: exactly one of pooling_mode_cls_token and pooling_mode_mean_tokens must be true", config_path);
    }
    out.pooling = cls ? Pooling::First : Pooling::Mean;
  }
  return out;
}

}  // namespace octet::models
