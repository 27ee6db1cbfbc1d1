#include "models/registry.h"

#include "models/bert.h"
#include "models/gguf.h"
#include "models/gpt2.h"
#include "models/llama.h"
#include "models/llama2c.h"
#include "models/qwen.h"
#include "models/synthetic.h"

namespace octet::models {

const ModelRegistry& builtin_registry() {
  static const ModelRegistry registry = [] {
    ModelRegistry r;
    r.add_hf_model("llama", load_llama_hf);
    r.add_hf_model("mistral", load_llama_hf);  // same graph; sliding window capped in the config
    r.add_hf_model("gpt2", load_gpt2_hf);
    r.add_hf_model("qwen2", load_qwen2_hf);
    r.add_hf_model("qwen3", load_qwen3_hf);
    r.add_hf_model("bert", load_bert_hf);
    r.add_hf_model("roberta", load_bert_hf);
    r.add_hf_model("distilbert", load_bert_hf);
    r.add_file_format(".bin", load_llama2c);
    r.add_file_format(".gguf", load_gguf);
    r.add_prefix("synthetic:", load_synthetic);
    return r;
  }();
  return registry;
}

}  // namespace octet::models
