// `octet prune`: zero matmul weights one-shot (2:4 or unstructured, by
// magnitude or Wanda) and write the pruned checkpoint, quantized or not, with
// a compressed-tensors sparsity_config that octet checks when it loads it.
#include "engine/core/error.h"
#include "engine/io/compressed_tensors.h"
#include "models/registry.h"
#include "tools/cli_common.h"
#include "tools/commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <iostream>

namespace octet::cli {

int run_prune(int argc, char** argv) {
  cxxopts::Options options(
      "octet prune",
      "Prune a Hugging Face model directory's (or a GGUF or llama2.c file's) matmul weights (no retraining) and\n"
      "  write it as safetensors with a compressed-tensors sparsity_config in config.json, its weights f32 or\n"
      "  8-bit (--scheme).\n"
      "  2:4 weights are stored in the sparse-24-bitmask format (the kept half and a bitmask: 5/8 of an 8-bit\n"
      "  weight's bytes), and int8 ones run on octet's 2:4 CPU kernels; unstructured sparsity is stored dense.\n"
      "  What pruning costs: octet perplexity -m MODEL -f TEXT --compare f32 --prune 2:4 (the same options).");
  add_checkpoint_options(options);
  options.add_options()("scheme", "the weights written: f32, w8, int8 or fp8 (quantized after pruning)",
                        cxxopts::value<std::string>()->default_value("f32"));
  add_pruning_options(options, "zero matmul weights", "sparsity", "method");
  add_calibration_options(options);
  const auto args = parse_or_help(options, argc, argv);
  if (!args.count("sparsity")) fail("--sparsity is required: 2:4, or a fraction such as 0.5");
  const auto [in, out] = read_checkpoint_dirs(args, "prune");
  const QuantRecipe recipe = read_quant_recipe(args, "scheme");
  const PruneRecipe prune = read_prune_recipe(args, "sparsity", "method");

  const LoadOptions load = read_calibration(args, in, args["tokenizer"].as<std::string>(), recipe, prune);
  std::cerr << fmt::format("pruning {} to {} by {}...\n", in, sparsity_name(prune), prune_method_name(prune.method));
  const auto model = models::builtin_registry().load_model(in, load);
  if (model->info().family == "gpt2") {
    fail("{}: octet prune does not write GPT-2 checkpoints yet (its fused c_attn is split at load)", in);
  }
  const MeasuredSparsity measured = measure_sparsity(*model, prune.keep_dense);
  CheckpointSource source = read_checkpoint_source(in);
  source.config["sparsity_config"] = sparsity_config_json(prune, measured.zero_fraction);
  write_checkpoint(*model, std::move(source.config), recipe, out, source.to_stored);
  copy_tokenizer_files(in, out, args["tokenizer"].as<std::string>());
  std::cerr << fmt::format(
      "done: {} ({} MiB): {:.1f}% of {} matmul weights are zero ({}{}), {}\n", out,
      std::filesystem::file_size(std::filesystem::path(out) / "model.safetensors") >> 20,
      100.0 * measured.zero_fraction, measured.weights, sparsity_name(prune),
      prune.keep_dense.empty() ? "" : fmt::format("; dense: {}", fmt::join(prune.keep_dense, ", ")),
      quant_scheme_name(recipe.scheme));
  return 0;
}

}  // namespace octet::cli
