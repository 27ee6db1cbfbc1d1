// `octet bench`: prompt processing and generation speed, llama-bench style.
#include "engine/core/error.h"
#include "engine/quant/pruning.h"
#include "engine/session/decoder_bench.h"
#include "engine/session/encoder_bench.h"
#include "engine/session/matmul_bench.h"
#include "engine/session/read_bandwidth.h"
#include "engine/session/stats.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tools/cli_common.h"
#include "tools/commands.h"
#include "tools/machine_info.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <optional>
#include <sstream>

namespace octet::cli {

namespace {

// The items of option --`option`'s comma-separated `list`.
std::vector<std::string> split(const std::string& list, std::string_view option) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  if (out.empty()) fail("--{}: empty list '{}'", option, list);
  return out;
}

// The same, each item an integer of at least `min`.
std::vector<int> int_list(const std::string& list, std::string_view option, int min) {
  std::vector<int> out;
  for (const auto& item : split(list, option)) {
    int n = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (ec != std::errc() || end != item.data() + item.size() || n < min) {
      fail("--{}: '{}' is not a whole number >= {}", option, item, min);
    }
    out.push_back(n);
  }
  return out;
}

// -p, -n and -r, checked before any model is loaded.
DecoderBenchRequest read_request(const cxxopts::ParseResult& args) {
  const DecoderBenchRequest request{args["n-prompt"].as<int>(), args["n-gen"].as<int>(), args["repetitions"].as<int>()};
  if (request.n_prompt < 1) fail("--n-prompt must be at least 1, got {}", request.n_prompt);
  if (request.n_gen < 1) fail("--n-gen must be at least 1, got {}", request.n_gen);
  if (request.repetitions < 1) fail("--repetitions must be at least 1, got {}", request.repetitions);
  return request;
}

// Writes `rows` (objects with `columns`) as csv: one header row, strings quoted.
void print_csv(const nlohmann::json& rows, const std::vector<std::string>& columns) {
  const auto quoted = [](const std::string& v) {
    std::string out = "\"";
    for (char ch : v) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + "\"";
  };
  for (std::size_t i = 0; i < columns.size(); ++i) std::cout << (i ? "," : "") << columns[i];
  std::cout << '\n';
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const auto& v = row[columns[i]];
      std::cout << (i ? "," : "") << (v.is_string() ? quoted(v.get<std::string>()) : v.dump());
    }
    std::cout << '\n';
  }
}

int run_matmul_mode(const cxxopts::ParseResult& args) {
  const std::string format = args["output"].as<std::string>();
  struct MatmulShape {
    int n, k;
  };
  const MatmulShape shapes[] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
  nlohmann::json rows = nlohmann::json::array(), skipped = nlohmann::json::array();
  const int repetitions = read_request(args).repetitions;
  const std::vector<int> sizes = int_list(args["matmul"].as<std::string>(), "matmul", 1);
  const int threads = int_list(args["threads"].as<std::string>(), "threads", 0).front();
  for (const auto& backend_name : split(args["backend"].as<std::string>(), "backend")) {
    std::unique_ptr<Backend> backend;
    try {
      backend = make_backend(backend_name, threads);
    } catch (const Error& e) {
      skipped.push_back({{"backend", backend_name}, {"quant", "all"}, {"reason", e.what()}});
      continue;
    }
    for (const auto& scheme_name : split(args["quant"].as<std::string>(), "quant")) {
      const auto scheme = quant_scheme_from_name(scheme_name);
      if (!scheme) fail("--quant: unknown scheme '{}'", scheme_name);
      if (!backend->supports(OpKind::MatMul, weight_dtype(*scheme))) {
        skipped.push_back({{"backend", backend_name},
                           {"quant", scheme_name},
                           {"reason", fmt::format("{} does not run {} matmuls", backend->name(), scheme_name)}});
        continue;
      }
      for (const int m : sizes) {
        for (const auto& shape : shapes) {
          std::cerr << fmt::format("matmul {} {} M={} N={} K={}\n", backend_name, scheme_name, m, shape.n, shape.k);
          const auto r = run_matmul_bench(*backend, {*scheme, m, shape.k, shape.n, repetitions});
          rows.push_back({{"backend", backend_name},
                          {"quant", scheme_name},
                          {"m", m},
                          {"n", shape.n},
                          {"k", shape.k},
                          {"ms_median", 1e3 * percentile(r.seconds, 50)},
                          {"tflops", r.tflops()}});
        }
      }
    }
  }
  if (format == "json") {
    std::cout << nlohmann::json{{"header", {{"machine", machine_description()}, {"build", build_description()}}},
                                {"results", rows},
                                {"skipped", skipped}}
                     .dump(2)
              << std::endl;
  } else if (format == "csv") {
    print_csv(rows, {"backend", "quant", "m", "n", "k", "ms_median", "tflops"});
  } else {
    std::cout << fmt::format(
        "machine: {}\nbuild: {}\n\n| backend | quant | M | N | K | ms per call | TFLOP/s |\n"
        "|---|---|---|---|---|---|---|\n",
        machine_description(), build_description());
    for (const auto& r : rows) {
      std::cout << fmt::format("| {} | {} | {} | {} | {} | {:.4f} | {:.3g} |\n", r["backend"].get<std::string>(),
                               r["quant"].get<std::string>(), r["m"].get<int>(), r["n"].get<int>(), r["k"].get<int>(),
                               r["ms_median"].get<double>(), r["tflops"].get<double>());
    }
    for (const auto& sk : skipped) {
      std::cout << fmt::format("\nskipped: {} {}: {}", sk["backend"].get<std::string>(), sk["quant"].get<std::string>(),
                               sk["reason"].get<std::string>());
    }
    std::cout << '\n';
  }
  return 0;
}

// `profile` summed over `repetitions`: each kind of node's share, largest first.
void print_profile(const NodeProfile& profile, const std::string& title, int repetitions) {
  std::vector<std::pair<std::string, NodeProfile::Entry>> entries(profile.by_node.begin(), profile.by_node.end());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  const double total = profile.total_seconds();
  std::cerr << fmt::format("where the time goes, {}: {:.2f} ms per repetition in nodes\n", title,
                           1e3 * total / repetitions);
  for (const auto& [node, e] : entries) {
    std::cerr << fmt::format("  {:>5.1f}%  {:>9.3f} ms  {:>6} calls  {}\n", 100.0 * e.seconds / total,
                             1e3 * e.seconds / repetitions, e.calls / repetitions, node);
  }
}

}  // namespace

int run_bench(int argc, char** argv) {
  cxxopts::Options options(
      "octet bench",
      "Tokens per second of prompt processing (pp: -p tokens in one pass) and text generation (tg: -n tokens\n"
      "  one at a time), for every combination of the listed backends, schemes and thread counts. Tokenization\n"
      "  and sampling are left out. -m also takes synthetic:llama-15m|llama-110m|llama-1.1b|llama-7b or\n"
      "  synthetic:PATH/config.json: random weights, made on the fly. Combinations that cannot run here are\n"
      "  listed as skipped, with the reason.\n"
      "  -b runs that many sequences together: a decoder's pp then takes -b prompts of -p tokens in one pass,\n"
      "  and each tg step decodes one token for each of -b sequences; tokens/s count every sequence's tokens.\n"
      "  Encoders (BERT family; synthetic:bert-base|bert-large) are timed as sentences per second: batches of\n"
      "  -b sequences of -p tokens each.");
  auto add = options.add_options();
  add("m,model", "model directory, llama2.c .bin, or synthetic:NAME", cxxopts::value<std::string>()->default_value(""));
  add("p,n-prompt", "prompt tokens for pp", cxxopts::value<int>()->default_value("512"));
  add("n,n-gen", "tokens for tg", cxxopts::value<int>()->default_value("128"));
  add("b,batch", "comma-separated batch sizes: sequences per pass (default 1 for decoders, 1,32 for encoders)",
      cxxopts::value<std::string>()->default_value(""));
  add("quant", "comma-separated schemes: f32,w8,int8,fp8", cxxopts::value<std::string>()->default_value("f32,w8,int8"));
  add("backend", "comma-separated backends: cpu,cuda", cxxopts::value<std::string>()->default_value("cpu"));
  add("kv-cache", "decoders' KV cache for every run: f32, or fp8 (E4M3, a scale per token and head)",
      cxxopts::value<std::string>()->default_value("f32"));
  add("gpu-layers", "with cuda: the first N blocks on the GPU and the rest on the CPU (a model too large for the GPU)",
      cxxopts::value<int>());
  add("cpu-quant",
      "with --backend cuda --gpu-layers N: the scheme of the CPU's blocks (e.g. --quant fp8 --cpu-quant int8)",
      cxxopts::value<std::string>());
  add("sparsity",
      "comma-separated sparsities: dense, 2:4, or a fraction such as 0.5 (unstructured): matmul weights pruned "
      "by magnitude at load, lm_head kept dense (2:4 int8 runs on the compressed 2:4 kernels)",
      cxxopts::value<std::string>()->default_value("dense"));
  add("t,threads", "comma-separated CPU thread counts (0 = all cores)",
      cxxopts::value<std::string>()->default_value("0"));
  add("r,repetitions", "timed repetitions of each test", cxxopts::value<int>()->default_value("5"));
  add("o,output", "md (a table), json or csv", cxxopts::value<std::string>()->default_value("md"));
  add("bandwidth",
      "also measure the machine's streaming read bandwidth (1 GiB summed on the first --threads count) and give "
      "each decode row's weights-read GB/s as a share of it");
  add("profile",
      "print where the time goes (to stderr): wall time of each kind of node per repetition, summed over the "
      "layers (CPU nodes only)");
  add("matmul",
      "time the matrix product alone instead of a model: comma-separated token counts M, on the Llama-7B shapes "
      "(N x K = 4096x4096, 11008x4096, 4096x11008); reports TFLOP/s",
      cxxopts::value<std::string>());
  const auto args = parse_or_help(options, argc, argv);
  if (args.count("matmul")) return run_matmul_mode(args);
  std::string path = args["model"].as<std::string>();
  if (path.empty()) path = shipped_model_path(ModelKind::Decoder);
  const std::string format = args["output"].as<std::string>();
  if (format != "md" && format != "json" && format != "csv") {
    fail("--output must be md, json or csv, got '{}'", format);
  }
  const DecoderBenchRequest request = read_request(args);
  const auto backends = split(args["backend"].as<std::string>(), "backend");
  const std::vector<int> cpu_threads = int_list(args["threads"].as<std::string>(), "threads", 0);
  for (const auto& b : backends) {
    if (b != "cpu" && b != "cuda") fail("--backend: unknown backend '{}' (cpu or cuda)", b);
  }
  const int gpu_layers = args.count("gpu-layers") ? args["gpu-layers"].as<int>() : -1;
  const DType kv_cache = read_kv_cache(args);
  std::optional<QuantScheme> cpu_quant;
  if (args.count("cpu-quant")) {
    if (gpu_layers < 0 || backends != std::vector<std::string>{"cuda"}) {
      fail("--cpu-quant sets the scheme of the CPU's blocks: use it with --backend cuda --gpu-layers N");
    }
    cpu_quant = quant_scheme_from_name(args["cpu-quant"].as<std::string>());
    if (!cpu_quant) fail("--cpu-quant: unknown scheme '{}'", args["cpu-quant"].as<std::string>());
  }
  if (args.count("gpu-layers") && gpu_layers < 0) fail("--gpu-layers must be >= 0, got {}", gpu_layers);

  nlohmann::json rows = nlohmann::json::array(), skipped = nlohmann::json::array();
  bool encoder = false;
  const auto batches = [&] {
    const std::string list = args["batch"].as<std::string>();
    return int_list(!list.empty() ? list : encoder ? "1,32" : "1", "batch", 1);
  };
  batches();  // a bad list fails here, before a model is loaded
  // Every sparsity with every scheme: the model loads once for each.
  struct Variant {
    std::string scheme_name;
    PruneRecipe prune;
  };
  std::vector<Variant> variants;
  for (const auto& sparsity : split(args["sparsity"].as<std::string>(), "sparsity")) {
    PruneRecipe prune;
    if (sparsity != "dense") {
      const auto recipe = sparsity_from_name(sparsity);
      if (!recipe) fail("--sparsity: '{}' is not dense, 2:4 or a fraction in (0, 1)", sparsity);
      prune = *recipe;
    }
    for (const auto& scheme_name : split(args["quant"].as<std::string>(), "quant"))
      variants.push_back({scheme_name, prune});
  }
  for (const auto& [scheme_name, prune] : variants) {
    // The previous variant's model is gone; glibc keeps its freed heap pages
    // unless asked, and they would count in this variant's resident memory.
    malloc_trim(0);
    const auto scheme = quant_scheme_from_name(scheme_name);
    if (!scheme) fail("--quant: unknown scheme '{}'", scheme_name);
    LoadOptions load{QuantRecipe{*scheme, {}}};
    if (cpu_quant) {
      load.quant.rest_from = gpu_layers;
      load.quant.rest_scheme = *cpu_quant;
    }
    load.prune = prune;
    const std::string scheme_label =
        recipe_name(load.quant) + (prune.pattern == SparsityPattern::Dense ? "" : ", " + sparsity_name(prune));
    std::cerr << fmt::format("loading {} as {}...\n", path, scheme_label);
    load.kv_cache = kv_cache;
    const auto model = models::builtin_registry().load_model(path, load);
    encoder = model->info().kind == ModelKind::Encoder;
    const ModelSize size = model_size(model->weights());
    // Run by the CPU backend alone: one packed copy of each weight (cli_common.h).
    if (backends == std::vector<std::string>{"cpu"} && gpu_layers < 0) pack_matmul_weights(*model);
    const std::size_t first_row = rows.size();
    for (const auto& device_name : backends) {
      const bool split_cuda = device_name == "cuda" && gpu_layers >= 0;
      const std::string backend_name =
          split_cuda ? fmt::format("cuda ({} blocks) + cpu", gpu_layers) : std::string(device_name);
      // Threads are the CPU's knob; a GPU backend alone runs once.
      const std::vector<int> thread_list = device_name == "cpu" || split_cuda ? cpu_threads : std::vector<int>{0};
      for (const auto& threads : thread_list) {
        const auto skip = [&](const std::string& why) {
          std::cerr << fmt::format("skipping {} {}: {}\n", backend_name, scheme_name, why);
          skipped.push_back({{"backend", backend_name}, {"quant", scheme_label}, {"reason", why}});
        };
        Backends on;
        try {
          on.main = make_backend(device_name, threads);
          if (split_cuda) {
            on.rest = make_backend("cpu", threads);
            on.gpu_layers = gpu_layers;
          }
        } catch (const Error& e) {
          skip(e.what());
          break;
        }
        const Placement placement = on.placement();
        const auto refusal = [&]() -> std::string {
          for (Backend* backend : placement.backends()) {
            if (!backend->supports(OpKind::MatMul, weight_dtype(*scheme))) {
              return fmt::format("{} does not run {} matmuls", backend->name(), scheme_name);
            }
            if (encoder && !backend->supports(OpKind::LayerNorm, DType::F32)) {
              return fmt::format("{} does not run encoders yet", backend->name());
            }
          }
          return "";
        }();
        if (!refusal.empty()) {
          skip(refusal);
          break;
        }
        if (encoder) {
          for (const int b : batches()) {
            NodeProfile profile;
            const EncoderBenchRequest er{b, request.n_prompt, request.repetitions,
                                         args.count("profile") ? &profile : nullptr};
            std::cerr << fmt::format("bench {} {} threads={}: batch {} of {} tokens, {} repetitions\n", backend_name,
                                     scheme_name, threads, er.batch, er.seq_len, er.repetitions);
            const std::vector<double> s = run_encoder_bench(*model, placement, er);
            if (er.profile != nullptr) {
              print_profile(profile, fmt::format("{} {} batch {}", backend_name, scheme_label, b), er.repetitions);
            }
            rows.push_back({{"backend", backend_name},
                            {"quant", scheme_label},
                            {"threads", threads > 0 ? threads : machine_cores()},
                            {"batch", er.batch},
                            {"seq_len", er.seq_len},
                            {"sent_s_mean", mean(s)},
                            {"sent_s_std", stddev(s)},
                            {"tok_s_mean", mean(s) * er.seq_len}});
          }
          continue;
        }
        for (const int b : batches()) {
          DecoderBenchRequest dr = request;
          dr.batch = b;
          NodeProfile pp_profile, tg_profile;
          if (args.count("profile")) {
            dr.pp_profile = &pp_profile;
            dr.tg_profile = &tg_profile;
          }
          std::cerr << fmt::format("bench {} {} threads={}: batch {}, pp{} and tg{}, {} repetitions\n", backend_name,
                                   scheme_name, threads, b, dr.n_prompt, dr.n_gen, dr.repetitions);
          DecoderBenchResult r;
          try {
            r = run_decoder_bench(*model, placement, dr);
          } catch (const Error& e) {
            // Refused before anything is timed (a backend without batched decode, a context too short).
            skip(fmt::format("batch {}: {}", b, e.what()));
            continue;
          }
          if (args.count("profile")) {
            const std::string title = fmt::format("{} {} batch {}", backend_name, scheme_label, b);
            print_profile(pp_profile, fmt::format("{}, pp{}", title, dr.n_prompt), dr.repetitions);
            print_profile(tg_profile, fmt::format("{}, tg{}", title, dr.n_gen), dr.repetitions);
          }
          const double tg_mean = mean(r.tg_tokens_per_second);
          rows.push_back({{"backend", backend_name},
                          {"quant", scheme_label},
                          {"threads", threads > 0 ? threads : machine_cores()},
                          {"batch", b},
                          {"pp_tokens", request.n_prompt},
                          {"pp_tok_s_mean", mean(r.pp_tokens_per_second)},
                          {"pp_tok_s_std", stddev(r.pp_tokens_per_second)},
                          {"ttft_ms_mean", mean(r.ttft_ms)},
                          {"tg_tokens", request.n_gen},
                          {"tg_tok_s_mean", tg_mean},
                          {"tg_tok_s_std", stddev(r.tg_tokens_per_second)},
                          {"tg_ms_median", percentile(r.tg_token_ms, 50)},
                          {"tg_ms_p99", percentile(r.tg_token_ms, 99)},
                          {"decode_weight_bytes", r.decode_weight_bytes},
                          {"decode_weight_gb_s", static_cast<double>(r.decode_weight_bytes) * tg_mean / b / 1e9},
                          {"resident_bytes_loaded", resident_bytes()}});
        }
      }
    }
    // Every row of this scheme: the model as loaded (weights and scales).
    for (std::size_t r = first_row; r < rows.size(); ++r) {
      rows[r]["model_bytes"] = size.bytes;
      rows[r]["parameters"] = size.parameters;
    }
  }
  const bool random_weights = path.starts_with("synthetic:");
  std::optional<ReadBandwidth> bandwidth;
  if (args.count("bandwidth")) {
    const int threads = cpu_threads.front() > 0 ? cpu_threads.front() : machine_cores();
    std::cerr << fmt::format("measuring read bandwidth on {} threads...\n", threads);
    bandwidth = measure_read_bandwidth(std::size_t{1} << 30, threads);
    for (auto& row : rows) {
      if (row.contains("decode_weight_gb_s")) {
        row["decode_share_of_read_bandwidth"] = row["decode_weight_gb_s"].get<double>() / bandwidth->gb_per_s;
      }
    }
  }
  nlohmann::json header = {{"model", path},
                           {"machine", machine_description()},
                           {"build", build_description()},
                           {"peak_rss_bytes", peak_rss_bytes()},
                           {"kv_cache", kv_cache_name(kv_cache)},
                           {"note", random_weights ? "random weights" : ""}};
  if (bandwidth) {
    header["read_bandwidth_gb_s"] = bandwidth->gb_per_s;
    header["read_bandwidth_threads"] = bandwidth->threads;
  }
  if (format == "json") {
    std::cout << nlohmann::json{{"header", header}, {"results", rows}, {"skipped", skipped}}.dump(2) << std::endl;
    return 0;
  }
  if (format == "csv") {
    // The run's header fields repeat on every row so that files from several machines concatenate.
    for (auto& row : rows) {
      row["model"] = path;
      row["machine"] = machine_description();
      row["build"] = build_description();
    }
    if (encoder) {
      print_csv(rows, {"model", "machine", "build", "backend", "quant", "parameters", "model_bytes", "threads", "batch",
                       "seq_len", "sent_s_mean", "sent_s_std", "tok_s_mean"});
      return 0;
    }
    print_csv(rows, {"model",
                     "machine",
                     "build",
                     "backend",
                     "quant",
                     "parameters",
                     "model_bytes",
                     "threads",
                     "batch",
                     "pp_tokens",
                     "pp_tok_s_mean",
                     "pp_tok_s_std",
                     "ttft_ms_mean",
                     "tg_tokens",
                     "tg_tok_s_mean",
                     "tg_tok_s_std",
                     "tg_ms_median",
                     "tg_ms_p99",
                     "decode_weight_bytes",
                     "decode_weight_gb_s"});
    return 0;
  }
  std::cout << fmt::format("model: {}{}\nmachine: {}\nbuild: {}\npeak resident memory: {:.1f} MiB\n{}\n", path,
                           random_weights ? " (random weights)" : "", machine_description(), build_description(),
                           peak_rss_bytes() / 1048576.0,
                           kv_cache == DType::F8E4M3 ? "KV cache: fp8 (E4M3, a scale per token and head)\n" : "");
  if (bandwidth) {
    std::cout << fmt::format("read bandwidth: {:.1f} GB/s ({} threads summing {} MiB, best of 5)\n\n",
                             bandwidth->gb_per_s, bandwidth->threads, bandwidth->bytes >> 20);
  }
  if (encoder) {
    std::cout << "| backend | quant | model size | threads | batch | tokens per sequence | sentences/s | tokens/s |\n"
              << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
      std::cout << fmt::format("| {} | {} | {:.1f} MiB | {} | {} | {} | {:.1f} ± {:.1f} | {:.0f} |\n",
                               row["backend"].get<std::string>(), row["quant"].get<std::string>(),
                               row["model_bytes"].get<double>() / 1048576.0, row["threads"].get<int>(),
                               row["batch"].get<int>(), row["seq_len"].get<int>(), row["sent_s_mean"].get<double>(),
                               row["sent_s_std"].get<double>(), row["tok_s_mean"].get<double>());
    }
  } else {
    std::cout << "| backend | quant | model size | threads | batch | pp tok/s | time to first token | tg tok/s | tg "
                 "ms/step (median, p99) | weights read per step | GB/s |\n"
              << "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
      std::cout << fmt::format(
          "| {} | {} | {:.1f} MiB | {} | {} | {:.1f} ± {:.1f} | {:.2f} ms | {:.1f} ± {:.1f} | {:.2f}, {:.2f} | {:.1f} "
          "MB "
          "| {:.1f}{} |\n",
          row["backend"].get<std::string>(), row["quant"].get<std::string>(),
          row["model_bytes"].get<double>() / 1048576.0, row["threads"].get<int>(), row["batch"].get<int>(),
          row["pp_tok_s_mean"].get<double>(), row["pp_tok_s_std"].get<double>(), row["ttft_ms_mean"].get<double>(),
          row["tg_tok_s_mean"].get<double>(), row["tg_tok_s_std"].get<double>(), row["tg_ms_median"].get<double>(),
          row["tg_ms_p99"].get<double>(), row["decode_weight_bytes"].get<std::size_t>() / 1e6,
          row["decode_weight_gb_s"].get<double>(),
          row.contains("decode_share_of_read_bandwidth")
              ? fmt::format(" ({:.0f}% of read)", 100.0 * row["decode_share_of_read_bandwidth"].get<double>())
              : "");
    }
  }
  for (const auto& s : skipped) {
    std::cout << fmt::format("\nskipped: {} {}: {}", s["backend"].get<std::string>(), s["quant"].get<std::string>(),
                             s["reason"].get<std::string>());
  }
  if (!skipped.empty()) std::cout << '\n';
  return 0;
}

}  // namespace octet::cli
