// `octet bench`: prompt processing and generation speed, llama-bench style.
#include "engine/decoder_bench.h"
#include "engine/error.h"
#include "engine/stats.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tools/cli_common.h"
#include "tools/commands.h"
#include "tools/machine_info.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <sstream>

namespace octet::cli {

namespace {

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  if (out.empty()) fail("empty list '{}'", list);
  return out;
}

}  // namespace

int run_bench(int argc, char** argv) {
  cxxopts::Options options(
      "octet bench",
      "Tokens per second of prompt processing (pp: -p tokens in one pass) and text generation (tg: -n tokens\n"
      "  one at a time), for every combination of the listed schemes and thread counts. Tokenization and\n"
      "  sampling are left out. -m also takes synthetic:llama-15m|llama-110m|llama-1.1b|llama-7b or\n"
      "  synthetic:PATH/config.json: random weights, made on the fly.");
  auto add = options.add_options();
  add("m,model", "model directory, llama2.c .bin, or synthetic:NAME", cxxopts::value<std::string>()->default_value(""));
  add("p,n-prompt", "prompt tokens for pp", cxxopts::value<int>()->default_value("512"));
  add("n,n-gen", "tokens for tg", cxxopts::value<int>()->default_value("128"));
  add("quant", "comma-separated schemes: f32,w8,int8", cxxopts::value<std::string>()->default_value("f32,w8,int8"));
  add("t,threads", "comma-separated thread counts (0 = all cores)", cxxopts::value<std::string>()->default_value("0"));
  add("r,repetitions", "timed repetitions of each test", cxxopts::value<int>()->default_value("5"));
  add("o,output", "md (a table) or json", cxxopts::value<std::string>()->default_value("md"));
  const auto args = parse_or_help(options, argc, argv);
  std::string path = args["model"].as<std::string>();
  if (path.empty()) path = default_model_path();
  const std::string format = args["output"].as<std::string>();
  if (format != "md" && format != "json") fail("--output must be md or json, got '{}'", format);
  const DecoderBenchRequest request{args["n-prompt"].as<int>(), args["n-gen"].as<int>(), args["repetitions"].as<int>()};

  nlohmann::json rows = nlohmann::json::array();
  for (const auto& scheme_name : split(args["quant"].as<std::string>())) {
    const auto scheme = quant_scheme_from_name(scheme_name);
    if (!scheme) fail("--quant: unknown scheme '{}'", scheme_name);
    std::cerr << fmt::format("loading {} as {}...\n", path, scheme_name);
    const auto model = models::builtin_registry().load_decoder(path, {QuantRecipe{*scheme, {}}});
    for (const auto& threads : split(args["threads"].as<std::string>())) {
      auto backend = make_cpu_backend(std::stoi(threads));
      std::cerr << fmt::format("bench {} threads={}: pp{} and tg{}, {} repetitions\n", scheme_name, threads,
                               request.n_prompt, request.n_gen, request.repetitions);
      const DecoderBenchResult r = run_decoder_bench(*model, *backend, request);
      const double tg_mean = mean(r.tg_tokens_per_second);
      rows.push_back({{"quant", scheme_name},
                      {"threads", std::stoi(threads) > 0 ? std::stoi(threads) : machine_cores()},
                      {"pp_tokens", request.n_prompt},
                      {"pp_tok_s_mean", mean(r.pp_tokens_per_second)},
                      {"pp_tok_s_std", stddev(r.pp_tokens_per_second)},
                      {"tg_tokens", request.n_gen},
                      {"tg_tok_s_mean", tg_mean},
                      {"tg_tok_s_std", stddev(r.tg_tokens_per_second)},
                      {"tg_ms_median", percentile(r.tg_token_ms, 50)},
                      {"tg_ms_p99", percentile(r.tg_token_ms, 99)},
                      {"decode_weight_bytes", r.decode_weight_bytes},
                      {"decode_weight_gb_s", static_cast<double>(r.decode_weight_bytes) * tg_mean / 1e9}});
    }
  }
  const nlohmann::json header = {{"model", path},
                                 {"machine", machine_description()},
                                 {"build", build_description()},
                                 {"peak_rss_bytes", peak_rss_bytes()},
                                 {"note", path.starts_with("synthetic:") ? "random weights" : ""}};
  if (format == "json") {
    std::cout << nlohmann::json{{"header", header}, {"results", rows}}.dump(2) << std::endl;
    return 0;
  }
  std::cout << fmt::format("model: {}{}\nmachine: {}\nbuild: {}\npeak resident memory: {:.1f} MiB\n\n", path,
                           path.starts_with("synthetic:") ? " (random weights)" : "", machine_description(),
                           build_description(), peak_rss_bytes() / 1048576.0)
            << "| quant | threads | pp tok/s | tg tok/s | tg ms/token (median, p99) | weights read per token | GB/s |\n"
            << "|---|---|---|---|---|---|---|\n";
  for (const auto& row : rows) {
    std::cout << fmt::format(
        "| {} | {} | {:.1f} ± {:.1f} | {:.1f} ± {:.1f} | {:.2f}, {:.2f} | {:.1f} MB | {:.1f} |\n",
        row["quant"].get<std::string>(), row["threads"].get<int>(), row["pp_tok_s_mean"].get<double>(),
        row["pp_tok_s_std"].get<double>(), row["tg_tok_s_mean"].get<double>(), row["tg_tok_s_std"].get<double>(),
        row["tg_ms_median"].get<double>(), row["tg_ms_p99"].get<double>(),
        row["decode_weight_bytes"].get<std::size_t>() / 1e6, row["decode_weight_gb_s"].get<double>());
  }
  return 0;
}

}  // namespace octet::cli
