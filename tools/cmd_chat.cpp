// `octet chat`: an interactive conversation in the terminal.
#include "engine/core/error.h"
#include "engine/session/chat_session.h"
#include "engine/text/tokenizer_config.h"
#include "engine/text/utf8.h"
#include "tools/cli_common.h"
#include "tools/commands.h"

#include <readline/history.h>
#include <readline/readline.h>

#include <fmt/ranges.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>

namespace octet::cli {

namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_at_prompt{false};

extern "C" void on_sigint(int) { g_interrupted = true; }

// Readline calls this when a signal interrupts reading: Ctrl-C at the prompt
// discards the line being typed instead of ending the program.
int on_readline_signal() {
  if (g_interrupted.exchange(false) && g_at_prompt) {
    rl_replace_line("", 0);
    rl_crlf();
    rl_on_new_line();
    rl_redisplay();
  }
  return 0;
}

}  // namespace

int run_chat(int argc, char** argv) {
  cxxopts::Options options("octet chat",
                           "Talk with a model. The conversation stays in the model's context across turns.\n"
                           "  Ctrl-C stops the current answer, Ctrl-D exits, /reset forgets the conversation.");
  add_model_options(options);
  add_sampling_options(options);
  auto add = options.add_options("Chat");
  add_chat_template_option(options);
  add("system", "system prompt (default: the chat template's own, if it has one)",
      cxxopts::value<std::string>()->default_value(""));
  add("n,max-tokens", "tokens per answer at most (0 = until EOS or the context is full)",
      cxxopts::value<int>()->default_value("0"));
  const auto args = parse_or_help(options, argc, argv);
  LoadedModel loaded = load_model(args);
  const SamplerOptions sampling = read_sampling_options(args, loaded.path);
  const TokenizerConfig tokenizer_config = read_tokenizer_config(loaded.path);
  const ChatFormat format = choose_chat_format(args, tokenizer_config);
  int max_tokens = args["max-tokens"].as<int>();
  if (max_tokens < 0) fail("--max-tokens must be >= 0, got {}", max_tokens);

  std::string system = args["system"].as<std::string>();
  if (system.empty()) {
    system = default_system_prompt(format, tokenizer_config.chat_template);
    if (!system.empty()) std::cerr << fmt::format("system prompt (the template's default): {}\n", system);
  }
  GenerationSession session(*loaded.model, loaded.backends.placement(), args["ctx"].as<int>());
  ChatSession chat(session, *loaded.tokenizer, format, system,
                   tokenizer_config.add_bos.value_or(loaded.tokenizer->default_add_bos()));
  Sampler sampler(sampling, loaded.model->info().vocab_size);
  if (max_tokens == 0) max_tokens = session.n_ctx();

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  rl_signal_event_hook = on_readline_signal;
  const bool interactive = isatty(STDIN_FILENO);
  std::cerr << fmt::format("context: {} tokens. Ctrl-C stops an answer, Ctrl-D exits, /reset starts over.\n",
                           session.n_ctx());

  while (true) {
    g_at_prompt = true;
    std::unique_ptr<char, decltype(&std::free)> line(readline(interactive ? "> " : ""), &std::free);
    g_at_prompt = false;
    if (!line) break;  // Ctrl-D or end of input
    const std::string text = line.get();
    if (text.empty()) continue;
    if (interactive) add_history(text.c_str());
    if (const auto bad = find_invalid_utf8(text)) {  // a terminal in another encoding, or a binary file piped in
      std::cerr << fmt::format("(not sent: your message is not valid UTF-8 at byte {})\n", *bad);
      continue;
    }
    if (text == "/reset") {
      chat.reset();
      std::cerr << "(conversation forgotten)\n";
      continue;
    }
    g_interrupted = false;
    try {
      const GenerationStats stats = chat.reply(
          text, max_tokens, sampler, [](std::string_view piece) { std::cout << piece << std::flush; },
          [] { return !g_interrupted.load(); });
      std::cout << std::endl;
      if (stats.reason == StopReason::Interrupted) std::cerr << "(stopped)\n";
      if (stats.reason == StopReason::ContextFull) {
        std::cerr << fmt::format("(the context is full: {} of {} tokens; /reset to start over)\n", chat.tokens_used(),
                                 chat.context_size());
      }
    } catch (const ContextFullError& e) {
      std::cerr << "(" << e.what() << "; /reset to start over)\n";
    }
  }
  std::cerr << "\n";
  return 0;
}

}  // namespace octet::cli
