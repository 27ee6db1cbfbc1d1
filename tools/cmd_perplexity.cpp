// `octet perplexity`: how well a model predicts a text, and what quantization costs.
#include "engine/core/error.h"
#include "engine/session/perplexity.h"
#include "models/registry.h"
#include "tools/cli_common.h"
#include "tools/commands.h"

#include <fmt/format.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

namespace octet::cli {

int run_perplexity(int argc, char** argv) {
  cxxopts::Options options("octet perplexity",
                           "Perplexity of a model over a text file, in windows of --ctx tokens each opened by BOS.\n"
                           "  With --compare SCHEME, also the mean KL divergence and top-1 agreement of the model\n"
                           "  quantized with SCHEME against the model as loaded (--quant, f32 by default); with\n"
                           "  --calib and --smooth or --static, the compared model is calibrated first.");
  add_model_options(options);
  auto add = options.add_options("Perplexity");
  add("f,file", "UTF-8 text file to score", cxxopts::value<std::string>());
  add("compare", "also run the model quantized with this scheme (w8, int8, fp8) and compare",
      cxxopts::value<std::string>());
  add("compare-kv-cache",
      "the --compare model's KV cache, f32 or fp8 (default: --kv-cache); with --compare f32, "
      "what an FP8 cache alone costs",
      cxxopts::value<std::string>());
  add("windows", "score at most this many windows (0 = the whole file)", cxxopts::value<int>()->default_value("0"));
  add("json", "print one JSON object instead of the report");
  add_calibration_options(options);  // applies to the --compare model
  add_pruning_options(
      options, "zero matmul weights of the --compare model at load (what pruning costs: --compare f32 --prune 2:4)");
  const auto args = parse_or_help(options, argc, argv);
  if (args.count("calib") && !args.count("compare")) fail("--calib applies to the --compare model: give --compare");
  if (args.count("prune") && !args.count("compare")) {
    fail("--prune applies to the --compare model: give --compare (f32 for pruning alone)");
  }
  if (args.count("compare-kv-cache") && !args.count("compare")) {
    fail("--compare-kv-cache applies to the --compare model: give --compare");
  }
  if (!args.count("file")) fail("--file is required: the text to score");
  const std::string path = args["file"].as<std::string>();
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (text.empty()) fail("{}: the file is empty", path);

  if (args["windows"].as<int>() < 0)
    fail("--windows must be >= 0 (0 = the whole file), got {}", args["windows"].as<int>());
  LoadedModel loaded = load_model(args);
  std::vector<std::int32_t> tokens;
  try {
    tokens = loaded.tokenizer->encode(text);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  int n_ctx = args["ctx"].as<int>();
  if (n_ctx <= 0) n_ctx = static_cast<int>(std::min<std::int64_t>(loaded.model->info().context_length, 512));
  if (n_ctx > loaded.model->info().context_length) {
    fail("--ctx {} exceeds the model's context of {}", n_ctx, loaded.model->info().context_length);
  }

  std::unique_ptr<Model> compared;
  Backends compared_backends;
  std::string compared_scheme;
  DType compared_kv = DType::F32;
  if (args.count("compare")) {
    QuantRecipe recipe = read_quant_recipe(args, "compare");
    compared_scheme = std::string(quant_scheme_name(recipe.scheme));
    LoadOptions compared_options =
        read_calibration(args, loaded.path, args["tokenizer"].as<std::string>(), recipe, read_prune_recipe(args));
    if (compared_options.prune.pattern != SparsityPattern::Dense) {
      compared_scheme += fmt::format(" {} {}", sparsity_name(compared_options.prune),
                                     prune_method_name(compared_options.prune.method));
    }
    compared_options.kv_cache = read_kv_cache(args, args.count("compare-kv-cache") ? "compare-kv-cache" : "kv-cache");
    compared = models::builtin_registry().load_model(loaded.path, compared_options);
    compared_kv = compared_options.kv_cache;
    compared_backends = make_backends(args);
    hold_packed_weights(*compared, compared_backends);
  }
  const bool tty = isatty(STDERR_FILENO);
  const PerplexityRequest request{n_ctx, args["windows"].as<int>(), loaded.model->info().bos_id};
  const auto progress = [&](int done, int total) {
    if (tty) {
      std::cerr << fmt::format("\rwindow {}/{}", done, total) << (done == total ? "\n" : "") << std::flush;
    } else if (done == total || done % std::max(1, total / 10) == 0) {
      std::cerr << fmt::format("window {}/{}\n", done, total);
    }
  };
  std::optional<Placement> compared_placement;
  if (compared) compared_placement = compared_backends.placement();
  const PerplexityResult r =
      measure_perplexity(*loaded.model, loaded.backends.placement(), tokens, request, compared.get(),
                         compared_placement ? &*compared_placement : nullptr, progress);
  const std::string scheme = recipe_name(read_quant_recipe(args));
  const DType kv = read_kv_cache(args);
  if (args.count("json")) {
    nlohmann::json j = {{"model", loaded.path},
                        {"file", path},
                        {"quant", scheme},
                        {"kv_cache", kv_cache_name(kv)},
                        {"ctx", n_ctx},
                        {"tokens", r.tokens},
                        {"windows", r.windows},
                        {"perplexity", r.perplexity},
                        {"ppl_stderr", r.ppl_stderr}};
    if (r.compare) {
      j["compare"] = {{"scheme", compared_scheme},
                      {"kv_cache", kv_cache_name(compared_kv)},
                      {"perplexity", r.compare->perplexity},
                      {"ppl_stderr", r.compare->ppl_stderr}};
      j["kld_mean"] = r.compare->kld_mean;
      j["kld_stderr"] = r.compare->kld_stderr;
      j["top1_agreement"] = r.compare->top1_agreement;
    }
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  // Labels name the KV cache only where it is FP8.
  const auto label = [&](const std::string& name, DType cache) {
    return cache == DType::F8E4M3 ? name + ", fp8 KV cache" : name;
  };
  std::cout << fmt::format("{} tokens in {} windows of {}\n", r.tokens, r.windows, n_ctx)
            << fmt::format("perplexity ({}): {:.4f} +/- {:.4f}\n", label(scheme, kv), r.perplexity, r.ppl_stderr);
  if (r.compare) {
    const auto& c = *r.compare;
    const std::string compared_label = label(compared_scheme, compared_kv), base_label = label(scheme, kv);
    std::cout << fmt::format("perplexity ({}): {:.4f} +/- {:.4f} ({:+.2f}%)\n", compared_label, c.perplexity,
                             c.ppl_stderr, 100.0 * (c.perplexity / r.perplexity - 1.0))
              << fmt::format("KL divergence {} vs {}: {:.6f} +/- {:.6f} nats per token\n", compared_label, base_label,
                             c.kld_mean, c.kld_stderr)
              << fmt::format("top-1 agreement: {:.2f}%\n", 100.0 * c.top1_agreement);
  }
  return 0;
}

}  // namespace octet::cli
