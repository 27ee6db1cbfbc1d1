// `octet info`: what a model is, how big, in which dtypes.
#include "engine/io/compressed_tensors.h"
#include "engine/quant/quant.h"
#include "tools/cli_common.h"
#include "tools/commands.h"

#ifdef OCTET_HAVE_CUDA
#include "kernels/cuda/cuda_devices.h"
#endif

#include <fmt/format.h>

#include <iostream>
#include <map>

namespace octet::cli {

namespace {
std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  return fmt::format("{:.1f} {}", bytes, units[u]);
}
}  // namespace

int run_info(int argc, char** argv) {
  cxxopts::Options options("octet info", "Show a model's architecture, parameter count, dtypes and memory.");
  add_model_options(options);
  const auto args = parse_or_help(options, argc, argv);
  const LoadedModel loaded = load_model(args, std::nullopt, LoadFor::Reading);
  const ModelInfo& info = loaded.model->info();

  const auto weights = loaded.model->weights();
  const auto [params, bytes] = model_size(weights);
  std::map<std::string, std::int64_t> by_dtype;
  for (const auto& [name, t] : weights) by_dtype[std::string(dtype_name(t.dtype()))] += t.numel();
  // The KV cache is the graph's state: sum what a full-context graph declares.
  std::size_t kv_bytes = 0;
  const bool decoder = info.kind == ModelKind::Decoder;
  if (decoder) {
    const Graph graph = loaded.model->build_graph({1, static_cast<int>(info.context_length), false});
    for (const Value& v : graph.values()) {
      if (v.kind == ValueKind::State) kv_bytes += static_cast<std::size_t>(shape_numel(v.shape)) * dtype_size(v.dtype);
    }
  }
  std::cout << fmt::format("model         {}\n", loaded.path)
            << fmt::format("architecture  {} (family {})\n", info.architecture, info.family)
            << fmt::format("layers        {}, hidden {}\n", info.n_layers, info.hidden_size);
  for (const auto& [k, v] : info.details) std::cout << fmt::format("{:<14}{}\n", k, v);
  std::cout << fmt::format("vocabulary    {} (tokenizer: {}, {} tokens)\n", info.vocab_size, loaded.tokenizer->kind(),
                           loaded.tokenizer->vocab_size())
            << fmt::format("{}{} tokens\n", decoder ? "context       " : "max length    ", info.context_length)
            << fmt::format("parameters    {} ({:.2f} M)\n", params, params / 1e6);
  for (const auto& [dtype, n] : by_dtype) std::cout << fmt::format("  {:<12}{} parameters\n", dtype, n);
  std::cout << fmt::format("weights       {} in memory\n", human_bytes(static_cast<double>(bytes)));
  // Pruned weights (octet prune, or any checkpoint with many zeros), the head included.
  const MeasuredSparsity sparsity = measure_sparsity(*loaded.model, {});
  if (sparsity.zero_fraction >= 0.01) {
    std::cout << fmt::format("sparsity      {:.1f}% of the matmul weights are zero{}\n", 100.0 * sparsity.zero_fraction,
                             sparsity.breaks_two_four.empty() ? ", 2:4 in every group of 4" : "");
  }
  if (decoder)
    std::cout << fmt::format("KV cache      {} for the full context\n", human_bytes(static_cast<double>(kv_bytes)));
#ifdef OCTET_HAVE_CUDA
  std::string why;
  const auto devices = cuda::list_devices(&why);
  if (devices.empty()) std::cout << fmt::format("CUDA          built in; no usable GPU ({})\n", why);
  for (const auto& d : devices) {
    std::cout << fmt::format("CUDA {}        {}, compute {}.{}, {}{}\n", d.index, d.name, d.compute_major,
                             d.compute_minor, human_bytes(static_cast<double>(d.memory_bytes)),
                             d.supports_fp8() ? ", FP8" : "");
  }
#else
  std::cout << "CUDA          not built in\n";
#endif
  return 0;
}

}  // namespace octet::cli
