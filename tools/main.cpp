// `octet`: one binary, one subcommand per job.
#include "engine/core/error.h"
#include "tools/cli_common.h"
#include "tools/commands.h"

#include <cxxopts.hpp>

#include <cstring>
#include <iostream>
#include <string_view>

namespace {

struct Command {
  std::string_view name;
  int (*run)(int, char**);
  std::string_view summary;
};

constexpr Command kCommands[] = {
    {"generate", octet::cli::run_generate, "continue a prompt, streaming text"},
    {"chat", octet::cli::run_chat, "talk with a model in the terminal"},
    {"info", octet::cli::run_info, "show a model's architecture, size and dtypes"},
    {"classify", octet::cli::run_classify, "label texts with an encoder (BERT family), as JSON lines"},
    {"serve", octet::cli::run_serve, "serve the model over HTTP (OpenAI's API, continuous batching)"},
    {"perplexity", octet::cli::run_perplexity, "score a text; compare quantization schemes (KLD, top-1)"},
    {"bench", octet::cli::run_bench, "measure prompt and generation tokens per second"},
    {"quantize", octet::cli::run_quantize, "write an int8 (compressed-tensors) checkpoint"},
    {"prune", octet::cli::run_prune, "write a pruned checkpoint (2:4 or unstructured; magnitude or Wanda)"},
};

void print_usage(std::ostream& out) {
  out << "octet: an inference engine for 8-bit transformers\n\n"
         "usage: octet <command> [options]   (octet <command> --help for its options)\n\ncommands:\n";
  for (const auto& c : kCommands) out << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
  out << "\nWithout -m, commands use the models that ship with octet: tinystories-mini (a decoder),\n"
         "and for classify the sst2-mini sentiment classifier.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? octet::cli::kExitUsage : 0;
  }
  const std::string_view name = argv[1];
  for (const auto& c : kCommands) {
    if (c.name != name) continue;
    try {
      // The subcommand parses argv[1..]: its own name stands where the program name was.
      return c.run(argc - 1, argv + 1);
    } catch (const cxxopts::exceptions::exception& e) {
      std::cerr << "octet " << name << ": " << e.what() << " (see octet " << name << " --help)\n";
      return octet::cli::kExitUsage;
    } catch (const octet::Error& e) {
      std::cerr << "octet " << name << ": error: " << e.what() << "\n";
      return octet::cli::kExitError;
    } catch (const std::bad_alloc&) {
      std::cerr << "octet " << name << ": error: out of memory\n";
      return octet::cli::kExitError;
    } catch (const std::exception& e) {
      std::cerr << "octet " << name << ": internal error: " << e.what() << "\n";
      return octet::cli::kExitError;
    }
  }
  std::cerr << "octet: unknown command '" << name << "'\n\n";
  print_usage(std::cerr);
  return octet::cli::kExitUsage;
}
