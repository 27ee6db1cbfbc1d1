#include "engine/session/decoder_bench.h"

#include "engine/core/error.h"
#include "engine/core/executor.h"
#include "engine/quant/quant.h"

#include <chrono>

namespace octet {

namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// The bytes a one-token step must stream from memory for its matmuls, in the
// form the backend that runs them keeps them (a GPU converts float weights to bf16).
std::size_t matmul_weight_bytes(const Graph& graph, const Placement& placement) {
  const std::vector<int> where = placement.place(graph);
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    if (node.op != OpKind::MatMul) continue;
    Backend& backend = *placement.backends()[static_cast<std::size_t>(where[i])];
    bytes += stored_bytes(backend.prepare_weight(graph.values()[node.inputs[1]].tensor, OpKind::MatMul));
  }
  return bytes;
}

}  // namespace

DecoderBenchResult run_decoder_bench(const Model& model, const Placement& placement, const DecoderBenchRequest& req) {
  if (req.n_prompt < 1 || req.n_gen < 1 || req.repetitions < 1 || req.batch < 1) {
    fail("bench: prompt, generation, repetitions and batch must be at least 1");
  }
  const int n_ctx = std::max(req.n_prompt, req.n_gen + 1);
  if (n_ctx > model.info().context_length) {
    fail("bench: {} tokens exceed the model's context of {}", n_ctx, model.info().context_length);
  }
  Executor executor(model, placement, n_ctx, req.batch);
  const auto vocab = static_cast<std::uint32_t>(model.info().vocab_size);
  const auto id = [&](std::size_t i) { return static_cast<std::int32_t>((i * 2654435761u + 3) % vocab); };
  // Every sequence gets its own prompt: B * n_prompt ids, sequence after sequence.
  std::vector<std::int32_t> prompts(static_cast<std::size_t>(req.batch) * static_cast<std::size_t>(req.n_prompt));
  for (std::size_t i = 0; i < prompts.size(); ++i) prompts[i] = id(i);
  std::vector<std::int32_t> step(static_cast<std::size_t>(req.batch));  // one token per sequence

  DecoderBenchResult r;
  r.decode_weight_bytes = matmul_weight_bytes(model.build_graph({1, n_ctx, false}), placement);
  const auto run_pp = [&] { executor.forward(prompts, 0, false, req.batch); };
  const auto run_tg = [&](std::vector<double>* step_ms) {
    for (int i = 0; i <= req.n_gen; ++i) {
      for (std::size_t b = 0; b < step.size(); ++b) step[b] = id(static_cast<std::size_t>(i) * step.size() + b);
      const auto t0 = Clock::now();
      // As greedy generation runs a step: the backend picks each sequence's
      // token, and only ids come back (the bench feeds its own ids regardless).
      executor.forward_greedy(step, i, req.batch);  // i == 0: the one-token prompt, untimed
      if (step_ms != nullptr && i > 0) step_ms->push_back(1e3 * seconds(t0, Clock::now()));
    }
  };
  run_pp();  // warm-up: plans graphs, creates primitives, faults pages in
  run_tg(nullptr);
  for (int rep = 0; rep < req.repetitions; ++rep) {
    executor.profile_into(req.pp_profile);
    auto t0 = Clock::now();
    run_pp();
    const double pp_seconds = seconds(t0, Clock::now());
    executor.profile_into(req.tg_profile);
    r.pp_tokens_per_second.push_back(static_cast<double>(prompts.size()) / pp_seconds);
    r.ttft_ms.push_back(1e3 * pp_seconds);  // the prompt pass ends with the first token's logits
    const std::size_t first = r.tg_token_ms.size();
    run_tg(&r.tg_token_ms);
    executor.profile_into(nullptr);
    double total_ms = 0;
    for (std::size_t i = first; i < r.tg_token_ms.size(); ++i) total_ms += r.tg_token_ms[i];
    r.tg_tokens_per_second.push_back(static_cast<double>(req.n_gen) * req.batch / (total_ms / 1e3));
  }
  return r;
}

}  // namespace octet
