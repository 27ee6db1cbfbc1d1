// The subcommands of `octet`, each in its own file. Each parses its options,
// calls the engine and prints; errors propagate as octet::Error to main().
#pragma once

namespace octet::cli {

int run_generate(int argc, char** argv);
int run_chat(int argc, char** argv);
int run_info(int argc, char** argv);
int run_perplexity(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_quantize(int argc, char** argv);
int run_prune(int argc, char** argv);
int run_classify(int argc, char** argv);
int run_serve(int argc, char** argv);

}  // namespace octet::cli
