#include "tools/cli_common.h"

#include "engine/quant/calibration.h"
#include "engine/text/bpe_tokenizer.h"
#include "engine/text/gguf_sentencepiece.h"
#include "engine/text/sentencepiece_tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/gguf.h"
#include "models/llama2c.h"
#include "models/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

namespace octet::cli {

void add_model_options(cxxopts::Options& options, ModelKind kind) {
  auto add = options.add_options("Model");
  if (kind == ModelKind::Encoder) {
    add("m,model",
        "Hugging Face encoder directory: BERT, RoBERTa or DistilBERT (default: the sst2-mini sentiment classifier "
        "that ships with octet)",
        cxxopts::value<std::string>()->default_value(""));
    add("tokenizer", "tokenizer file: SentencePiece .model, WordPiece vocab.txt or tokenizer.json",
        cxxopts::value<std::string>()->default_value(""));
    add("pooling",
        "for an encoder without a classification head, how a text becomes one vector: first ([CLS] token), mean "
        "(of all tokens), pooler (BERT's dense + tanh) or auto (a sentence-transformers directory's own pooling, "
        "else pooler where the checkpoint has one, else first)",
        cxxopts::value<std::string>()->default_value("auto"));
  } else {
    add("m,model",
        "Hugging Face model directory, .gguf file or llama2.c .bin file (default: the tinystories-mini model that "
        "ships with "
        "octet)",
        cxxopts::value<std::string>()->default_value(""));
    add("tokenizer", "SentencePiece tokenizer.model (needed for llama2.c .bin files)",
        cxxopts::value<std::string>()->default_value(""));
    add("kv-cache",
        "the KV cache: f32 (float), or fp8 (E4M3 with a scale per token and head: a quarter of the memory, and "
        "of what decoding reads from it)",
        cxxopts::value<std::string>()->default_value("f32"));
  }
  add("t,threads", "CPU threads (0 = all cores)", cxxopts::value<int>()->default_value("0"));
  add("backend", "where the model runs: cpu, or cuda (f32 runs as bf16, fp8 on FP8 tensor cores)",
      cxxopts::value<std::string>()->default_value("cpu"));
  add("gpu-layers",
      "run the first N transformer blocks (with the embedding) on the GPU and the rest (with the head) on the "
      "CPU, for a model too large for the GPU; the hidden state crosses once per step. Use --quant f32 or fp8, "
      "which both run, and --cpu-quant for the CPU's part",
      cxxopts::value<int>());
  add("cpu-quant",
      "with --gpu-layers: the scheme of the blocks (and head) on the CPU, e.g. --quant fp8 --cpu-quant int8: FP8 "
      "tensor cores on the GPU, int8 on the CPU (default: --quant; FP8 on the CPU is an emulation, not fast)",
      cxxopts::value<std::string>());
  add("c,ctx", "context length in tokens (0 = the model's maximum)", cxxopts::value<int>()->default_value("0"));
  add("q,quant",
      "quantize matmul weights at load: f32, w8 (int8 weights), int8 (int8 weights and activations) or fp8 (E4M3 "
      "weights and activations)",
      cxxopts::value<std::string>()->default_value("f32"));
  add("keep-float", "comma-separated weight-name parts to keep in f32 (e.g. lm_head,layers.0.)",
      cxxopts::value<std::vector<std::string>>()->default_value(""));
}

void add_sampling_options(cxxopts::Options& options) {
  auto add = options.add_options("Sampling");
  add("temp", "temperature; 0 is greedy (default: generation_config.json, else 0.8)", cxxopts::value<float>());
  add("top-k", "keep the k most likely tokens, 0 = all", cxxopts::value<int>()->default_value("40"));
  add("top-p",
      "keep the smallest set of tokens whose probability reaches p (default: generation_config.json, else 0.95)",
      cxxopts::value<float>());
  add("repeat-penalty", "penalty for tokens among the last 64, 1 = off", cxxopts::value<float>()->default_value("1.0"));
  add("seed", "random seed, for reproducible runs (default: drawn and printed)", cxxopts::value<std::uint64_t>());
}

QuantRecipe read_quant_recipe(const cxxopts::ParseResult& args, const std::string& option) {
  QuantRecipe recipe;
  const std::string name = args[option].as<std::string>();
  const auto scheme = quant_scheme_from_name(name);
  if (!scheme) fail("--{} '{}' is not a scheme: use f32, w8, int8 or fp8", option, name);
  recipe.scheme = *scheme;
  for (const auto& part : args["keep-float"].as<std::vector<std::string>>()) {
    if (!part.empty()) recipe.keep_float.push_back(part);
  }
  if (option == "quant" && args.count("cpu-quant") > 0) {
    if (args.count("gpu-layers") == 0) {
      fail("--cpu-quant sets the scheme of the blocks --gpu-layers leaves on the CPU: give --gpu-layers N");
    }
    const std::string rest = args["cpu-quant"].as<std::string>();
    const auto rest_scheme = quant_scheme_from_name(rest);
    if (!rest_scheme) fail("--cpu-quant '{}' is not a scheme: use f32, w8, int8 or fp8", rest);
    recipe.rest_from = std::max(0, args["gpu-layers"].as<int>());
    recipe.rest_scheme = *rest_scheme;
  }
  return recipe;
}

DType read_kv_cache(const cxxopts::ParseResult& args, const std::string& option) {
  const std::string name = args[option].as<std::string>();
  for (const DType cache : {DType::F32, DType::F8E4M3}) {
    if (name == kv_cache_name(cache)) return cache;
  }
  fail("--{} '{}' is not a KV cache type: use f32 or fp8", option, name);
}

std::string_view kv_cache_name(DType cache) { return cache == DType::F8E4M3 ? "fp8" : "f32"; }

void hold_packed_weights(Model& model, const Backends& backends) {
  if (backends.rest == nullptr && backends.main != nullptr && backends.main->name() == "cpu") {
    pack_matmul_weights(model);
  }
}

LoadedModel load_model(const cxxopts::ParseResult& args, std::optional<ModelKind> kind, LoadFor purpose) {
  LoadedModel loaded;
  loaded.path = args["model"].as<std::string>();
  if (loaded.path.empty()) loaded.path = shipped_model_path(kind.value_or(ModelKind::Decoder));
  LoadOptions options{read_quant_recipe(args)};
  if (kind != ModelKind::Encoder) options.kv_cache = read_kv_cache(args);
  if (args.count("pooling") > 0) {
    const auto pooling = pooling_from_name(args["pooling"].as<std::string>());
    if (!pooling) fail("--pooling '{}' is not one of auto, first, mean, pooler", args["pooling"].as<std::string>());
    options.pooling = *pooling;
  }
  loaded.model = models::builtin_registry().load_model(loaded.path, options);
  if (kind && loaded.model->info().kind != *kind) {
    fail("{}: {} is {}; use {}", loaded.path, loaded.model->info().architecture,
         kind == ModelKind::Decoder ? "an encoder, which does not generate text" : "a decoder, not an encoder",
         kind == ModelKind::Decoder ? "`octet classify`" : "generate, chat or perplexity");
  }
  loaded.tokenizer = load_tokenizer_for(loaded.path, args["tokenizer"].as<std::string>());
  if (loaded.tokenizer->vocab_size() > loaded.model->info().vocab_size) {
    fail("tokenizer has {} tokens but the model's vocabulary is {}: wrong --tokenizer?", loaded.tokenizer->vocab_size(),
         loaded.model->info().vocab_size);
  }
  loaded.backends = make_backends(args);
  if (purpose == LoadFor::Running) hold_packed_weights(*loaded.model, loaded.backends);
  return loaded;
}

void add_calibration_options(cxxopts::Options& options) {
  auto add = options.add_options("Calibration");
  add("calib", "UTF-8 text whose activations calibrate --smooth and --static", cxxopts::value<std::string>());
  add("calib-windows", "calibration windows of up to 512 tokens", cxxopts::value<int>()->default_value("16"));
  add("smooth",
      "SmoothQuant: move activation range into the weights with this alpha in [0, 1] (0.5 is the paper's default) "
      "before quantizing",
      cxxopts::value<float>());
  add("static", "int8 activations with static per-tensor scales from the calibration text, not per-token ones");
}

LoadOptions read_calibration(const cxxopts::ParseResult& args, const std::string& path,
                             const std::string& tokenizer_path, const QuantRecipe& recipe, const PruneRecipe& prune) {
  LoadOptions options{recipe};
  const bool smooth = args.count("smooth") > 0, fixed = args.count("static") > 0;
  options.prune = prune;
  const bool wanda = options.prune.pattern != SparsityPattern::Dense && options.prune.method == PruneMethod::Wanda;
  if (!args.count("calib")) {
    if (smooth || fixed || wanda) {
      fail("--{} needs calibration text: --calib FILE", smooth ? "smooth" : fixed ? "static" : "method wanda");
    }
    return options;
  }
  if (!smooth && !fixed && !wanda) fail("--calib calibrates --smooth, --static or Wanda's pruning; give one of them");
  // Wanda's scores |w| * ||x|| are measured on the unsmoothed model; smoothing would rescale w and x apart.
  if (smooth && wanda) fail("--smooth and Wanda's pruning do not combine yet; use one of them");
  if (fixed && recipe.scheme != QuantScheme::Int8) fail("--static scales int8 activations: use it with int8");
  const float alpha = smooth ? args["smooth"].as<float>() : 0.0f;
  if (!(alpha >= 0.0f && alpha <= 1.0f)) fail("--smooth alpha must be in [0, 1], got {}", alpha);
  const std::string calib = args["calib"].as<std::string>();
  std::ifstream in(calib, std::ios::binary);
  if (!in) fail("{}: cannot read the calibration text", calib);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().empty()) fail("{}: the calibration text is empty", calib);
  const auto tokens = load_tokenizer_for(path, tokenizer_path)->encode(text.str());
  auto backend = make_cpu_backend(0);
  const auto measure = [&](const LoadOptions& float_options, const char* what) {
    auto model = models::builtin_registry().load_model(path, float_options);
    const int n_ctx = static_cast<int>(std::min<std::int64_t>(512, model->info().context_length));
    std::cerr << fmt::format("calibrating {} on {} ({} tokens)...\n", what, calib, tokens.size());
    auto stats = measure_activation_stats(
        *model, *backend, tokens, n_ctx, args["calib-windows"].as<int>(),
        [](int done, int total) { std::cerr << fmt::format("\rcalibration window {}/{}", done, total) << std::flush; });
    std::cerr << "\n";
    return std::make_pair(std::move(stats), std::move(model));
  };
  if (smooth) {
    const auto [stats, model] = measure({}, "SmoothQuant");
    options.smoothing = smoothing_factors(*model, stats, alpha);
  }
  if (wanda) {
    // The dense float model's activations, as in one-shot Wanda.
    const auto [stats, model] = measure({}, "Wanda's activation norms");
    options.input_norms = activation_norms(stats);
  }
  if (fixed) {
    // The scales must see the activations the quantized model will see: after smoothing and pruning, if any.
    LoadOptions seen{QuantRecipe{}, options.smoothing};
    seen.prune = options.prune;
    seen.input_norms = options.input_norms;
    const auto [stats, model] = measure(seen, "static activation scales");
    options.input_scales = static_input_scales(stats);
  }
  return options;
}

void add_checkpoint_options(cxxopts::Options& options) {
  auto add = options.add_options();
  add("m,model", "Hugging Face model directory, GGUF file (llama, qwen2, qwen3) or llama2.c .bin file, to read",
      cxxopts::value<std::string>());
  add("tokenizer",
      "a llama2.c checkpoint's tokenizer.model: used by --calib and copied beside the output (other inputs carry "
      "theirs)",
      cxxopts::value<std::string>()->default_value(""));
  add("o,output", "directory to write (created; existing files of the same names are replaced)",
      cxxopts::value<std::string>());
  add("keep-float", "comma-separated weight-name parts to keep in f32 (e.g. lm_head,layers.0.)",
      cxxopts::value<std::vector<std::string>>()->default_value(""));
  add("t,threads", "CPU threads (0 = all cores)", cxxopts::value<int>()->default_value("0"));
}

namespace {

bool is_gguf_file(const std::string& path) { return path.ends_with(".gguf") && std::filesystem::is_regular_file(path); }
bool is_llama2c_file(const std::string& path) {
  return path.ends_with(".bin") && std::filesystem::is_regular_file(path);
}

}  // namespace

std::pair<std::string, std::string> read_checkpoint_dirs(const cxxopts::ParseResult& args, const std::string& command) {
  if (!args.count("model") || !args.count("output")) fail("both -m MODEL_DIR and -o OUTPUT_DIR are required");
  const std::string in = args["model"].as<std::string>(), out = args["output"].as<std::string>();
  check_checkpoint_dirs(in, out, command);
  if (const std::string tokenizer = args["tokenizer"].as<std::string>(); !tokenizer.empty()) {
    if (!is_llama2c_file(in)) fail("--tokenizer is for llama2.c input; {} carries its own tokenizer", in);
    load_tokenizer_for(in, tokenizer);  // refused now, before anything is written
  }
  if (args["threads"].as<int>() > 0) omp_set_num_threads(args["threads"].as<int>());
  return {in, out};
}

void check_checkpoint_dirs(const std::string& in, const std::string& out, const std::string& command) {
  namespace fs = std::filesystem;
  if (!is_gguf_file(in) && !is_llama2c_file(in) &&
      (!fs::is_directory(in) || !fs::exists(fs::path(in) / "config.json"))) {
    fail(
        "{}: octet {} reads a Hugging Face model directory (config.json + safetensors), a GGUF file or a llama2.c "
        ".bin file",
        in, command);
  }
  if (fs::exists(out) && fs::equivalent(in, out)) fail("{}: the output directory must differ from the input", out);
  if (fs::exists(out) && !fs::is_directory(out)) fail("{}: the output must be a directory", out);
}

CheckpointSource read_checkpoint_source(const std::string& in) {
  if (!is_gguf_file(in) && !is_llama2c_file(in)) {
    return {read_json_file((std::filesystem::path(in) / "config.json").string()), {}};
  }
  models::HfForm hf = is_gguf_file(in) ? models::gguf_as_hf(in) : models::llama2c_as_hf(in);
  return {std::move(hf.config), std::move(hf.to_hf_rows)};
}

void copy_tokenizer_files(const std::string& in, const std::string& out, const std::string& given_tokenizer) {
  namespace fs = std::filesystem;
  if (is_llama2c_file(in)) {  // the file holds no tokenizer: the one given
    if (given_tokenizer.empty()) {
      std::cerr << fmt::format(
          "note: {} holds no tokenizer and none was given (--tokenizer): {} has none; give --tokenizer FILE when "
          "running it\n",
          in, out);
      return;
    }
    fs::copy_file(given_tokenizer, fs::path(out) / "tokenizer.model", fs::copy_options::overwrite_existing);
    return;
  }
  const fs::path dir = is_gguf_file(in) ? fs::path(in).parent_path() : fs::path(in);
  bool tokenizer = false;
  for (const char* f : {"tokenizer.model", "spiece.model", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                        "special_tokens_map.json", "generation_config.json"}) {
    if (fs::exists(dir / f)) {
      fs::copy_file(dir / f, fs::path(out) / f, fs::copy_options::overwrite_existing);
      tokenizer |= std::string_view(f) != "generation_config.json" && std::string_view(f) != "tokenizer_config.json" &&
                   std::string_view(f) != "special_tokens_map.json";
    }
  }
  if (!tokenizer && is_gguf_file(in)) {
    // No tokenizer beside the GGUF file: its own (byte-level BPE as
    // tokenizer.json, SentencePiece as tokenizer.model) and, unless one was
    // copied, its framing.
    const GgufFile gguf(in);
    const std::string model = gguf.find_string("tokenizer.ggml.model").value_or("");
    if (model == "gpt2" || model == "llama") {
      const fs::path file = fs::path(out) / (model == "gpt2" ? "tokenizer.json" : "tokenizer.model");
      if (model == "gpt2") {
        write_json_file(file.string(), gguf_tokenizer_json(gguf));
      } else {
        const std::string model_bytes = gguf_sentencepiece_model(gguf);
        std::ofstream f(file, std::ios::binary | std::ios::trunc);
        f.write(model_bytes.data(), static_cast<std::streamsize>(model_bytes.size()));
        if (!f.flush()) fail("{}: cannot write", file.string());
      }
      if (!fs::exists(fs::path(out) / "tokenizer_config.json")) {
        write_json_file((fs::path(out) / "tokenizer_config.json").string(), gguf_tokenizer_config_json(gguf));
      }
      std::cerr << fmt::format("note: no tokenizer file beside {}: wrote its own tokenizer to {}\n", in, file.string());
      return;
    }
  }
  if (!tokenizer) {
    std::cerr << fmt::format(
        "note: no tokenizer file (tokenizer.json, tokenizer.model, ...) in {}: {} has none; give --tokenizer FILE "
        "when running it\n",
        dir.string(), out);
  }
}

void add_pruning_options(cxxopts::Options& options, const std::string& what, const std::string& sparsity_option,
                         const std::string& method_option) {
  auto add = options.add_options("Pruning");
  add(sparsity_option,
      what + ": 2:4 (the 2 lowest-scored of every 4 inputs) or a fraction such as 0.5 (unstructured, per output row)",
      cxxopts::value<std::string>());
  add(method_option, "magnitude (score |w|) or wanda (|w| * ||x_j||, activation norms from --calib)",
      cxxopts::value<std::string>()->default_value("magnitude"));
  add("keep-dense", "comma-separated weight-name parts left dense",
      cxxopts::value<std::vector<std::string>>()->default_value("lm_head"));
}

PruneRecipe read_prune_recipe(const cxxopts::ParseResult& args, const std::string& sparsity_option,
                              const std::string& method_option) {
  if (args.count(sparsity_option) == 0) {
    if (args.count(method_option) > 0) {
      fail("--{} chooses how --{} scores weights: give --{}", method_option, sparsity_option, sparsity_option);
    }
    return {};
  }
  const std::string name = args[sparsity_option].as<std::string>();
  auto recipe = sparsity_from_name(name);
  if (!recipe) fail("--{} '{}' is not a sparsity: use 2:4, or a fraction in (0, 1) such as 0.5", sparsity_option, name);
  const std::string method = args[method_option].as<std::string>();
  const auto m = prune_method_from_name(method);
  if (!m) fail("--{} '{}' is not a method: use magnitude or wanda", method_option, method);
  recipe->method = *m;
  recipe->keep_dense.clear();
  for (const auto& part : args["keep-dense"].as<std::vector<std::string>>()) {
    if (!part.empty()) recipe->keep_dense.push_back(part);
  }
  return *recipe;
}

Backends make_backends(const cxxopts::ParseResult& args) {
  Backends backends;
  const std::string name = args["backend"].as<std::string>();
  const int threads = args["threads"].as<int>();
  if (threads < 0) fail("--threads must be >= 0, got {}", threads);
  if (args.count("gpu-layers") == 0) {
    backends.main = make_backend(name, threads);
    return backends;
  }
  backends.gpu_layers = args["gpu-layers"].as<int>();
  if (backends.gpu_layers < 0) fail("--gpu-layers must be >= 0, got {}", backends.gpu_layers);
  if (args.count("backend") > 0 && name != "cuda") {
    fail("--gpu-layers splits the model between cuda and the cpu; it does not go with --backend {}", name);
  }
  backends.main = make_backend("cuda", threads);
  backends.rest = make_backend("cpu", threads);
  return backends;
}

SamplerOptions read_sampling_options(const cxxopts::ParseResult& args, const std::string& model_path,
                                     bool announce_seed) {
  SamplerOptions o = model_sampling_defaults(model_path);
  if (args.count("temp")) o.temperature = args["temp"].as<float>();
  if (args.count("top-p")) o.top_p = args["top-p"].as<float>();
  if (args["top-k"].count()) o.top_k = args["top-k"].as<int>();
  o.repetition_penalty = args["repeat-penalty"].as<float>();
  if (args.count("seed")) {
    o.seed = args["seed"].as<std::uint64_t>();
  } else {
    o.seed = std::random_device{}();
    if (announce_seed && o.temperature > 0)
      std::cerr << "seed " << o.seed << " (pass --seed " << o.seed << " to repeat this run)\n";
  }
  validate(o);
  return o;
}

cxxopts::ParseResult parse_or_help(cxxopts::Options& options, int argc, char** argv,
                                   std::vector<std::string>* operands) {
  options.add_options()("h,help", "show this help");
  auto result = options.parse(argc, argv);
  if (result.count("help")) {
    std::cout << options.help() << std::endl;
    std::exit(0);
  }
  if (operands != nullptr) {
    *operands = result.unmatched();
  } else if (!result.unmatched().empty()) {
    throw cxxopts::exceptions::exception("unexpected argument '" + result.unmatched().front() + "'");
  }
  return result;
}

void add_chat_template_option(cxxopts::Options& options) {
  options.add_options("Chat")("chat-template",
                              "llama2, chatml, zephyr, llama3 or plain (default: detected from tokenizer_config.json)",
                              cxxopts::value<std::string>()->default_value(""));
}

ChatFormat choose_chat_format(const cxxopts::ParseResult& args, const TokenizerConfig& config) {
  const std::string forced = args["chat-template"].as<std::string>();
  if (!forced.empty()) {
    auto f = chat_format_from_name(forced);
    if (!f) fail("unknown --chat-template '{}'; known: {}", forced, fmt::join(chat_format_names(), ", "));
    return *f;
  }
  const std::string& text = config.chat_template;
  if (auto f = detect_chat_format(text)) {
    std::cerr << "chat format: " << chat_format_name(*f) << " (from the model's chat template)\n";
    return *f;
  }
  std::cerr << (text.empty() ? "this model has no chat template"
                             : "this model's chat template is not one octet knows (llama2, chatml, zephyr, llama3)")
            << ": plain continuation, your text is fed as is (--chat-template NAME to choose)\n";
  return ChatFormat::Plain;
}

}  // namespace octet::cli
