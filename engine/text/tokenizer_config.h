// What a model's tokenizer_config.json (or a GGUF file's metadata) says
// about framing text: whether to put BOS first, and the chat template.
// Defaults apply when the file or a key is absent.
#pragma once

#include "engine/io/json_file.h"

#include <optional>
#include <string>

namespace octet {

class GgufFile;

struct TokenizerConfig {
  std::optional<bool> add_bos;  // "add_bos_token"; absent: Tokenizer::default_add_bos()
  std::string chat_template;    // "chat_template" (the "default" one of a list), or ""
  // Encoders (BERT framing). Padding uses config.json's pad_token_id instead.
  std::optional<bool> do_lower_case;  // "do_lower_case"; the default depends on the tokenizer
  std::string cls_token = "[CLS]", sep_token = "[SEP]", unk_token = "[UNK]";
};

TokenizerConfig read_tokenizer_config(const std::string& model_path);

// A GGUF file's framing as Hugging Face's tokenizer_config.json:
// add_bos_token, bos_token, eos_token and chat_template where the file has them.
Json gguf_tokenizer_config_json(const GgufFile& gguf);

}  // namespace octet
