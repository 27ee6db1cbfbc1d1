#include "models/llama2c.h"

#include "engine/core/error.h"
#include "engine/core/mapped_file.h"
#include "models/llama.h"

#include <cstring>
#include <initializer_list>
#include <map>

namespace octet::models {

namespace {

// The header's hyperparameters, checked; `shared_classifier` says whether the head is the embedding.
LlamaConfig llama2c_config(const MappedFile& file, const std::string& path, bool& shared_classifier) {
  if (file.size() < 28) fail("{}: too short for a llama2.c header ({} bytes)", path, file.size());
  std::int32_t h[7];
  std::memcpy(h, file.data(), sizeof h);
  if (static_cast<std::uint32_t>(h[0]) == 0x616b3432u) {  // "ak42": llama2.c's version >= 1 exports
    fail("{}: llama2.c export format version >= 1 is not supported; use the legacy (version 0) export", path);
  }
  for (int i = 0; i < 7; ++i) {
    if (i != 5 && h[i] <= 0) fail("{}: header field {} is {}, not a llama2.c checkpoint?", path, i, h[i]);
  }
  LlamaConfig c;
  c.architecture = "llama2.c checkpoint";
  c.hidden_size = h[0];
  c.intermediate_size = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  shared_classifier = h[5] > 0;
  c.vocab_size = shared_classifier ? h[5] : -static_cast<std::int64_t>(h[5]);
  c.context_length = h[6];
  c.head_dim = c.n_heads > 0 ? c.hidden_size / c.n_heads : 0;
  c.rms_norm_eps = 1e-5f;  // llama2.c's run.c
  c.rope_theta = 10000.0;
  c.rope_layout = RopeLayout::Interleaved;
  c.tie_word_embeddings = shared_classifier;
  validate_llama_config(c, path);
  if (c.head_dim * c.n_heads != c.hidden_size) fail("{}: dim {} is not a multiple of n_heads {}", path, h[0], h[3]);
  return c;
}

}  // namespace

HfForm llama2c_as_hf(const std::string& path) {
  bool shared_classifier = false;
  return llama_as_hf(llama2c_config(*MappedFile::open(path), path, shared_classifier));
}

std::unique_ptr<Model> load_llama2c(const std::string& path, const LoadOptions& options) {
  auto file = MappedFile::open(path);
  bool shared_classifier = false;
  const LlamaConfig c = llama2c_config(*file, path, shared_classifier);

  const std::int64_t d = c.hidden_size, L = c.n_layers, q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim,
                     ffn = c.intermediate_size, V = c.vocab_size;
  // Byte offsets of each block, in file order. The header's sizes are up to
  // 2^31 each, so a block's float count (a product of three) is checked, and
  // the running offset never passes the file's end.
  std::map<std::string, Tensor> tensors;
  std::size_t offset = 28;
  const auto take = [&](std::initializer_list<std::int64_t> block) {
    const std::size_t at = offset, floats_left = (file->size() - offset) / sizeof(float);
    std::size_t count = 1;
    for (const std::int64_t dim : block) {
      if (count > floats_left / static_cast<std::size_t>(dim)) {
        fail("{}: the header's shapes need more bytes than the file's {}: truncated or not a legacy llama2.c file",
             path, file->size());
      }
      count *= static_cast<std::size_t>(dim);
    }
    offset += count * sizeof(float);
    return at;
  };
  const std::size_t embed = take({V, d}), att_norm = take({L, d}), wq = take({L, q, d}), wk = take({L, kv, d}),
                    wv = take({L, kv, d}), wo = take({L, d, q}), ffn_norm = take({L, d}), w1 = take({L, ffn, d}),
                    w2 = take({L, d, ffn}), w3 = take({L, ffn, d}), final_norm = take({d});
  // freq_cis_real and freq_cis_imag, [seq_len, head_dim / 2] each: unused, angles are recomputed.
  take({c.context_length, c.head_dim / 2});
  take({c.context_length, c.head_dim / 2});
  const std::size_t wcls = shared_classifier ? 0 : take({V, d});
  if (offset != file->size()) {
    fail("{}: expected {} bytes for this header's shapes, file has {}: truncated or not a legacy llama2.c file", path,
         offset, file->size());
  }
  const auto view = [&](std::size_t at, Shape shape) { return Tensor::mapped(DType::F32, std::move(shape), file, at); };
  tensors["model.embed_tokens.weight"] = view(embed, {V, d});
  tensors["model.norm.weight"] = view(final_norm, {d});
  if (!shared_classifier) tensors["lm_head.weight"] = view(wcls, {V, d});
  for (std::int64_t l = 0; l < L; ++l) {
    const auto p = fmt::format("model.layers.{}.", l);
    const auto layer = [&](std::size_t base, std::int64_t per_layer) {
      return base + static_cast<std::size_t>(l * per_layer) * sizeof(float);
    };
    tensors[p + "input_layernorm.weight"] = view(layer(att_norm, d), {d});
    tensors[p + "self_attn.q_proj.weight"] = view(layer(wq, q * d), {q, d});
    tensors[p + "self_attn.k_proj.weight"] = view(layer(wk, kv * d), {kv, d});
    tensors[p + "self_attn.v_proj.weight"] = view(layer(wv, kv * d), {kv, d});
    tensors[p + "self_attn.o_proj.weight"] = view(layer(wo, d * q), {d, q});
    tensors[p + "post_attention_layernorm.weight"] = view(layer(ffn_norm, d), {d});
    tensors[p + "mlp.gate_proj.weight"] = view(layer(w1, ffn * d), {ffn, d});
    tensors[p + "mlp.down_proj.weight"] = view(layer(w2, d * ffn), {d, ffn});
    tensors[p + "mlp.up_proj.weight"] = view(layer(w3, ffn * d), {ffn, d});
  }
  const auto lookup = [&](const std::string& name, const Shape& shape) {
    const Tensor& t = tensors.at(name);
    if (t.shape() != shape) fail("{}: internal shape mismatch for {}", path, name);
    return t;
  };
  return make_llama(c, lookup, !shared_classifier, path, options);
}

}  // namespace octet::models
