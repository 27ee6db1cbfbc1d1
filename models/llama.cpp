#include "models/llama.h"

#include "engine/core/error.h"
#include "engine/io/compressed_tensors.h"
#include "engine/quant/quant.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

namespace octet::models {

namespace {

struct LlamaLayer {
  Tensor attn_norm;                  // [d]
  Tensor wq;                         // [n_heads * head_dim, d]
  Tensor wk;                         // [n_kv_heads * head_dim, d]
  Tensor wv;                         // [n_kv_heads * head_dim, d]
  Tensor wo;                         // [d, n_heads * head_dim]
  Tensor ffn_norm;                   // [d]
  Tensor w_gate;                     // [ffn, d]
  Tensor w_up;                       // [ffn, d]
  Tensor w_down;                     // [d, ffn]
  Tensor bq = {}, bk = {}, bv = {};  // [n_heads * head_dim], [kv], [kv] with qkv_bias; else empty
  Tensor q_norm = {};                // [head_dim] with qk_norm; else empty
  Tensor k_norm = {};                // [head_dim] with qk_norm; else empty
};

std::string scaling_text(const RopeScaling& s) {
  switch (s.type) {
    case RopeScalingType::Linear:
      return fmt::format(", linear scaling x{}", s.factor);
    case RopeScalingType::Llama3:
      return fmt::format(", llama3 scaling x{} (from {} positions)", s.factor, s.original_context);
    default:
      return "";
  }
}

class LlamaModel final : public MemberWeightsModel<LlamaModel> {
 public:
  LlamaModel(LlamaConfig config, Tensor embed, std::vector<LlamaLayer> layers, Tensor norm, Tensor lm_head,
             std::string source, DType kv_cache)
      : config_(std::move(config)),
        embed_(std::move(embed)),
        layers_(std::move(layers)),
        norm_(std::move(norm)),
        lm_head_(std::move(lm_head)),
        kv_cache_(kv_cache) {
    info_.family = config_.family;
    info_.architecture = config_.architecture;
    info_.source = std::move(source);
    info_.vocab_size = config_.vocab_size;
    info_.context_length = config_.context_length;
    info_.n_layers = config_.n_layers;
    info_.hidden_size = config_.hidden_size;
    info_.bos_id = config_.bos_id;
    info_.eos_ids = config_.eos_ids;
    info_.details = {
        {"heads",
         fmt::format("{} query, {} key/value, head_dim {}", config_.n_heads, config_.n_kv_heads, config_.head_dim)},
        {"ffn", fmt::format("SwiGLU, {}", config_.intermediate_size)},
        {"attention", fmt::format("{}{}", config_.qkv_bias ? "q/k/v biases" : "no biases",
                                  config_.qk_norm ? ", per-head RMSNorm of q and k" : "")},
        {"rope", fmt::format("theta {}, {} layout{}", config_.rope_theta,
                             config_.rope_layout == RopeLayout::HalfSplit ? "half-split" : "interleaved",
                             scaling_text(config_.rope_scaling))},
        {"embeddings", config_.tie_word_embeddings ? "tied to lm_head" : "separate lm_head"},
        {"kv cache", kv_cache_ == DType::F8E4M3 ? "fp8 (E4M3, a scale per token and head)" : "float"},
    };
  }

  const ModelInfo& info() const override { return info_; }

  std::vector<NormFeeds> smoothable() const override {
    std::vector<NormFeeds> out;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const auto p = fmt::format("model.layers.{}.", l);
      out.push_back({p + "input_layernorm.weight",
                     {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"}});
      out.push_back({p + "post_attention_layernorm.weight", {p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"}});
    }
    return out;
  }

  Graph build_graph(const GraphRequest& req) const override {
    const LlamaConfig& c = config_;
    const std::int64_t B = req.batch;
    const std::int64_t T = req.total_rows();  // rows: every sequence's tokens, sequence after sequence
    const std::int64_t kv_dim = c.n_kv_heads * c.head_dim;
    const std::int64_t q_dim = c.n_heads * c.head_dim;
    Graph g;
    const int tokens = g.add_input("tokens", DType::I32, {T});
    int x = g.add_node(OpKind::Embedding, "tok_embd", {g.add_weight("model.embed_tokens.weight", embed_), tokens},
                       {T, c.hidden_size});
    NodeParams norm{.eps = c.rms_norm_eps};
    NodeParams rope{.rope_theta = c.rope_theta,
                    .rope_layout = c.rope_layout,
                    .rope_scaling = c.rope_scaling,
                    .head_dim = static_cast<int>(c.head_dim),
                    .batch = req.batch};
    NodeParams attn{.head_dim = static_cast<int>(c.head_dim),
                    .n_heads = static_cast<int>(c.n_heads),
                    .n_kv_heads = static_cast<int>(c.n_kv_heads),
                    .batch = req.batch};
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const LlamaLayer& L = layers_[l];
      const auto w = [&](const char* name, const Tensor& t) {
        return g.add_weight(fmt::format("model.layers.{}.{}", l, name), t);
      };
      const auto n = [&](const char* name) { return fmt::format("blk.{}.{}", l, name); };
      const int h = g.add_node(OpKind::RmsNorm, n("attn_norm"), {x, w("input_layernorm.weight", L.attn_norm)},
                               {T, c.hidden_size}, norm);
      // A projection, with its bias where the family has one.
      const auto project = [&](const char* name, const char* proj, const Tensor& wt, const Tensor& bias,
                               std::int64_t out) {
        std::vector<int> in{h, w(fmt::format("self_attn.{}.weight", proj).c_str(), wt)};
        if (c.qkv_bias) in.push_back(w(fmt::format("self_attn.{}.bias", proj).c_str(), bias));
        return g.add_node(OpKind::MatMul, n(name), in, {T, out});
      };
      int q = project("attn_q", "q_proj", L.wq, L.bq, q_dim);
      int k = project("attn_k", "k_proj", L.wk, L.bk, kv_dim);
      const int v = project("attn_v", "v_proj", L.wv, L.bv, kv_dim);
      if (c.qk_norm) {  // RmsNorm normalizes rows as long as its weight: here each head of each token
        q = g.add_node(OpKind::RmsNorm, n("attn_q_norm"), {q, w("self_attn.q_norm.weight", L.q_norm)}, {T, q_dim},
                       norm);
        k = g.add_node(OpKind::RmsNorm, n("attn_k_norm"), {k, w("self_attn.k_norm.weight", L.k_norm)}, {T, kv_dim},
                       norm);
      }
      const int q_rot = g.add_node(OpKind::Rope, n("attn_q_rope"), {q}, {T, q_dim}, rope);
      const int k_rot = g.add_node(OpKind::Rope, n("attn_k_rope"), {k}, {T, kv_dim}, rope);
      std::vector<int> attn_in{q_rot, k_rot, v, g.add_state(n("k_cache"), kv_cache_, {B * req.n_ctx, kv_dim}),
                               g.add_state(n("v_cache"), kv_cache_, {B * req.n_ctx, kv_dim})};
      if (kv_cache_ == DType::F8E4M3) {
        attn_in.push_back(g.add_state(n("k_cache_scale"), DType::F32, {B * req.n_ctx, c.n_kv_heads}));
        attn_in.push_back(g.add_state(n("v_cache_scale"), DType::F32, {B * req.n_ctx, c.n_kv_heads}));
      }
      // An int8 layer's attention may take its products in integers (NodeParams).
      NodeParams layer_attn = attn;
      layer_attn.integer_attention = L.wq.quant() != nullptr && L.wq.quant()->scheme == QuantScheme::Int8;
      const int a = g.add_node(OpKind::Attention, n("attn"), attn_in, {T, q_dim}, layer_attn);
      const int o =
          g.add_node(OpKind::MatMul, n("attn_out"), {a, w("self_attn.o_proj.weight", L.wo)}, {T, c.hidden_size});
      x = g.add_node(OpKind::Add, n("attn_residual"), {x, o}, {T, c.hidden_size});
      const int f = g.add_node(OpKind::RmsNorm, n("ffn_norm"), {x, w("post_attention_layernorm.weight", L.ffn_norm)},
                               {T, c.hidden_size}, norm);
      const int gate =
          g.add_node(OpKind::MatMul, n("ffn_gate"), {f, w("mlp.gate_proj.weight", L.w_gate)}, {T, c.intermediate_size});
      const int up =
          g.add_node(OpKind::MatMul, n("ffn_up"), {f, w("mlp.up_proj.weight", L.w_up)}, {T, c.intermediate_size});
      const int act = g.add_node(OpKind::SiluMul, n("ffn_act"), {gate, up}, {T, c.intermediate_size});
      const int down =
          g.add_node(OpKind::MatMul, n("ffn_down"), {act, w("mlp.down_proj.weight", L.w_down)}, {T, c.hidden_size});
      x = g.add_node(OpKind::Add, n("ffn_residual"), {x, down}, {T, c.hidden_size});
    }
    std::int64_t rows = T;
    if (!req.all_logits) {
      x = g.add_node(OpKind::LastRows, "last_rows", {x}, {B, c.hidden_size});
      rows = B;
    }
    x = g.add_node(OpKind::RmsNorm, "output_norm", {x, g.add_weight("model.norm.weight", norm_)}, {rows, c.hidden_size},
                   norm);
    // A tied float lm_head is the embedding table itself.
    const int head =
        head_is_embedding() ? g.find("model.embed_tokens.weight") : g.add_weight("lm_head.weight", lm_head_);
    const int logits = g.add_node(OpKind::MatMul, "logits", {x, head}, {rows, c.vocab_size});
    g.set_output(req.argmax && !req.all_logits ? g.add_node(OpKind::Argmax, "argmax", {logits}, {rows}, {}, DType::I32)
                                               : logits);
    return g;
  }

 private:
  friend class MemberWeightsModel<LlamaModel>;  // reads visit_weights
  bool head_is_embedding() const { return lm_head_.raw() == embed_.raw(); }

  LlamaConfig config_;
  ModelInfo info_;
  // f(Hugging Face name, weight) for every weight, in checkpoint order;
  // `Self` is LlamaModel or const LlamaModel.
  template <typename Self, typename F>
  static void visit_weights(Self& self, const F& f) {
    f("model.embed_tokens.weight", self.embed_);
    for (std::size_t l = 0; l < self.layers_.size(); ++l) {
      const auto p = fmt::format("model.layers.{}.", l);
      auto& L = self.layers_[l];
      f(p + "input_layernorm.weight", L.attn_norm);
      f(p + "self_attn.q_proj.weight", L.wq);
      f(p + "self_attn.k_proj.weight", L.wk);
      f(p + "self_attn.v_proj.weight", L.wv);
      f(p + "self_attn.o_proj.weight", L.wo);
      f(p + "post_attention_layernorm.weight", L.ffn_norm);
      f(p + "mlp.gate_proj.weight", L.w_gate);
      f(p + "mlp.up_proj.weight", L.w_up);
      f(p + "mlp.down_proj.weight", L.w_down);
      if (self.config_.qkv_bias) {
        f(p + "self_attn.q_proj.bias", L.bq);
        f(p + "self_attn.k_proj.bias", L.bk);
        f(p + "self_attn.v_proj.bias", L.bv);
      }
      if (self.config_.qk_norm) {
        f(p + "self_attn.q_norm.weight", L.q_norm);
        f(p + "self_attn.k_norm.weight", L.k_norm);
      }
    }
    f("model.norm.weight", self.norm_);
    if (!self.head_is_embedding()) f("lm_head.weight", self.lm_head_);
  }

  Tensor embed_;                    // [vocab, d]: float, or int8 rows (quantize_embedding)
  std::vector<LlamaLayer> layers_;  // n_layers
  Tensor norm_;                     // [d]
  Tensor lm_head_;                  // [vocab, d]; the embedding table when tied and float
  DType kv_cache_;                  // F32 or F8E4M3 (with a scale per row and key/value head)
};

}  // namespace

void validate_llama_config(const LlamaConfig& c, const std::string& source) {
  require_size(c.hidden_size, "hidden_size", source);
  require_size(c.intermediate_size, "intermediate_size", source);
  require_size(c.n_layers, "num_hidden_layers", source);
  require_size(c.n_heads, "num_attention_heads", source);
  require_size(c.n_kv_heads, "num_key_value_heads", source);
  require_size(c.head_dim, "head_dim", source);
  require_size(c.vocab_size, "vocab_size", source);
  require_size(c.context_length, "max_position_embeddings", source);
  if (c.n_heads % c.n_kv_heads != 0) {
    fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", source, c.n_heads, c.n_kv_heads);
  }
  if (c.head_dim % 2 != 0) fail("{}: head_dim {} must be even for rotary embeddings", source, c.head_dim);
  if (!(c.rope_theta > 0)) fail("{}: rope_theta must be positive", source);
}

namespace {

// rope_scaling as transformers 4 writes it, or rope_parameters as transformers
// 5 does (which also carries rope_theta); types other than linear and llama3
// are refused by name.
RopeScaling rope_scaling_from_json(const Json& j, const std::string& path, double& theta) {
  const char* key =
      j.contains("rope_parameters") && !j["rope_parameters"].is_null() ? "rope_parameters" : "rope_scaling";
  if (!j.contains(key) || j[key].is_null()) return {};
  const Json& s = j[key];
  if (!s.is_object()) fail("{}: {} is not an object", path, key);
  if (s.contains("rope_theta")) theta = json_required<double>(s, "rope_theta", path);
  const std::string type =
      json_optional<std::string>(s, "rope_type", json_optional<std::string>(s, "type", "default", path), path);
  RopeScaling r;
  if (type == "default") return r;
  r.factor = json_required<double>(s, "factor", path);
  if (!(r.factor >= 1.0) || r.factor > 1e6) fail("{}: {}.factor {} is not in [1, 1e6]", path, key, r.factor);
  if (type == "linear") {
    r.type = RopeScalingType::Linear;
  } else if (type == "llama3") {
    r.type = RopeScalingType::Llama3;
    r.low_freq_factor = json_required<double>(s, "low_freq_factor", path);
    r.high_freq_factor = json_required<double>(s, "high_freq_factor", path);
    r.original_context = json_required<double>(s, "original_max_position_embeddings", path);
    if (!(r.low_freq_factor > 0) || !(r.high_freq_factor > r.low_freq_factor) || !(r.original_context >= 1)) {
      fail("{}: {} needs 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings >= 1", path, key);
    }
  } else {
    fail("{}: {} of type '{}' is not supported (linear and llama3 are)", path, key, type);
  }
  return r;
}

}  // namespace

LlamaConfig llama_config_from_json(const Json& j, const std::string& path) {
  LlamaConfig c;
  const auto architectures = json_optional<std::vector<std::string>>(j, "architectures", {}, path);
  if (!architectures.empty()) c.architecture = architectures[0];
  c.hidden_size = json_required<std::int64_t>(j, "hidden_size", path);
  c.intermediate_size = json_required<std::int64_t>(j, "intermediate_size", path);
  c.n_layers = json_required<std::int64_t>(j, "num_hidden_layers", path);
  c.n_heads = json_required<std::int64_t>(j, "num_attention_heads", path);
  c.n_kv_heads = json_optional<std::int64_t>(j, "num_key_value_heads", c.n_heads, path);
  c.head_dim = json_optional<std::int64_t>(j, "head_dim", c.n_heads > 0 ? c.hidden_size / c.n_heads : 0, path);
  c.vocab_size = json_required<std::int64_t>(j, "vocab_size", path);
  c.context_length = json_optional<std::int64_t>(j, "max_position_embeddings", 2048, path);
  c.rms_norm_eps = json_optional<float>(j, "rms_norm_eps", 1e-6f, path);
  c.rope_theta = json_optional<double>(j, "rope_theta", 10000.0, path);
  c.tie_word_embeddings = json_optional<bool>(j, "tie_word_embeddings", false, path);
  c.bos_id = json_optional<std::int32_t>(j, "bos_token_id", 1, path);
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array()) {
    c.eos_ids = json_required<std::vector<std::int32_t>>(j, "eos_token_id", path);
  } else {
    c.eos_ids = {json_optional<std::int32_t>(j, "eos_token_id", 2, path)};
  }
  const auto act = json_optional<std::string>(j, "hidden_act", "silu", path);
  if (act != "silu") fail("{}: hidden_act '{}' is not supported for llama (only silu)", path, act);
  c.rope_scaling = rope_scaling_from_json(j, path, c.rope_theta);
  if (json_optional<bool>(j, "mlp_bias", false, path)) fail("{}: mlp_bias is not supported", path);
  c.qkv_bias = json_optional<bool>(j, "attention_bias", false, path);
  if (c.qkv_bias && json_optional<std::string>(j, "model_type", "llama", path) == "llama") {
    fail("{}: attention_bias is not supported for llama (it would bias o_proj too)", path);
  }
  // Mistral's sliding window is not implemented; within the window attention is
  // identical, so the usable context is capped there rather than computed wrong.
  const auto window = json_optional<bool>(j, "use_sliding_window", true, path)
                          ? json_optional<std::int64_t>(j, "sliding_window", 0, path)
                          : 0;
  if (window > 0 && window < c.context_length) c.context_length = window;
  validate_llama_config(c, path);
  return c;
}

Json llama_config_to_json(const LlamaConfig& c) {
  static const std::map<std::string, std::string> kArchitecture = {
      {"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"}};
  const auto arch = kArchitecture.find(c.family);
  if (arch == kArchitecture.end()) fail("no Hugging Face config.json for model family '{}'", c.family);
  Json j = {{"architectures", {arch->second}},
            {"model_type", c.family},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.n_layers},
            {"num_attention_heads", c.n_heads},
            {"num_key_value_heads", c.n_kv_heads},
            {"head_dim", c.head_dim},
            {"vocab_size", c.vocab_size},
            {"max_position_embeddings", c.context_length},
            {"rms_norm_eps", c.rms_norm_eps},
            {"rope_theta", c.rope_theta},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"hidden_act", "silu"},
            {"torch_dtype", "float32"}};
  if (c.bos_id >= 0) j["bos_token_id"] = c.bos_id;
  if (c.eos_ids.size() == 1) j["eos_token_id"] = c.eos_ids[0];
  if (c.eos_ids.size() > 1) j["eos_token_id"] = c.eos_ids;
  if (c.family == "llama") j["attention_bias"] = false;
  switch (c.rope_scaling.type) {
    case RopeScalingType::None:
      break;
    case RopeScalingType::Linear:
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope_scaling.factor}};
      break;
    case RopeScalingType::Llama3:
      j["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", c.rope_scaling.factor},
                           {"low_freq_factor", c.rope_scaling.low_freq_factor},
                           {"high_freq_factor", c.rope_scaling.high_freq_factor},
                           {"original_max_position_embeddings", c.rope_scaling.original_context}};
      break;
  }
  return j;
}

HfForm llama_as_hf(const LlamaConfig& c) {
  HfForm out{llama_config_to_json(c), [](const std::string&, const Tensor& w) { return w; }};
  if (c.rope_layout != RopeLayout::Interleaved) return out;
  // Head h's row 2 i + j (pair i, half j) as stored is row j * head_dim / 2 + i in Hugging Face's order.
  out.to_hf_rows = [head_dim = c.head_dim](const std::string& name, const Tensor& w) {
    if (!name.ends_with("self_attn.q_proj.weight") && !name.ends_with("self_attn.k_proj.weight")) return w;
    const auto permuted = [&](const Tensor& t) {
      const std::int64_t rows = t.dim(0), row_bytes = static_cast<std::int64_t>(t.nbytes()) / rows;
      Tensor hf = Tensor::zeros(t.dtype(), t.shape());
      const auto* src = static_cast<const std::uint8_t*>(t.raw());
      auto* dst = static_cast<std::uint8_t*>(hf.raw_mut());
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t head = r / head_dim, i = r % head_dim / 2, half = r % 2;
        std::memcpy(dst + (head * head_dim + half * head_dim / 2 + i) * row_bytes, src + r * row_bytes,
                    static_cast<std::size_t>(row_bytes));
      }
      return hf;
    };
    const QuantParams* q = w.quant();
    if (q == nullptr) return permuted(w);
    auto params = std::make_shared<QuantParams>(*q);
    params->scale = permuted(q->scale.reshaped({w.dim(0), 1})).reshaped(q->scale.shape());
    return permuted(w).with_quant(std::move(params));
  };
  return out;
}

std::unique_ptr<Model> make_llama(const LlamaConfig& c, const WeightLookup& lookup, bool has_lm_head,
                                  std::string source, const LoadOptions& options) {
  validate_llama_config(c, source);
  const std::int64_t d = c.hidden_size, kv = c.n_kv_heads * c.head_dim, q = c.n_heads * c.head_dim,
                     ffn = c.intermediate_size;
  // Norms and embeddings stay float; matmul weights get the recipe's scheme,
  // after SmoothQuant's factors (if any) move between a norm and its matmuls.
  const auto factors = [&](const std::string& norm) -> const std::vector<float>* {
    const auto it = options.smoothing.find(norm);
    if (it == options.smoothing.end()) return nullptr;
    if (static_cast<std::int64_t>(it->second.size()) != d) {
      fail("{}: smoothing factors for '{}' have {} entries, expected {}", source, norm, it->second.size(), d);
    }
    return &it->second;
  };
  const auto get = [&](const std::string& name, const Shape& shape) {
    const std::vector<float>* s = factors(name);
    if (s == nullptr) return to_f32(lookup(name, shape));
    Tensor w = Tensor::zeros(DType::F32, shape);
    const Tensor src = to_f32(lookup(name, shape));
    for (std::int64_t j = 0; j < d; ++j)
      w.data_mut<float>()[j] = src.data<float>()[j] / (*s)[static_cast<std::size_t>(j)];
    return w;
  };
  // Static activation scales (calibrated) go with int8 weights only.
  const auto with_static_scale = [&](const std::string& name, Tensor w) {
    const auto it = options.input_scales.find(name);
    if (it == options.input_scales.end() || w.quant() == nullptr || w.quant()->scheme != QuantScheme::Int8) return w;
    return with_input_scale(w, it->second);
  };
  const auto linear = [&](const std::string& name, const Shape& shape, const std::string& fed_by = "") {
    const std::vector<float>* s = fed_by.empty() ? nullptr : factors(fed_by);
    if (s == nullptr)
      return with_static_scale(name, quantize_weight(prune_at_load(name, lookup(name, shape), options, source),
                                                     options.quant.scheme_for(name)));
    const Tensor src = lookup(name, shape);
    if (src.quant() != nullptr) fail("{}: '{}' is already quantized; smoothing needs float weights", source, name);
    Tensor w = Tensor::zeros(DType::F32, shape);
    const Tensor f = to_f32(src);
    for (std::int64_t r = 0; r < shape[0]; ++r)
      for (std::int64_t j = 0; j < d; ++j)
        w.data_mut<float>()[r * d + j] = f.data<float>()[r * d + j] * (*s)[static_cast<std::size_t>(j)];
    return with_static_scale(name,
                             quantize_weight(prune_at_load(name, w, options, source), options.quant.scheme_for(name)));
  };
  const std::string embed_name = "model.embed_tokens.weight";
  Tensor embed = lookup(embed_name, {c.vocab_size, d});  // int8 in an int8 octet checkpoint
  if (embed.quant() == nullptr) embed = to_f32(embed);
  // The head before the blocks: its float form (the largest tensor, as big as the embedding
  // table) is then made while little else is in memory, not on top of every quantized block.
  LlamaConfig config = c;
  Tensor lm_head;
  if (has_lm_head) {
    lm_head = linear("lm_head.weight", {c.vocab_size, d});
    config.tie_word_embeddings = false;
  } else {
    if (!c.tie_word_embeddings) fail("{}: missing tensor 'lm_head.weight' (tie_word_embeddings is false)", source);
    // A tied head quantizes into its own copy (a float one is the table itself).
    lm_head =
        with_static_scale("lm_head.weight", quantize_weight(prune_at_load("lm_head.weight", embed, options, source),
                                                            options.quant.scheme_for("lm_head.weight")));
  }
  // A float head tied to the table is the table itself: then the table stays float. (A
  // checkpoint's int8 table is tagged w8 either way: nothing may pack it for a product.)
  if (embed.quant() != nullptr || lm_head.raw() != embed.raw()) {
    embed = quantize_embedding(embed, options.quant.table_scheme_for(embed_name));
  }
  std::vector<LlamaLayer> layers;
  for (std::int64_t l = 0; l < c.n_layers; ++l) {
    const auto p = fmt::format("model.layers.{}.", l);
    const std::string attn_norm = p + "input_layernorm.weight", ffn_norm = p + "post_attention_layernorm.weight";
    layers.push_back(
        {get(attn_norm, {d}), linear(p + "self_attn.q_proj.weight", {q, d}, attn_norm),
         linear(p + "self_attn.k_proj.weight", {kv, d}, attn_norm),
         linear(p + "self_attn.v_proj.weight", {kv, d}, attn_norm), linear(p + "self_attn.o_proj.weight", {d, q}),
         get(ffn_norm, {d}), linear(p + "mlp.gate_proj.weight", {ffn, d}, ffn_norm),
         linear(p + "mlp.up_proj.weight", {ffn, d}, ffn_norm), linear(p + "mlp.down_proj.weight", {d, ffn})});
    LlamaLayer& L = layers.back();
    if (c.qkv_bias) {
      L.bq = get(p + "self_attn.q_proj.bias", {q});
      L.bk = get(p + "self_attn.k_proj.bias", {kv});
      L.bv = get(p + "self_attn.v_proj.bias", {kv});
    }
    if (c.qk_norm) {
      L.q_norm = get(p + "self_attn.q_norm.weight", {c.head_dim});
      L.k_norm = get(p + "self_attn.k_norm.weight", {c.head_dim});
    }
  }
  Tensor norm = get("model.norm.weight", {d});
  if (options.kv_cache != DType::F32 && options.kv_cache != DType::F8E4M3) {
    fail("{}: a KV cache of {} is not supported (f32 or fp8)", source, dtype_name(options.kv_cache));
  }
  return std::make_unique<LlamaModel>(std::move(config), std::move(embed), std::move(layers), std::move(norm),
                                      std::move(lm_head), std::move(source), options.kv_cache);
}

std::unique_ptr<Model> load_llama_hf(const Json& config, const std::string& config_path, const WeightStore& weights,
                                     const LoadOptions& options) {
  return make_llama_hf(llama_config_from_json(config, config_path), config, config_path, weights, options);
}

namespace {

// generation_config.json's eos_token_id (one id or a list) joins config.json's:
// Llama 3 Instruct ends its turns with <|eot_id|>, which only that file names.
void add_generation_eos(LlamaConfig& c, const std::string& model_dir) {
  const auto path = std::filesystem::path(model_dir) / "generation_config.json";
  if (!std::filesystem::exists(path)) return;
  const Json j = read_json_file(path.string());
  if (!j.is_object() || !j.contains("eos_token_id") || j["eos_token_id"].is_null()) return;
  const auto ids = j["eos_token_id"].is_array()
                       ? json_required<std::vector<std::int32_t>>(j, "eos_token_id", path.string())
                       : std::vector<std::int32_t>{json_required<std::int32_t>(j, "eos_token_id", path.string())};
  for (const std::int32_t id : ids) {
    if (id < 0 || id >= c.vocab_size) {
      fail("{}: eos_token_id {} is outside the vocabulary of {}", path.string(), id, c.vocab_size);
    }
    if (std::find(c.eos_ids.begin(), c.eos_ids.end(), id) == c.eos_ids.end()) c.eos_ids.push_back(id);
  }
}

}  // namespace

std::unique_ptr<Model> make_llama_hf(const LlamaConfig& config_in, const Json& config, const std::string& config_path,
                                     const WeightStore& weights, const LoadOptions& options) {
  LlamaConfig c = config_in;
  add_generation_eos(c, std::filesystem::path(config_path).parent_path().string());
  const std::optional<CheckpointQuant> stored = checkpoint_scheme(config, config_path);
  const auto lookup = [&](const std::string& name, const Shape& shape) {
    const Tensor t = weights.get(name, shape);
    if (!stored) return t;
    CheckpointQuant quant = *stored;
    quant.static_activations &= name != "model.embed_tokens.weight";  // a table has no activations to scale
    return with_checkpoint_scales(weights, name, t, quant);
  };
  // Some tied checkpoints still store lm_head.weight; using it is equivalent.
  return make_llama(c, lookup, weights.contains("lm_head.weight"),
                    std::filesystem::path(config_path).parent_path().string(), options);
}

}  // namespace octet::models
