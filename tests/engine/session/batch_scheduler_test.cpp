#include "engine/session/batch_scheduler.h"

#include "engine/session/generation_session.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <future>

namespace octet {
namespace {

using Clock = std::chrono::steady_clock;

struct Finished {
  std::vector<std::int32_t> tokens;
  StreamEvent done;
};

// Reads a stream to its end (a minute at most: a hung scheduler fails the test, not the run).
Finished read_all(RequestStream& stream) {
  Finished out;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (auto event = stream.next(deadline)) {
    if (event->kind == StreamEvent::Kind::Done) {
      out.done = *event;
      return out;
    }
    out.tokens.push_back(event->id);
  }
  ADD_FAILURE() << "the stream did not end";
  return out;
}

SamplerOptions greedy() {
  SamplerOptions o;
  o.temperature = 0.0f;
  return o;
}

// A prompt of `n` ids that differs per `seed`.
std::vector<std::int32_t> prompt_of(int n, int seed) {
  std::vector<std::int32_t> ids{1};
  for (int i = 1; i < n; ++i) ids.push_back(static_cast<std::int32_t>(3 + (seed * 97 + i * 31) % 1000));
  return ids;
}

// Eight overlapping greedy requests (prompts of different lengths, some
// longer than a prefill chunk, different token budgets) each get what
// GenerationSession generates for them alone.
TEST(BatchScheduler, OverlappingGreedyRequestsEqualEachRunAlone) {
  for (const QuantScheme scheme : {QuantScheme::F32, QuantScheme::Int8}) {
    auto model = models::builtin_registry().load_model(test::shipped_model(), {QuantRecipe{scheme, {}}});
    auto backend = make_cpu_backend(0);
    std::vector<GenerationRequest> requests;
    for (int r = 0; r < 8; ++r) requests.push_back({prompt_of(3 + 5 * r, r), 10 + 3 * r, greedy()});
    std::vector<std::vector<std::int32_t>> alone;
    for (const GenerationRequest& request : requests) {
      GenerationSession session(*model, *backend, 128);
      Sampler sampler(request.sampling, model->info().vocab_size);
      std::vector<std::int32_t> tokens;
      session.generate(request.prompt, request.max_tokens, sampler, [&](std::int32_t id) {
        tokens.push_back(id);
        return true;
      });
      alone.push_back(tokens);
    }
    BatchScheduler scheduler(*model, *backend, {.parallel = 4, .n_ctx = 128, .max_queue = 8, .prefill_chunk = 16});
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const GenerationRequest& request : requests) streams.push_back(scheduler.submit(request));
    for (std::size_t r = 0; r < requests.size(); ++r) {
      const Finished got = read_all(*streams[r]);
      EXPECT_EQ(got.tokens, alone[r]) << quant_scheme_name(scheme) << " request " << r;
      EXPECT_EQ(got.done.error, "");
      EXPECT_EQ(got.done.stats.prompt_tokens, static_cast<int>(requests[r].prompt.size()));
      EXPECT_EQ(got.done.stats.generated_tokens, static_cast<int>(got.tokens.size()));
    }
    EXPECT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(5)));
    EXPECT_EQ(scheduler.active(), 0);
  }
}

// A seeded sampled request gives the same tokens beside others as alone.
TEST(BatchScheduler, SeededSamplingIsReproducibleUnderLoad) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  SamplerOptions sampled;
  sampled.temperature = 0.9f;
  sampled.seed = 7;
  BatchScheduler scheduler(*model, *backend, {.parallel = 3, .n_ctx = 96});
  const std::vector<std::int32_t> tokens_alone = read_all(*scheduler.submit({prompt_of(9, 1), 24, sampled})).tokens;
  std::vector<std::shared_ptr<RequestStream>> others;
  for (int r = 0; r < 2; ++r) others.push_back(scheduler.submit({prompt_of(20, 5 + r), 30, greedy()}));
  const auto beside = scheduler.submit({prompt_of(9, 1), 24, sampled});
  EXPECT_EQ(read_all(*beside).tokens, tokens_alone);
  for (auto& s : others) read_all(*s);
}

// Cancelling a long request frees its slot for the next one at once.
TEST(BatchScheduler, CancelFreesTheSlot) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  BatchScheduler scheduler(*model, *backend, {.parallel = 1, .n_ctx = 256, .max_queue = 4});
  SamplerOptions never_eos = greedy();
  const auto long_one = scheduler.submit({prompt_of(4, 3), 250, never_eos});
  ASSERT_TRUE(long_one->next(Clock::now() + std::chrono::seconds(30)).has_value()) << "a first token";
  const auto next = scheduler.submit({prompt_of(4, 4), 5, greedy()});
  long_one->cancel();
  const Finished cancelled = read_all(*long_one);
  EXPECT_EQ(cancelled.done.stats.reason, StopReason::Interrupted);
  EXPECT_LT(cancelled.done.stats.generated_tokens, 250);
  const Finished done = read_all(*next);
  EXPECT_EQ(done.done.error, "");
  EXPECT_GT(done.done.stats.generated_tokens, 0);
}

TEST(BatchScheduler, FullQueueIsRefusedAndBadRequestsNamed) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  BatchScheduler scheduler(*model, *backend, {.parallel = 1, .n_ctx = 256, .max_queue = 1});
  const auto running = scheduler.submit({prompt_of(4, 3), 250, greedy()});
  const auto until = Clock::now() + std::chrono::seconds(30);
  while (scheduler.active() == 0 && Clock::now() < until) std::this_thread::yield();
  const auto waiting = scheduler.submit({prompt_of(4, 4), 3, greedy()});
  EXPECT_THROW(scheduler.submit({prompt_of(4, 5), 3, greedy()}), QueueFullError);
  running->cancel();
  read_all(*running);
  EXPECT_EQ(read_all(*waiting).done.error, "");

  EXPECT_CONTAINS(test::error_of([&] { scheduler.submit({{}, 3, greedy()}); }), "no tokens");
  EXPECT_CONTAINS(test::error_of([&] { scheduler.submit({{1, 5000}, 3, greedy()}); }), "id 5000");
  EXPECT_THROW(scheduler.submit({prompt_of(256, 1), 3, greedy()}), ContextFullError);
  SamplerOptions bad = greedy();
  bad.top_p = 2.0f;
  EXPECT_CONTAINS(test::error_of([&] { scheduler.submit({{1, 5}, 3, bad}); }), "top-p");
}

// ignore_eos: the same seeded request that stops at EOS runs to its token
// limit instead, through the same tokens up to where EOS was drawn.
TEST(BatchScheduler, IgnoringEosRunsToTheTokenLimit) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  BatchScheduler scheduler(*model, *backend, {.parallel = 2, .n_ctx = 256});
  SamplerOptions sampled;
  sampled.temperature = 0.8f;
  sampled.seed = 3;
  const Finished ends = read_all(*scheduler.submit({prompt_of(1, 0), 200, sampled}));
  ASSERT_EQ(ends.done.stats.reason, StopReason::Eos) << "the shipped model ends a story within 200 tokens";
  const Finished runs_on = read_all(*scheduler.submit({prompt_of(1, 0), 200, sampled, true}));
  EXPECT_EQ(runs_on.done.stats.reason, StopReason::Length);
  ASSERT_EQ(runs_on.tokens.size(), 200u);
  const auto& eos = model->info().eos_ids;
  for (const std::int32_t id : runs_on.tokens) EXPECT_EQ(std::count(eos.begin(), eos.end(), id), 0) << id;
  // Greedy is unchanged by masking EOS until EOS would have been the argmax.
  const Finished greedy_ends = read_all(*scheduler.submit({prompt_of(1, 0), 200, greedy()}));
  const Finished greedy_runs_on = read_all(*scheduler.submit({prompt_of(1, 0), 200, greedy(), true}));
  ASSERT_EQ(greedy_ends.done.stats.reason, StopReason::Eos);
  ASSERT_GT(greedy_runs_on.tokens.size(), greedy_ends.tokens.size());
  EXPECT_TRUE(std::equal(greedy_ends.tokens.begin(), greedy_ends.tokens.end(), greedy_runs_on.tokens.begin()));
}

// A sequence that fills its slot's context stops there; the others go on.
TEST(BatchScheduler, ContextFullEndsOnlyThatSequence) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  BatchScheduler scheduler(*model, *backend, {.parallel = 2, .n_ctx = 24});
  const auto near_full = scheduler.submit({prompt_of(20, 1), 100, greedy()});
  const auto short_one = scheduler.submit({prompt_of(3, 2), 8, greedy()});
  const Finished full = read_all(*near_full);
  EXPECT_EQ(full.done.stats.reason, StopReason::ContextFull);
  EXPECT_EQ(full.tokens.size(), 5u) << "positions 20..23 fed, the fifth token shown but not fed";
  const Finished other = read_all(*short_one);
  EXPECT_TRUE(other.done.stats.reason == StopReason::Length || other.done.stats.reason == StopReason::Eos);
}

}  // namespace
}  // namespace octet
