#include "engine/tokenizer_config.h"

#include "engine/json_file.h"

#include <filesystem>

namespace octet {

TokenizerConfig read_tokenizer_config(const std::string& model_path) {
  namespace fs = std::filesystem;
  TokenizerConfig config;
  const fs::path path = fs::path(model_path) / "tokenizer_config.json";
  if (!fs::is_directory(model_path) || !fs::exists(path)) return config;
  const std::string where = path.string();
  const Json j = read_json_file(where);
  config.add_bos = json_optional<bool>(j, "add_bos_token", true, where);
  const auto it = j.find("chat_template");
  if (it == j.end() || it->is_null()) return config;
  if (it->is_string()) {
    config.chat_template = it->get<std::string>();
  } else if (it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template")) {
        config.chat_template = json_required<std::string>(entry, "template", where);
      }
    }
  } else {
    fail("{}: chat_template is neither a string nor a list of named templates", where);
  }
  return config;
}

}  // namespace octet
