// `octet generate`: continue a prompt, streaming text to stdout.
#include "engine/core/error.h"
#include "engine/session/generation_session.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "engine/text/utf8.h"
#include "tools/cli_common.h"
#include "tools/commands.h"

#include <fmt/format.h>

#include <iostream>

namespace octet::cli {

int run_generate(int argc, char** argv) {
  cxxopts::Options options("octet generate", "Continue a prompt with a decoder model, streaming the text.");
  add_model_options(options);
  add_sampling_options(options);
  auto add = options.add_options("Generation");
  add("p,prompt", "text to continue; empty starts from BOS alone", cxxopts::value<std::string>()->default_value(""));
  add("n,max-tokens", "tokens to generate at most (stops earlier at EOS or a full context)",
      cxxopts::value<int>()->default_value("256"));
  add("no-bos", "do not put BOS before the prompt (default: tokenizer_config.json's add_bos_token, else BOS)");
  add("special", "read special tokens spelled in the prompt (\"<|im_start|>\") as those tokens, not as text");
  const auto args = parse_or_help(options, argc, argv);
  const int max_tokens = args["max-tokens"].as<int>();
  if (max_tokens < 0) fail("--max-tokens must be >= 0, got {}", max_tokens);

  const std::string prompt = args["prompt"].as<std::string>();
  require_utf8(prompt, "--prompt");  // before the model loads: a bad byte should not cost a load

  LoadedModel loaded = load_model(args);
  const SamplerOptions sampling = read_sampling_options(args, loaded.path);
  std::vector<std::int32_t> ids;
  const std::int32_t bos = loaded.model->info().bos_id;
  const bool add_bos = read_tokenizer_config(loaded.path).add_bos.value_or(loaded.tokenizer->default_add_bos());
  if (!args.count("no-bos") && add_bos && bos >= 0) ids.push_back(bos);
  const auto prompt_ids =
      args.count("special") ? loaded.tokenizer->encode_with_specials(prompt) : loaded.tokenizer->encode(prompt);
  ids.insert(ids.end(), prompt_ids.begin(), prompt_ids.end());
  if (ids.empty()) fail("empty prompt with --no-bos: nothing to start from");

  GenerationSession session(*loaded.model, loaded.backends.placement(), args["ctx"].as<int>());
  if (static_cast<int>(ids.size()) > session.n_ctx()) {
    throw ContextFullError(
        fmt::format("the prompt is {} tokens but the context holds {}", ids.size(), session.n_ctx()));
  }
  Sampler sampler(sampling, loaded.model->info().vocab_size);
  StreamDecoder decoder(*loaded.tokenizer, prompt_ids.empty());
  std::cout << prompt << std::flush;
  const GenerationStats stats = session.generate(ids, max_tokens, sampler, [&](std::int32_t id) {
    std::cout << decoder.push(id) << std::flush;
    return true;
  });
  std::cout << decoder.flush() << std::endl;

  std::cerr << fmt::format(
      "[prompt {} tokens in {:.1f} ms ({:.1f} tok/s); generated {} tokens in {:.2f} s ({:.1f} tok/s); stop: {}]\n",
      stats.prompt_tokens, stats.prefill_seconds * 1e3, stats.prompt_tokens / std::max(stats.prefill_seconds, 1e-9),
      stats.generated_tokens, stats.decode_seconds, stats.generated_tokens / std::max(stats.decode_seconds, 1e-9),
      stop_reason_name(stats.reason));
  if (stats.reason == StopReason::ContextFull)
    std::cerr << "the context is full; raise --ctx (up to the model's maximum) for longer texts\n";
  return 0;
}

}  // namespace octet::cli
