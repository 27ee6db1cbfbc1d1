// What every `octet` subcommand shares: the model options, loading, the
// default model that ships with octet, and the sampling options.
#pragma once

#include "api/model_loading.h"  // shipped_model_path (the default -m), make_backend
#include "engine/core/backend.h"
#include "engine/core/model.h"
#include "engine/core/placement.h"
#include "engine/io/compressed_tensors.h"
#include "engine/io/model_registry.h"
#include "engine/quant/quant.h"
#include "engine/session/sampler.h"
#include "engine/text/chat_format.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"

#include <cxxopts.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace octet::cli {

// Exit codes: 0 success, 1 runtime error (bad model, bad input), 2 usage error.
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

void add_model_options(cxxopts::Options& options, ModelKind kind = ModelKind::Decoder);
void add_sampling_options(cxxopts::Options& options);

// The backends that --backend, --gpu-layers and -t ask for.
struct Backends {
  std::unique_ptr<Backend> main;  // --backend, or the GPU of --gpu-layers
  std::unique_ptr<Backend> rest;  // with --gpu-layers: the CPU that runs the blocks after the GPU's
  int gpu_layers = 0;
  Placement placement() const { return rest ? Placement(*main, gpu_layers, *rest) : Placement(*main); }
};

struct LoadedModel {
  std::string path;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  Backends backends;
};
// --quant (or another option naming a scheme) and --keep-float as a recipe.
QuantRecipe read_quant_recipe(const cxxopts::ParseResult& args, const std::string& option = "quant");
// A decoder's KV cache type from --kv-cache (or `option`): f32 -> F32, fp8 -> F8E4M3.
DType read_kv_cache(const cxxopts::ParseResult& args, const std::string& option = "kv-cache");
// The name read_kv_cache reads for `cache`.
std::string_view kv_cache_name(DType cache);

// --backend, --gpu-layers and -t (add_model_options).
Backends make_backends(const cxxopts::ParseResult& args);

// --calib FILE, --calib-windows N, --smooth ALPHA and --static (engine/quant/calibration.h).
void add_calibration_options(cxxopts::Options& options);
// --prune 2:4|FRACTION, --prune-method magnitude|wanda and --keep-dense
// (engine/quant/pruning.h); `what` begins --prune's help. `octet prune`
// names the first two --sparsity and --method.
void add_pruning_options(cxxopts::Options& options, const std::string& what,
                         const std::string& sparsity_option = "prune",
                         const std::string& method_option = "prune-method");
// The recipe of those options (dense without --prune); `octet prune` names them --sparsity and --method.
PruneRecipe read_prune_recipe(const cxxopts::ParseResult& args, const std::string& sparsity_option = "prune",
                              const std::string& method_option = "prune-method");
// `recipe` and `prune` plus what --smooth and --static ask for, and Wanda's
// activation norms where `prune` uses them, measured with the float model at
// `path` on the --calib text (progress on stderr).
LoadOptions read_calibration(const cxxopts::ParseResult& args, const std::string& path,
                             const std::string& tokenizer_path, const QuantRecipe& recipe,
                             const PruneRecipe& prune = {});

// The options of the commands that write checkpoints (quantize, prune):
// -m MODEL_DIR, -o OUTPUT_DIR, --tokenizer (llama2.c input), --keep-float and -t.
void add_checkpoint_options(cxxopts::Options& options);
// -m and -o, both required and checked by check_checkpoint_dirs; sets -t's threads.
std::pair<std::string, std::string> read_checkpoint_dirs(const cxxopts::ParseResult& args, const std::string& command);
// `in` must be a Hugging Face model directory, a GGUF file or a llama2.c file, and `out` another directory.
void check_checkpoint_dirs(const std::string& in, const std::string& out, const std::string& command);
// What a checkpoint written from `in` starts from: a Hugging Face
// directory's config.json, or a GGUF or llama2.c file's as Hugging Face
// would write it (with the weights' rows put back in Hugging Face's order).
struct CheckpointSource {
  Json config;
  StoredWeight to_stored;
};
CheckpointSource read_checkpoint_source(const std::string& in);
// The tokenizer and generation files of `in` (a GGUF file's: those beside
// it, else its own vocabulary written out; a llama2.c file's: `tokenizer`,
// as tokenizer.model), copied unchanged to `out`; says on stderr when there
// is no tokenizer.
void copy_tokenizer_files(const std::string& in, const std::string& out, const std::string& tokenizer = "");

// What a loaded model is for: running it, or reading its weights (octet info).
enum class LoadFor { Running, Reading };
// Loads -m (or the default), its tokenizer (--tokenizer) and the --backend
// (with -t threads); refuses a model of another kind than `kind` (nullopt:
// any kind) with a clear message. To run on the CPU backend alone, the
// model's int8 matmul weights become that backend's packed copies
// (hold_packed_weights).
LoadedModel load_model(const cxxopts::ParseResult& args, std::optional<ModelKind> kind = ModelKind::Decoder,
                       LoadFor purpose = LoadFor::Running);
// Where `backends` is the CPU backend alone: the model holds the backend's
// packed copy of each int8 matmul weight instead of its rows
// (pack_matmul_weights in kernels/cpu/cpu_backend.h): one copy, not two.
void hold_packed_weights(Model& model, const Backends& backends);

// Sampling options: the model's generation_config.json gives the defaults,
// flags override them. A seed is drawn when none is given (and said on
// stderr with `announce_seed`, so that the run can be repeated).
SamplerOptions read_sampling_options(const cxxopts::ParseResult& args, const std::string& model_path,
                                     bool announce_seed = true);

// --chat-template, and the format it names, else the one the model's chat
// template is recognised as (said on stderr), else plain continuation.
void add_chat_template_option(cxxopts::Options& options);
ChatFormat choose_chat_format(const cxxopts::ParseResult& args, const TokenizerConfig& config);

// Parses argv after the subcommand name; prints help and exits 0 on --help.
// Arguments that are not options are refused, or, with `operands`, stored
// there whole (a vector option would split them at commas).
cxxopts::ParseResult parse_or_help(cxxopts::Options& options, int argc, char** argv,
                                   std::vector<std::string>* operands = nullptr);

}  // namespace octet::cli
