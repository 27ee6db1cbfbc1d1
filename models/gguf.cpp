#include "models/gguf.h"

#include "engine/core/error.h"
#include "engine/io/gguf.h"
#include "engine/quant/quant.h"
#include "models/gpt2.h"
#include "models/llama.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <map>

namespace octet::models {

namespace {

using NameMap = std::map<std::string, std::string>;

// llama.cpp's name for the Hugging Face weight name `hf`: from `global`, or
// for "<layer_prefix>N.<rest>", "blk.N." and `layer`'s name for <rest>.
std::string gguf_name(const std::string& hf, const NameMap& global, const std::string& layer_prefix,
                      const NameMap& layer) {
  if (const auto it = global.find(hf); it != global.end()) return it->second;
  const std::size_t dot = hf.find('.', layer_prefix.size());
  if (hf.starts_with(layer_prefix) && dot != std::string::npos) {
    if (const auto it = layer.find(hf.substr(dot + 1)); it != layer.end()) {
      return "blk." + hf.substr(layer_prefix.size(), dot - layer_prefix.size()) + "." + it->second;
    }
  }
  return hf;
}

// llama.cpp's tensor names for a Hugging Face Llama weight name.
std::string gguf_llama_name(const std::string& hf) {
  static const NameMap kGlobal = {{"model.embed_tokens.weight", "token_embd.weight"},
                                  {"model.norm.weight", "output_norm.weight"},
                                  {"lm_head.weight", "output.weight"}};
  static const NameMap kLayer = {
      {"input_layernorm.weight", "attn_norm.weight"},    {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},       {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},       {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},          {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"}, {"self_attn.k_norm.weight", "attn_k_norm.weight"}};
  return gguf_name(hf, kGlobal, "model.layers.", kLayer);
}

// The end-of-sequence ids of the file's tokenizer (end of text and end of turn).
std::vector<std::int32_t> gguf_eos_ids(const GgufFile& g, std::int64_t vocab_size) {
  std::vector<std::int32_t> ids;
  for (const char* k : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    if (const auto id = g.find_int(k)) {
      if (*id < 0 || *id >= vocab_size) fail("{}: {} {} is outside the vocabulary of {}", g.path(), k, *id, vocab_size);
      if (ids.empty() || ids[0] != *id) ids.push_back(static_cast<std::int32_t>(*id));
    }
  }
  return ids;
}

// llama.cpp's converter writes Llama 3's rope_scaling as one factor per
// rotary pair (theta_i / factor_i is the pair's frequency): 1 for short
// wavelengths, `factor` for long ones, and between them
// 1 / ((1 - s) / factor + s), s = (original_context / wavelength - low) / (high - low).
// Llama 3.x models all use low 1 and high 4; `factor` is the largest factor;
// the original context follows from a pair between the two ends (or, when no
// pair is, any context that puts each pair on its side gives the same
// frequencies). The result is checked against every factor of the file.
RopeScaling llama3_scaling_from_factors(const Tensor& factors, double theta, std::int64_t head_dim,
                                        const std::string& path) {
  if (!(theta > 0) || !std::isfinite(theta)) fail("{}: rope.freq_base {} is not a positive number", path, theta);
  const std::int64_t pairs = head_dim / 2;
  if (factors.numel() != pairs) {
    fail("{}: rope_freqs.weight has {} values, the heads have {} rotary pairs", path, factors.numel(), pairs);
  }
  const float* f = factors.data<float>();
  RopeScaling s{RopeScalingType::Llama3, 1.0, 1.0, 4.0, 8192.0};
  for (std::int64_t i = 0; i < pairs; ++i) {
    if (!(f[i] >= 1.0f && f[i] <= 1e6f)) fail("{}: rope_freqs.weight[{}] is {}, not in [1, 1e6]", path, i, f[i]);
    s.factor = std::max(s.factor, static_cast<double>(f[i]));
  }
  const auto wavelength = [&](std::int64_t i) {
    return 2.0 * 3.141592653589793 / std::pow(theta, -2.0 * i / head_dim);
  };
  double above = 0.0, below = std::numeric_limits<double>::infinity();  // bounds on the original context
  bool solved = false;
  for (std::int64_t i = 0; i < pairs && s.factor > 1.0; ++i) {
    const double fi = f[i];
    if (std::abs(fi - 1.0) < 1e-6) {
      above = std::max(above, s.high_freq_factor * wavelength(i));
    } else if (std::abs(fi - s.factor) < 1e-6 * s.factor) {
      below = std::min(below, s.low_freq_factor * wavelength(i));
    } else if (!solved) {
      const double smooth = (1.0 / fi - 1.0 / s.factor) / (1.0 - 1.0 / s.factor);
      s.original_context = wavelength(i) * (smooth * (s.high_freq_factor - s.low_freq_factor) + s.low_freq_factor);
      solved = true;
    }
  }
  if (!solved) {
    s.original_context = 8192.0 > above && 8192.0 < below ? 8192.0
                         : std::isinf(below)              ? 2 * above + 1
                                                          : (above + below) / 2;
  }
  const RopeFrequencies plain{theta, {}}, scaled{theta, s};
  for (std::int64_t i = 0; i < pairs; ++i) {
    const double want = rope_inv_freq(plain, static_cast<int>(i), static_cast<int>(head_dim)) / f[i];
    const double got = rope_inv_freq(scaled, static_cast<int>(i), static_cast<int>(head_dim));
    if (!(std::abs(got - want) <= 1e-5 * want)) {  // NaN fails too
      fail(
          "{}: rope_freqs.weight is not Llama 3's rotary scaling (pair {}: factor {}; Llama 3 with factor {}, "
          "low 1, high 4, original context {:.0f} gives {})",
          path, i, f[i], s.factor, s.original_context,
          rope_inv_freq(plain, static_cast<int>(i), static_cast<int>(head_dim)) / got);
    }
  }
  return s;
}

LlamaConfig llama_config_from_gguf(const GgufFile& g, const std::string& arch) {
  const auto key = [&](const char* k) { return fmt::format("{}.{}", arch, k); };
  const std::string& path = g.path();
  LlamaConfig c;
  c.architecture = fmt::format("{} (GGUF v{}{})", arch, g.version(),
                               g.has("general.name") ? ", " + g.get_string("general.name") : std::string());
  c.hidden_size = g.get_int(key("embedding_length"));
  c.intermediate_size = g.get_int(key("feed_forward_length"));
  c.n_layers = g.get_int(key("block_count"));
  c.n_heads = g.get_int(key("attention.head_count"));
  c.n_kv_heads = g.find_int(key("attention.head_count_kv")).value_or(c.n_heads);
  c.head_dim = g.find_int(key("attention.key_length")).value_or(c.n_heads > 0 ? c.hidden_size / c.n_heads : 0);
  if (const auto rot = g.find_int(key("rope.dimension_count")); rot && *rot != c.head_dim) {
    fail("{}: rotary embedding over {} of {} head dimensions is not supported", path, *rot, c.head_dim);
  }
  if (const auto scaling = g.find_string(key("rope.scaling.type")); scaling && *scaling != "none") {
    if (*scaling != "linear") fail("{}: rope scaling '{}' is not supported (linear is)", path, *scaling);
    c.rope_scaling.type = RopeScalingType::Linear;
    c.rope_scaling.factor = g.get_float(key("rope.scaling.factor"));
    if (!(c.rope_scaling.factor >= 1.0) || c.rope_scaling.factor > 1e6) {
      fail("{}: rope.scaling.factor {} is not in [1, 1e6]", path, c.rope_scaling.factor);
    }
  }
  // Llama 3.1+ files carry their rope scaling as per-pair factors in a tensor.
  if (const GgufTensorInfo* factors = g.find_tensor("rope_freqs.weight")) {
    if (c.rope_scaling.type != RopeScalingType::None) {
      fail("{}: both rope.scaling.type and rope_freqs.weight scale the rotary embedding", path);
    }
    if (g.has(key("rope.freq_base"))) c.rope_theta = g.get_float(key("rope.freq_base"));
    c.rope_scaling = llama3_scaling_from_factors(g.dequantize(*factors), c.rope_theta, c.head_dim, path);
  }
  const GgufTensorInfo* embed = g.find_tensor("token_embd.weight");
  if (embed == nullptr) fail("{}: missing tensor 'token_embd.weight'", path);
  c.vocab_size = g.find_int(key("vocab_size")).value_or(embed->shape[0]);
  c.context_length = g.get_int(key("context_length"));
  c.rms_norm_eps = static_cast<float>(g.get_float(key("attention.layer_norm_rms_epsilon")));
  if (g.has(key("rope.freq_base"))) c.rope_theta = g.get_float(key("rope.freq_base"));
  // llama.cpp's converter permutes Llama's rows of q and k so that rotary
  // pairs are adjacent: as stored, they take the interleaved layout. Qwen's
  // it keeps as Hugging Face has them (llama.cpp rotates those in halves).
  c.rope_layout = arch == "llama" ? RopeLayout::Interleaved : RopeLayout::HalfSplit;
  c.family = arch;
  c.qkv_bias = arch == "qwen2";  // Qwen2's q, k and v projections always have biases
  c.qk_norm = arch == "qwen3";   // Qwen3 normalizes each head of q and k before the rotation
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  c.bos_id = static_cast<std::int32_t>(g.find_int("tokenizer.ggml.bos_token_id").value_or(-1));
  c.eos_ids = gguf_eos_ids(g, c.vocab_size);
  if (c.bos_id >= c.vocab_size) fail("{}: bos_token_id {} is outside the vocabulary", path, c.bos_id);
  return c;
}

// llama.cpp's names for GPT-2's tensors (Hugging Face's without "transformer.").
std::string gguf_gpt2_name(const std::string& hf) {
  static const NameMap kGlobal = {{"wte.weight", "token_embd.weight"},
                                  {"wpe.weight", "position_embd.weight"},
                                  {"ln_f.weight", "output_norm.weight"},
                                  {"ln_f.bias", "output_norm.bias"},
                                  {"lm_head.weight", "output.weight"}};
  static const NameMap kLayer = {{"ln_1.weight", "attn_norm.weight"},          {"ln_1.bias", "attn_norm.bias"},
                                 {"attn.c_attn.weight", "attn_qkv.weight"},    {"attn.c_attn.bias", "attn_qkv.bias"},
                                 {"attn.c_proj.weight", "attn_output.weight"}, {"attn.c_proj.bias", "attn_output.bias"},
                                 {"ln_2.weight", "ffn_norm.weight"},           {"ln_2.bias", "ffn_norm.bias"},
                                 {"mlp.c_fc.weight", "ffn_up.weight"},         {"mlp.c_fc.bias", "ffn_up.bias"},
                                 {"mlp.c_proj.weight", "ffn_down.weight"},     {"mlp.c_proj.bias", "ffn_down.bias"}};
  return gguf_name(hf, kGlobal, "h.", kLayer);
}

// GPT-2's hyperparameters from llama.cpp's metadata; validated by make_gpt2.
Gpt2Config gpt2_config_from_gguf(const GgufFile& g) {
  Gpt2Config c;
  c.d = g.get_int("gpt2.embedding_length");
  c.n_layers = g.get_int("gpt2.block_count");
  c.n_heads = g.get_int("gpt2.attention.head_count");
  c.ffn = g.find_int("gpt2.feed_forward_length").value_or(4 * c.d);
  c.positions = g.get_int("gpt2.context_length");
  c.eps = static_cast<float>(g.get_float("gpt2.attention.layer_norm_epsilon"));
  const GgufTensorInfo* embed = g.find_tensor("token_embd.weight");
  if (embed == nullptr) fail("{}: missing tensor 'token_embd.weight'", g.path());
  c.vocab = g.find_int("gpt2.vocab_size").value_or(embed->shape[0]);
  c.bos_id = static_cast<std::int32_t>(g.find_int("tokenizer.ggml.bos_token_id").value_or(-1));
  c.eos_ids = gguf_eos_ids(g, c.vocab);
  // Older converters wrote the tied head out as output.weight; newer ones leave it to the embedding.
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  return c;
}

// general.architecture, where octet runs it.
std::string architecture(const GgufFile& g) {
  const std::string arch = g.get_string("general.architecture");
  if (arch != "llama" && arch != "qwen2" && arch != "qwen3" && arch != "gpt2") {
    fail("{}: architecture '{}' is not one octet runs from GGUF (llama, qwen2, qwen3, gpt2)", g.path(), arch);
  }
  return arch;
}

// The file's tensor `gguf_name` dequantized to float32, its shape checked.
Tensor gguf_weight(const GgufFile& g, const std::string& gguf_name, const std::string& hf_name, const Shape& shape) {
  const GgufTensorInfo* t = g.find_tensor(gguf_name);
  if (t == nullptr) fail("{}: missing tensor '{}' ({})", g.path(), gguf_name, hf_name);
  if (t->shape != shape) {
    fail("{}: tensor '{}' has shape {}, expected {}", g.path(), gguf_name, shape_str(t->shape), shape_str(shape));
  }
  return g.dequantize(*t);
}

}  // namespace

HfForm gguf_as_hf(const std::string& path) {
  const GgufFile g(path);
  const std::string arch = architecture(g);
  if (arch == "gpt2") fail("{}: writing a GPT-2 GGUF file as a Hugging Face checkpoint is not supported yet", path);
  return llama_as_hf(llama_config_from_gguf(g, arch));
}

std::unique_ptr<Model> load_gguf(const std::string& path, const LoadOptions& options) {
  const GgufFile g(path);
  const std::string arch = architecture(g);
  if (arch == "gpt2") {
    // llama.cpp's converter stores GPT-2's Conv1D matrices transposed, as [out, in]: make_gpt2's layout.
    const auto lookup = [&](const std::string& name, const Shape& shape) {
      return gguf_weight(g, gguf_gpt2_name(name), name, shape);
    };
    return make_gpt2(gpt2_config_from_gguf(g), lookup, path, options);
  }
  const LlamaConfig c = llama_config_from_gguf(g, arch);
  const auto lookup = [&](const std::string& name, const Shape& shape) {
    return gguf_weight(g, gguf_llama_name(name), name, shape);
  };
  return make_llama(c, lookup, !c.tie_word_embeddings, path, options);
}

}  // namespace octet::models
