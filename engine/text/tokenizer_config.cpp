#include "engine/text/tokenizer_config.h"

#include "engine/io/gguf.h"
#include "engine/io/json_file.h"

#include <filesystem>

namespace octet {

TokenizerConfig read_tokenizer_config(const std::string& model_path) {
  namespace fs = std::filesystem;
  TokenizerConfig config;
  if (is_gguf_path(model_path) && fs::is_regular_file(model_path)) {
    const GgufFile g(model_path);
    config.add_bos = g.find_bool("tokenizer.ggml.add_bos_token");
    config.chat_template = g.find_string("tokenizer.chat_template").value_or("");
    return config;
  }
  const fs::path path = fs::path(model_path) / "tokenizer_config.json";
  if (!fs::is_directory(model_path) || !fs::exists(path)) return config;
  const std::string where = path.string();
  const Json j = read_json_file(where);
  if (j.contains("add_bos_token") && !j["add_bos_token"].is_null()) {
    config.add_bos = json_required<bool>(j, "add_bos_token", where);
  }
  if (j.contains("do_lower_case")) config.do_lower_case = json_required<bool>(j, "do_lower_case", where);
  // Special tokens are strings, or {"content": ...} objects in newer files.
  const auto token = [&](const char* key, std::string& out) {
    const auto t = j.find(key);
    if (t == j.end() || t->is_null()) return;
    if (t->is_string()) {
      out = t->get<std::string>();
    } else if (t->is_object() && t->contains("content") && (*t)["content"].is_string()) {
      out = (*t)["content"].get<std::string>();
    } else {
      fail("{}: '{}' is neither a string nor an object with \"content\"", where, key);
    }
  };
  token("cls_token", config.cls_token);
  token("sep_token", config.sep_token);
  token("unk_token", config.unk_token);
  const auto it = j.find("chat_template");
  if (it == j.end() || it->is_null()) return config;
  if (it->is_string()) {
    config.chat_template = it->get<std::string>();
  } else if (it->is_array()) {
    for (const auto& entry : *it) {
      if (json_optional<std::string>(entry, "name", "", where) == "default") {
        config.chat_template = json_required<std::string>(entry, "template", where);
      }
    }
  } else {
    fail("{}: chat_template is neither a string nor a list of named templates", where);
  }
  return config;
}

Json gguf_tokenizer_config_json(const GgufFile& g) {
  Json j = Json::object();
  if (const auto add_bos = g.find_bool("tokenizer.ggml.add_bos_token")) j["add_bos_token"] = *add_bos;
  const auto tokens = g.get_strings("tokenizer.ggml.tokens");
  const auto token = [&](const char* key, const char* name) {
    const auto id = g.find_int(key);
    if (id && *id >= 0 && static_cast<std::size_t>(*id) < tokens.size())
      j[name] = tokens[static_cast<std::size_t>(*id)];
  };
  token("tokenizer.ggml.bos_token_id", "bos_token");
  token("tokenizer.ggml.eos_token_id", "eos_token");
  if (const auto chat = g.find_string("tokenizer.chat_template")) j["chat_template"] = *chat;
  return j;
}

}  // namespace octet
