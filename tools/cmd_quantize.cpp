// `octet quantize`: write a quantized checkpoint that octet (and other
// compressed-tensors readers) load without quantizing again.
#include "engine/core/error.h"
#include "engine/io/compressed_tensors.h"
#include "models/registry.h"
#include "tools/cli_common.h"
#include "tools/commands.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

namespace octet::cli {

int run_quantize(int argc, char** argv) {
  cxxopts::Options options(
      "octet quantize",
      "Quantize a Hugging Face model directory (or a GGUF file: its tensors dequantized, then quantized; the\n"
      "  tokenizer files beside it copied, else its own written; or a llama2.c file with --tokenizer) and write\n"
      "  it as safetensors with 8-bit weights\n"
      "  (int8 or FP8 E4M3) and *.weight_scale tensors, and a compressed-tensors quantization_config\n"
      "  in config.json.");
  add_checkpoint_options(options);
  options.add_options()("scheme",
                        "w8 (int8 weights), int8 (int8 weights, dynamic per-token int8 activations) or fp8 (E4M3 "
                        "weights and dynamic per-token E4M3 activations)",
                        cxxopts::value<std::string>()->default_value("int8"));
  add_calibration_options(options);
  const auto args = parse_or_help(options, argc, argv);
  const auto [in, out] = read_checkpoint_dirs(args, "quantize");
  namespace fs = std::filesystem;
  const QuantRecipe recipe = read_quant_recipe(args, "scheme");
  if (recipe.scheme == QuantScheme::F32) fail("--scheme f32 writes nothing new: choose w8, int8 or fp8");

  std::cerr << fmt::format("quantizing {} to {}...\n", in, quant_scheme_name(recipe.scheme));
  const auto model = models::builtin_registry().load_model(in, read_calibration(args, in, args["tokenizer"].as<std::string>(), recipe));
  if (model->info().family == "gpt2") {
    fail(
        "{}: octet quantize does not write GPT-2 checkpoints yet (its fused c_attn is split at load); run it "
        "quantized at load: --quant {}",
        in, quant_scheme_name(recipe.scheme));
  }
  std::cerr << fmt::format("writing {}/model.safetensors and config.json...\n", out);
  CheckpointSource source = read_checkpoint_source(in);
  write_checkpoint(*model, std::move(source.config), recipe, out, source.to_stored);
  copy_tokenizer_files(in, out, args["tokenizer"].as<std::string>());
  std::cerr << fmt::format("done: {} ({} MiB)\n", out, fs::file_size(fs::path(out) / "model.safetensors") >> 20);
  return 0;
}

}  // namespace octet::cli
