// A conversation with a chat model: the messages so far, formatted with the
// model's chat template (llama2, chatml, zephyr or llama3) for each answer.
// Each reply feeds the whole conversation again, as `octet serve` does: a
// Chat holds no KV cache, so many Chats can share one Generator.
//
// Thread safety: one Chat belongs to one thread at a time; the Generator it
// borrows (which must outlive it) may serve other threads meanwhile.
#pragma once

#include "octet/export.h"

#include "octet/generator.h"

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace octet {

class OCTET_EXPORT Chat {
 public:
  // `format`: "llama2", "chatml", "zephyr", "llama3" or "plain"; empty: the one
  // the model's chat template is recognised as, else "plain" (the text is fed
  // as it is). Throws octet::Error for a format octet does not know.
  explicit Chat(const Generator& generator, std::string system_prompt = "", std::string format = "");

  // Answers `user`, streaming the answer through `on_text` (optional; return
  // false to stop it). The answer joins the conversation. Throws, leaving the
  // conversation as it was, ContextFullError when it no longer fits.
  GenerationResult reply(std::string_view user, const GenerateOptions& options = {},
                         const std::function<bool(std::string_view)>& on_text = {});

  // Forgets everything but the system prompt.
  void reset();
  const std::string& format() const { return format_; }
  // (role, content) pairs: "system", "user", "assistant".
  const std::vector<std::pair<std::string, std::string>>& messages() const { return messages_; }

 private:
  const Generator& generator_;
  std::string format_;
  std::string default_system_;  // what the model's template says when the conversation has no system prompt
  std::vector<std::pair<std::string, std::string>> messages_;
};

}  // namespace octet
