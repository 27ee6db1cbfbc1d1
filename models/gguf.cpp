#include "models/gguf.h"

#include "engine/core/error.h"
#include "engine/io/gguf.h"
#include "models/llama.h"

#include <fmt/format.h>

#include <map>

namespace octet::models {

namespace {

// llama.cpp's tensor names for a Hugging Face Llama weight name.
std::string gguf_llama_name(const std::string& hf) {
  static const std::map<std::string, std::string> kGlobal = {{"model.embed_tokens.weight", "token_embd.weight"},
                                                             {"model.norm.weight", "output_norm.weight"},
                                                             {"lm_head.weight", "output.weight"}};
  static const std::map<std::string, std::string> kLayer = {
      {"input_layernorm.weight", "attn_norm.weight"},    {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},       {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  if (const auto it = kGlobal.find(hf); it != kGlobal.end()) return it->second;
  const std::string prefix = "model.layers.";
  const std::size_t dot = hf.find('.', prefix.size());
  if (hf.starts_with(prefix) && dot != std::string::npos) {
    if (const auto it = kLayer.find(hf.substr(dot + 1)); it != kLayer.end()) {
      return "blk." + hf.substr(prefix.size(), dot - prefix.size()) + "." + it->second;
    }
  }
  return hf;
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
  if (g.find_tensor("rope_freqs.weight") != nullptr) {
    fail(
        "{}: rotary frequency factors (rope_freqs.weight, Llama 3.1 and later) are not supported yet from GGUF; "
        "load the Hugging Face checkpoint, whose rope_scaling octet reads",
        path);
  }
  const GgufTensorInfo* embed = g.find_tensor("token_embd.weight");
  if (embed == nullptr) fail("{}: missing tensor 'token_embd.weight'", path);
  c.vocab_size = g.find_int(key("vocab_size")).value_or(embed->shape[0]);
  c.context_length = g.get_int(key("context_length"));
  c.rms_norm_eps = static_cast<float>(g.get_float(key("attention.layer_norm_rms_epsilon")));
  if (g.has(key("rope.freq_base"))) c.rope_theta = g.get_float(key("rope.freq_base"));
  // llama.cpp's converter permutes the rows of q and k so that rotary pairs
  // are adjacent: as stored, they take the interleaved layout.
  c.rope_layout = RopeLayout::Interleaved;
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  c.bos_id = static_cast<std::int32_t>(g.find_int("tokenizer.ggml.bos_token_id").value_or(-1));
  c.eos_ids.clear();
  for (const char* k : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    if (const auto id = g.find_int(k)) {
      if (*id < 0 || *id >= c.vocab_size) fail("{}: {} {} is outside the vocabulary of {}", path, k, *id, c.vocab_size);
      if (c.eos_ids.empty() || c.eos_ids[0] != *id) c.eos_ids.push_back(static_cast<std::int32_t>(*id));
    }
  }
  if (c.bos_id >= c.vocab_size) fail("{}: bos_token_id {} is outside the vocabulary", path, c.bos_id);
  return c;
}

}  // namespace

std::unique_ptr<Model> load_gguf(const std::string& path, const LoadOptions& options) {
  const GgufFile g(path);
  const std::string arch = g.get_string("general.architecture");
  if (arch != "llama") fail("{}: architecture '{}' is not one octet runs from GGUF (llama)", path, arch);
  const LlamaConfig c = llama_config_from_gguf(g, arch);
  const auto lookup = [&](const std::string& name, const Shape& shape) {
    const std::string gguf_name = gguf_llama_name(name);
    const GgufTensorInfo* t = g.find_tensor(gguf_name);
    if (t == nullptr) fail("{}: missing tensor '{}' ({})", path, gguf_name, name);
    if (t->shape != shape) {
      fail("{}: tensor '{}' has shape {}, expected {}", path, gguf_name, shape_str(t->shape), shape_str(shape));
    }
    return g.dequantize(*t);
  };
  return make_llama(c, lookup, !c.tie_word_embeddings, path, options);
}

}  // namespace octet::models
