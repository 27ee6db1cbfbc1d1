#include "models/gpt2.h"

#include "engine/core/error.h"
#include "engine/quant/quant.h"

#include <cmath>
#include <filesystem>

namespace octet::models {

namespace {

struct Gpt2Layer {
  Tensor ln1_w, ln1_b;    // [d]
  Tensor wq, wk, wv;      // [d, d] each, rows of c_attn's columns
  Tensor bq, bk, bv;      // [d]
  Tensor wo, bo;          // [d, d], [d]
  Tensor ln2_w, ln2_b;    // [d]
  Tensor w_fc, b_fc;      // [ffn, d], [ffn]
  Tensor w_proj, b_proj;  // [d, ffn], [d]
};

class Gpt2Model final : public MemberWeightsModel<Gpt2Model> {
 public:
  Gpt2Model(Gpt2Config c, Tensor wte, Tensor wpe, std::vector<Gpt2Layer> layers, Tensor lnf_w, Tensor lnf_b,
            Tensor head, std::string source, DType kv_cache)
      : c_(c),
        wte_(std::move(wte)),
        wpe_(std::move(wpe)),
        layers_(std::move(layers)),
        lnf_w_(std::move(lnf_w)),
        lnf_b_(std::move(lnf_b)),
        head_(std::move(head)),
        kv_cache_(kv_cache) {
    info_.family = "gpt2";
    info_.architecture = "GPT2LMHeadModel";
    info_.source = std::move(source);
    info_.vocab_size = c.vocab;
    info_.context_length = c.positions;
    info_.n_layers = c.n_layers;
    info_.hidden_size = c.d;
    info_.bos_id = c.bos_id;
    info_.eos_ids = c.eos_ids;
    info_.details = {{"heads", fmt::format("{}, head_dim {}", c.n_heads, c.d / c.n_heads)},
                     {"ffn", fmt::format("gelu_new (tanh form), {}", c.ffn)},
                     {"positions", fmt::format("learned, {}", c.positions)},
                     {"embeddings", c.tie_word_embeddings ? "tied to lm_head" : "separate lm_head"},
                     {"kv cache", kv_cache_ == DType::F8E4M3 ? "fp8 (E4M3, a scale per token and head)" : "float"}};
  }

  const ModelInfo& info() const override { return info_; }

  Graph build_graph(const GraphRequest& req) const override {
    const std::int64_t B = req.batch, T = req.total_rows(), d = c_.d;
    Graph g;
    const int tokens = g.add_input("tokens", DType::I32, {T});
    const int positions = g.add_input("positions", DType::I32, {T});
    const int tok =
        g.add_node(OpKind::Embedding, "tok_embd", {g.add_weight("transformer.wte.weight", wte_), tokens}, {T, d});
    const int pos =
        g.add_node(OpKind::Embedding, "pos_embd", {g.add_weight("transformer.wpe.weight", wpe_), positions}, {T, d});
    int x = g.add_node(OpKind::Add, "embd", {tok, pos}, {T, d});
    const NodeParams norm{.eps = c_.eps};
    const NodeParams attn{.head_dim = static_cast<int>(d / c_.n_heads),
                          .n_heads = static_cast<int>(c_.n_heads),
                          .n_kv_heads = static_cast<int>(c_.n_heads),
                          .batch = req.batch};
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const Gpt2Layer& L = layers_[l];
      const auto w = [&](const char* name, const Tensor& t) {
        return g.add_weight(fmt::format("transformer.h.{}.{}", l, name), t);
      };
      const auto n = [&](const char* name) { return fmt::format("blk.{}.{}", l, name); };
      const auto linear = [&](const char* name, int in, const char* wname, const Tensor& wt, const char* bname,
                              const Tensor& bt, std::int64_t out) {
        return g.add_node(OpKind::MatMul, n(name), {in, w(wname, wt), w(bname, bt)}, {T, out});
      };
      const int h = g.add_node(OpKind::LayerNorm, n("attn_norm"),
                               {x, w("ln_1.weight", L.ln1_w), w("ln_1.bias", L.ln1_b)}, {T, d}, norm);
      const int q = linear("attn_q", h, "attn.q_proj.weight", L.wq, "attn.q_proj.bias", L.bq, d);
      const int k = linear("attn_k", h, "attn.k_proj.weight", L.wk, "attn.k_proj.bias", L.bk, d);
      const int v = linear("attn_v", h, "attn.v_proj.weight", L.wv, "attn.v_proj.bias", L.bv, d);
      std::vector<int> attn_in{q, k, v, g.add_state(n("k_cache"), kv_cache_, {B * req.n_ctx, d}),
                               g.add_state(n("v_cache"), kv_cache_, {B * req.n_ctx, d})};
      if (kv_cache_ == DType::F8E4M3) {
        attn_in.push_back(g.add_state(n("k_cache_scale"), DType::F32, {B * req.n_ctx, c_.n_heads}));
        attn_in.push_back(g.add_state(n("v_cache_scale"), DType::F32, {B * req.n_ctx, c_.n_heads}));
      }
      const int a = g.add_node(OpKind::Attention, n("attn"), attn_in, {T, d}, attn);
      const int o = linear("attn_out", a, "attn.c_proj.weight", L.wo, "attn.c_proj.bias", L.bo, d);
      x = g.add_node(OpKind::Add, n("attn_residual"), {x, o}, {T, d});
      const int f = g.add_node(OpKind::LayerNorm, n("ffn_norm"),
                               {x, w("ln_2.weight", L.ln2_w), w("ln_2.bias", L.ln2_b)}, {T, d}, norm);
      const int up = linear("ffn_up", f, "mlp.c_fc.weight", L.w_fc, "mlp.c_fc.bias", L.b_fc, c_.ffn);
      const int act = g.add_node(OpKind::GeluTanh, n("ffn_act"), {up}, {T, c_.ffn});
      const int down = linear("ffn_down", act, "mlp.c_proj.weight", L.w_proj, "mlp.c_proj.bias", L.b_proj, d);
      x = g.add_node(OpKind::Add, n("ffn_residual"), {x, down}, {T, d});
    }
    std::int64_t rows = T;
    if (!req.all_logits) {
      x = g.add_node(OpKind::LastRows, "last_rows", {x}, {B, d});
      rows = B;
    }
    x = g.add_node(OpKind::LayerNorm, "output_norm",
                   {x, g.add_weight("transformer.ln_f.weight", lnf_w_), g.add_weight("transformer.ln_f.bias", lnf_b_)},
                   {rows, d}, norm);
    const int head =
        head_.raw() == wte_.raw() ? g.find("transformer.wte.weight") : g.add_weight("lm_head.weight", head_);
    const int logits = g.add_node(OpKind::MatMul, "logits", {x, head}, {rows, c_.vocab});
    g.set_output(req.argmax && !req.all_logits ? g.add_node(OpKind::Argmax, "argmax", {logits}, {rows}, {}, DType::I32)
                                               : logits);
    return g;
  }

 private:
  friend class MemberWeightsModel<Gpt2Model>;  // reads visit_weights
  // f(Hugging Face name, weight) for every weight; `Self` is Gpt2Model or const Gpt2Model.
  // Names of the Hugging Face checkpoint where a tensor is one of its own;
  // c_attn's thirds as q/k/v, transposed to [out, in] like every matrix here.
  template <typename Self, typename F>
  static void visit_weights(Self& self, const F& f) {
    f("transformer.wte.weight", self.wte_);
    f("transformer.wpe.weight", self.wpe_);
    for (std::size_t l = 0; l < self.layers_.size(); ++l) {
      const auto p = fmt::format("transformer.h.{}.", l);
      auto& L = self.layers_[l];
      f(p + "ln_1.weight", L.ln1_w);
      f(p + "ln_1.bias", L.ln1_b);
      f(p + "attn.q_proj.weight", L.wq);
      f(p + "attn.q_proj.bias", L.bq);
      f(p + "attn.k_proj.weight", L.wk);
      f(p + "attn.k_proj.bias", L.bk);
      f(p + "attn.v_proj.weight", L.wv);
      f(p + "attn.v_proj.bias", L.bv);
      f(p + "attn.c_proj.weight", L.wo);
      f(p + "attn.c_proj.bias", L.bo);
      f(p + "ln_2.weight", L.ln2_w);
      f(p + "ln_2.bias", L.ln2_b);
      f(p + "mlp.c_fc.weight", L.w_fc);
      f(p + "mlp.c_fc.bias", L.b_fc);
      f(p + "mlp.c_proj.weight", L.w_proj);
      f(p + "mlp.c_proj.bias", L.b_proj);
    }
    f("transformer.ln_f.weight", self.lnf_w_);
    f("transformer.ln_f.bias", self.lnf_b_);
    if (self.head_.raw() != self.wte_.raw()) f("lm_head.weight", self.head_);
  }

  Gpt2Config c_;
  ModelInfo info_;
  Tensor wte_;                     // [vocab, d]: float, or int8 rows (quantize_embedding)
  Tensor wpe_;                     // [positions, d]
  std::vector<Gpt2Layer> layers_;  // n_layers
  Tensor lnf_w_, lnf_b_;           // [d]
  Tensor head_;                    // [vocab, d]; wte_ itself when float
  DType kv_cache_;
};

Gpt2Config gpt2_config(const Json& j, const std::string& path) {
  Gpt2Config c;
  c.d = json_required<std::int64_t>(j, "n_embd", path);
  c.n_layers = json_required<std::int64_t>(j, "n_layer", path);
  c.n_heads = json_required<std::int64_t>(j, "n_head", path);
  c.ffn = json_optional<std::int64_t>(j, "n_inner", 4 * c.d, path);
  c.vocab = json_required<std::int64_t>(j, "vocab_size", path);
  c.positions = json_optional<std::int64_t>(j, "n_positions", 1024, path);
  c.eps = json_optional<float>(j, "layer_norm_epsilon", 1e-5f, path);
  c.bos_id = json_optional<std::int32_t>(j, "bos_token_id", -1, path);
  c.eos_ids = {json_optional<std::int32_t>(j, "eos_token_id", 50256, path)};
  c.tie_word_embeddings = json_optional<bool>(j, "tie_word_embeddings", true, path);
  validate_gpt2_config(c, path);
  const auto act = json_optional<std::string>(j, "activation_function", "gelu_new", path);
  if (act != "gelu_new") fail("{}: activation_function '{}' is not supported for gpt2 (gelu_new is)", path, act);
  if (!json_optional<bool>(j, "scale_attn_weights", true, path) ||
      json_optional<bool>(j, "scale_attn_by_inverse_layer_idx", false, path)) {
    fail("{}: GPT-2 attention without the usual 1/sqrt(head_dim) scale is not supported", path);
  }
  if (j.contains("quantization_config")) fail("{}: quantized GPT-2 checkpoints are not read yet", path);
  return c;
}

}  // namespace

void validate_gpt2_config(const Gpt2Config& c, const std::string& source) {
  for (const auto& [key, what] : {std::pair{"n_embd", c.d},
                                  {"n_layer", c.n_layers},
                                  {"n_head", c.n_heads},
                                  {"n_inner", c.ffn},
                                  {"vocab_size", c.vocab},
                                  {"n_positions", c.positions}}) {
    require_size(what, key, source);
  }
  if (c.d % c.n_heads != 0) fail("{}: n_embd {} is not a multiple of n_head {}", source, c.d, c.n_heads);
  if (!(c.eps > 0.0f) || !std::isfinite(c.eps))
    fail("{}: layer_norm_epsilon {} is not a positive number", source, c.eps);
  if (c.bos_id >= c.vocab) fail("{}: bos_token_id {} is outside the vocabulary of {}", source, c.bos_id, c.vocab);
  for (const std::int32_t eos : c.eos_ids) {
    if (eos < 0 || eos >= c.vocab) fail("{}: eos_token_id {} is outside the vocabulary of {}", source, eos, c.vocab);
  }
}

std::unique_ptr<Model> make_gpt2(const Gpt2Config& c, const WeightLookup& lookup, std::string source,
                                 const LoadOptions& options) {
  validate_gpt2_config(c, source);
  const std::int64_t d = c.d;
  const auto plain = [&](const std::string& name, const Shape& shape) { return to_f32(lookup(name, shape)); };
  // Rows [first, first + n) of an [out, in] matrix.
  const auto rows = [](const Tensor& w, std::int64_t first, std::int64_t n) {
    const std::int64_t in = w.dim(1);
    Tensor t = Tensor::zeros(DType::F32, {n, in});
    std::copy_n(w.data<float>() + first * in, n * in, t.data_mut<float>());
    return t;
  };
  const auto bias_slice = [](const Tensor& b, std::int64_t first, std::int64_t n) {
    Tensor t = Tensor::zeros(DType::F32, {n});
    std::copy_n(b.data<float>() + first, n, t.data_mut<float>());
    return t;
  };
  const auto quantized = [&](const std::string& name, Tensor w) {
    return quantize_weight(prune_at_load(name, w, options, source), options.quant.scheme_for(name));
  };
  if (options.kv_cache != DType::F32 && options.kv_cache != DType::F8E4M3) {
    fail("{}: a KV cache of {} is not supported (f32 or fp8)", source, dtype_name(options.kv_cache));
  }
  if (!options.smoothing.empty() || !options.input_scales.empty()) {
    fail("{}: SmoothQuant and static scales are not supported for GPT-2 yet", source);
  }
  std::vector<Gpt2Layer> layers;
  for (std::int64_t l = 0; l < c.n_layers; ++l) {
    const auto p = fmt::format("h.{}.", l);
    const auto q = fmt::format("transformer.h.{}.", l);  // the names the recipe sees
    Gpt2Layer L;
    L.ln1_w = plain(p + "ln_1.weight", {d});
    L.ln1_b = plain(p + "ln_1.bias", {d});
    const Tensor qkv = plain(p + "attn.c_attn.weight", {3 * d, d});
    L.wq = quantized(q + "attn.q_proj.weight", rows(qkv, 0, d));
    L.wk = quantized(q + "attn.k_proj.weight", rows(qkv, d, d));
    L.wv = quantized(q + "attn.v_proj.weight", rows(qkv, 2 * d, d));
    const Tensor qkv_bias = plain(p + "attn.c_attn.bias", {3 * d});
    L.bq = bias_slice(qkv_bias, 0, d);
    L.bk = bias_slice(qkv_bias, d, d);
    L.bv = bias_slice(qkv_bias, 2 * d, d);
    L.wo = quantized(q + "attn.c_proj.weight", plain(p + "attn.c_proj.weight", {d, d}));
    L.bo = plain(p + "attn.c_proj.bias", {d});
    L.ln2_w = plain(p + "ln_2.weight", {d});
    L.ln2_b = plain(p + "ln_2.bias", {d});
    L.w_fc = quantized(q + "mlp.c_fc.weight", plain(p + "mlp.c_fc.weight", {c.ffn, d}));
    L.b_fc = plain(p + "mlp.c_fc.bias", {c.ffn});
    L.w_proj = quantized(q + "mlp.c_proj.weight", plain(p + "mlp.c_proj.weight", {d, c.ffn}));
    L.b_proj = plain(p + "mlp.c_proj.bias", {d});
    layers.push_back(std::move(L));
  }
  Tensor wte = plain("wte.weight", {c.vocab, d});
  Tensor wpe = plain("wpe.weight", {c.positions, d});
  // A tied float head is the embedding itself; quantized, or untied, its own tensor.
  const QuantScheme head_scheme = options.quant.scheme_for("lm_head.weight");
  const Tensor head_values = prune_at_load(
      "lm_head.weight", !c.tie_word_embeddings ? plain("lm_head.weight", {c.vocab, d}) : wte, options, source);
  Tensor head = head_scheme == QuantScheme::F32 ? head_values : quantize_weight(head_values, head_scheme);
  // A float head tied to the table is the table itself: then the table stays float.
  if (head.raw() != wte.raw()) wte = quantize_embedding(wte, options.quant.table_scheme_for("transformer.wte.weight"));
  return std::make_unique<Gpt2Model>(c, std::move(wte), std::move(wpe), std::move(layers), plain("ln_f.weight", {d}),
                                     plain("ln_f.bias", {d}), std::move(head), std::move(source), options.kv_cache);
}

std::unique_ptr<Model> load_gpt2_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                    const LoadOptions& options) {
  const Gpt2Config c = gpt2_config(config, config_path);
  // GPT2LMHeadModel saves under "transformer."; the original hub files have no prefix.
  const std::string prefix = weights.contains("transformer.wte.weight") ? "transformer." : "";
  // Conv1D stores [in, out]: transposed here to [out, in].
  const auto lookup = [&](const std::string& name, const Shape& shape) {
    if (name == "lm_head.weight") return weights.get(name, shape);  // beside "transformer.", not in it
    const bool conv = shape.size() == 2 && !name.ends_with("wte.weight") && !name.ends_with("wpe.weight");
    if (!conv) return weights.get(prefix + name, shape);
    const std::int64_t out = shape[0], in = shape[1];
    const Tensor w = to_f32(weights.get(prefix + name, {in, out}));
    Tensor t = Tensor::zeros(DType::F32, {out, in});
    const float* src = w.data<float>();
    float* dst = t.data_mut<float>();
    for (std::int64_t r = 0; r < out; ++r)
      for (std::int64_t i = 0; i < in; ++i) dst[r * in + i] = src[i * out + r];
    return t;
  };
  return make_gpt2(c, lookup, std::filesystem::path(config_path).parent_path().string(), options);
}

}  // namespace octet::models
