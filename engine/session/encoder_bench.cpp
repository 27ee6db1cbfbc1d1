#include "engine/session/encoder_bench.h"

#include "engine/core/error.h"
#include "engine/core/executor.h"

#include <chrono>
#include <random>

namespace octet {

std::vector<double> run_encoder_bench(const Model& model, const Placement& placement,
                                      const EncoderBenchRequest& request) {
  const ModelInfo& info = model.info();
  if (info.kind != ModelKind::Encoder) fail("{}: not an encoder", info.source);
  if (request.batch <= 0 || request.repetitions <= 0) fail("encoder bench: batch and repetitions must be positive");
  if (request.seq_len <= 0 || request.seq_len > info.context_length) {
    fail("encoder bench: sequences of {} tokens do not fit the model's {} positions", request.seq_len,
         info.context_length);
  }
  const auto n = static_cast<std::size_t>(request.batch) * static_cast<std::size_t>(request.seq_len);
  std::vector<std::int32_t> ids(n), types(n, 0), positions(n),
      lengths(static_cast<std::size_t>(request.batch), request.seq_len);
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int32_t> token(0, static_cast<std::int32_t>(info.vocab_size - 1));
  for (std::size_t i = 0; i < n; ++i) {
    ids[i] = token(rng);
    positions[i] = static_cast<std::int32_t>(i % static_cast<std::size_t>(request.seq_len));
  }
  Executor executor(model, placement, static_cast<int>(info.context_length));
  const GraphInput inputs[] = {{"tokens", ids}, {"token_types", types}, {"positions", positions}, {"lengths", lengths}};
  const GraphRequest step{request.seq_len, 0, false, request.batch};
  executor.run(step, inputs);  // warm-up: plans, primitives, first touch of the arena
  std::vector<double> out;
  executor.profile_into(request.profile);
  for (int r = 0; r < request.repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    executor.run(step, inputs);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.push_back(request.batch / seconds);
  }
  return out;
}

}  // namespace octet
