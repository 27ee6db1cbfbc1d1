#include "engine/core/executor.h"
#include "engine/session/generation_session.h"
#include "engine/session/sampler.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/eltwise_f32.h"
#include "kernels/cpu/matmul_f32.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>

// Counts C++ heap allocations in this test binary, so a test can assert that
// a decode step makes none of its own.
namespace {
std::atomic<long> g_allocations{0};
}
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (std::stable_sort's temporary buffer uses it): every
// operator delete below frees with free(), so every new must use malloc().
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n == 0 ? 1 : n);
}
// g++ 12 sees malloc behind `new` and free behind `delete` and calls the pair
// mismatched; here that pairing is the point.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace octet {
namespace {

// oneDNN 2.6's primitive execution builds a small argument map per call (a
// library internal we cannot avoid, and its size depends on the shape). The
// test replays every oneDNN call of a decode step (matmuls through MatmulF32,
// SwiGLU's silu through EltwiseF32) alone to count those, then requires the
// whole decode step to allocate exactly as much: octet's own code allocates nothing.
long onednn_allocations_per_step(const Graph& graph) {
  cpu::MatmulF32 matmul;
  cpu::EltwiseF32 eltwise;
  std::vector<float> x(4096), w(1 << 20), y(4096);
  std::vector<std::array<std::int64_t, 3>> matmuls;
  std::vector<std::int64_t> silus;
  for (const Node& node : graph.nodes()) {
    const Shape& in = graph.values()[node.inputs[0]].shape;
    if (node.op == OpKind::SiluMul) {
      silus.push_back(shape_numel(in));
      eltwise.silu_mul(x.data(), x.data(), silus.back(), y.data());  // create the primitive
    }
    if (node.op != OpKind::MatMul) continue;
    const Shape& wt = graph.values()[node.inputs[1]].shape;
    matmuls.push_back({in[0], in[1], wt[0]});
    matmul.run(x.data(), w.data(), y.data(), in[0], in[1], wt[0]);  // create the primitive
  }
  const long before = g_allocations.load();
  for (const auto& [m, k, n] : matmuls) matmul.run(x.data(), w.data(), y.data(), m, k, n);
  for (const std::int64_t n : silus) eltwise.silu_mul(x.data(), x.data(), n, y.data());
  return g_allocations.load() - before;
}

TEST(Executor, DecodeStepAllocatesNothing) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  GenerationSession session(*model, *backend, 64);
  const std::int32_t prompt[] = {1, 395, 415};
  session.append(prompt);
  const std::int32_t next[] = {261};
  session.append(next);  // the first decode step plans the one-token graph
  const long library = onednn_allocations_per_step(model->build_graph({1, 64, false}));
  const long before = g_allocations.load();
  for (int i = 0; i < 10; ++i) session.append(next);
  EXPECT_EQ(g_allocations.load() - before, 10 * library)
      << "allocations in 10 decode steps beyond oneDNN's own " << library << " per step";
}

TEST(Executor, PlannerReusesBuffers) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  Executor executor(*model, *backend, 32);
  const std::vector<std::int32_t> tokens(16, 5);
  executor.forward(tokens, 0, true);
  // Sum of every intermediate if each had its own buffer.
  const Graph graph = model->build_graph({16, 32, true});
  std::size_t total = 0;
  for (const auto& v : graph.values()) {
    if (v.kind == ValueKind::Intermediate) total += static_cast<std::size_t>(shape_numel(v.shape)) * 4;
  }
  // At most a handful of [T, ffn] buffers are alive at once, whatever the depth:
  // the arena must be well under half of one-buffer-per-value.
  EXPECT_LT(executor.arena_bytes(), total / 2) << "liveness-based reuse saves most of the memory";
  EXPECT_NE(executor.find_value("blk.0.attn_norm"), nullptr) << "intermediates are reachable by name";
}

// --profile's numbers: every node of a step is timed once, under its op and
// its name without the block prefix.
TEST(Executor, ProfileTimesEveryNodeOfAStepByRole) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  Executor executor(*model, *backend, 32);
  NodeProfile profile;
  executor.profile_into(&profile);
  executor.forward(std::vector<std::int32_t>(4, 5), 0, false);
  executor.profile_into(nullptr);
  executor.forward(std::vector<std::int32_t>(4, 5), 4, false);  // not timed
  const Graph graph = model->build_graph({4, 32, false});
  std::int64_t calls = 0;
  for (const auto& [key, entry] : profile.by_node) {
    calls += entry.calls;
    EXPECT_EQ(key.find("blk."), std::string::npos) << key;
    EXPECT_GE(entry.seconds, 0.0) << key;
  }
  EXPECT_EQ(calls, static_cast<std::int64_t>(graph.nodes().size()));
  ASSERT_TRUE(profile.by_node.contains("matmul ffn_down")) << "op names are octet's (op_name)";
  EXPECT_EQ(profile.by_node.at("matmul ffn_down").calls, model->info().n_layers);
  EXPECT_GT(profile.total_seconds(), 0.0);
}

TEST(Executor, PrefillEqualsTokenByToken) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  const std::vector<std::int32_t> ids{1, 395, 415, 261, 375, 968, 379};
  GenerationSession batched(*model, *backend, 32), stepped(*model, *backend, 32);
  const Tensor& all = batched.append_all_logits(ids);
  const std::int64_t vocab = model->info().vocab_size;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const std::span<const float> one = stepped.append(std::span(&ids[t], 1));
    for (std::int64_t j = 0; j < vocab; ++j) {
      // Different matmul shapes sum in different orders: float rounding only.
      ASSERT_NEAR(one[static_cast<std::size_t>(j)], all.data<float>()[static_cast<std::int64_t>(t) * vocab + j], 1e-4)
          << "position " << t;
    }
  }
}

// Three sequences prefilled and decoded in lockstep give each sequence the
// logits it gets alone; a later one-sequence step continues the first one.
TEST(Executor, BatchedDecodeEqualsOneSequenceAtATime) {
  for (const QuantScheme scheme : {QuantScheme::F32, QuantScheme::Int8}) {
    auto model = models::builtin_registry().load_model(test::shipped_model(), {QuantRecipe{scheme, {}}});
    auto backend = make_cpu_backend(0);
    const std::int64_t vocab = model->info().vocab_size;
    const int batch = 3, n_prompt = 4, n_steps = 5, n_ctx = 16;
    const std::vector<std::int32_t> prompts{1, 395, 415, 261, 1, 968, 379, 22, 1, 5, 6, 7};
    const auto step_tokens = [](int step) { return std::vector<std::int32_t>{300 + step, 400 + step, 500 + step}; };
    // logits[b][s]: sequence b's last-row logits after step s (0: the prompt).
    std::vector<std::vector<std::vector<float>>> alone(batch);
    for (int b = 0; b < batch; ++b) {
      Executor executor(*model, *backend, n_ctx);
      const Tensor* out =
          &executor.forward(std::span(prompts).subspan(static_cast<std::size_t>(b * n_prompt), n_prompt), 0, false);
      alone[b].emplace_back(out->data<float>(), out->data<float>() + vocab);
      for (int s = 1; s <= n_steps; ++s) {
        const std::vector<std::int32_t> tokens = step_tokens(s);
        out = &executor.forward(std::span(&tokens[static_cast<std::size_t>(b)], 1), n_prompt + s - 1, false);
        alone[b].emplace_back(out->data<float>(), out->data<float>() + vocab);
      }
    }
    Executor executor(*model, *backend, n_ctx, batch);
    for (int s = 0; s <= n_steps; ++s) {
      const std::vector<std::int32_t> tokens = s == 0 ? prompts : step_tokens(s);
      const Tensor& out = executor.forward(tokens, s == 0 ? 0 : n_prompt + s - 1, false, batch);
      ASSERT_EQ(out.dim(0), batch);
      for (int b = 0; b < batch; ++b)
        for (std::int64_t j = 0; j < vocab; ++j)
          // Different matmul shapes sum in different orders: float rounding only.
          ASSERT_NEAR(out.data<float>()[b * vocab + j],
                      alone[b][static_cast<std::size_t>(s)][static_cast<std::size_t>(j)], 1e-4)
              << quant_scheme_name(scheme) << " sequence " << b << " step " << s;
    }
    // Sequence 0 alone, one more step, against a fresh single-sequence run of the same tokens.
    Executor single(*model, *backend, n_ctx);
    single.forward(std::span(prompts).first(n_prompt), 0, false);
    for (int s = 1; s <= n_steps; ++s) {
      const std::vector<std::int32_t> tokens = step_tokens(s);
      single.forward(std::span(tokens).first(1), n_prompt + s - 1, false);
    }
    const std::int32_t next = 9;
    const Tensor& expected = single.forward(std::span(&next, 1), n_prompt + n_steps, false);
    const std::vector<float> want(expected.data<float>(), expected.data<float>() + vocab);
    const Tensor& got = executor.forward(std::span(&next, 1), n_prompt + n_steps, false);
    for (std::int64_t j = 0; j < vocab; ++j) ASSERT_NEAR(got.data<float>()[j], want[static_cast<std::size_t>(j)], 1e-4);
  }
}

// Continuous-batching tests' sequences: three prompts, and the token each
// sequence b feeds at decode step s.
const std::vector<std::vector<std::int32_t>> kPrompts{{1, 2, 3, 4, 5, 6, 7}, {1, 9}, {1, 11, 12, 13}};
std::int32_t step_token(int b, int step) { return static_cast<std::int32_t>(20 + 3 * step + b); }

// [b][s]: the last-row logits of kPrompts[b] run alone in its own executor,
// after its prompt (s = 0), then after feeding step_token(b, s), s = 1..n_steps.
std::vector<std::vector<std::vector<float>>> logits_alone(const Model& model, Backend& backend, int n_ctx,
                                                          int n_steps) {
  const std::int64_t vocab = model.info().vocab_size;
  std::vector<std::vector<std::vector<float>>> alone(kPrompts.size());
  for (std::size_t b = 0; b < kPrompts.size(); ++b) {
    Executor executor(model, backend, n_ctx);
    const Tensor* out = &executor.forward(kPrompts[b], 0, false);
    alone[b].emplace_back(out->data<float>(), out->data<float>() + vocab);
    for (int s = 1; s <= n_steps; ++s) {
      const std::int32_t token = step_token(static_cast<int>(b), s);
      out = &executor.forward(std::span(&token, 1), static_cast<int>(kPrompts[b].size()) + s - 1, false);
      alone[b].emplace_back(out->data<float>(), out->data<float>() + vocab);
    }
  }
  return alone;
}

// Continuous batching: sequences prefilled one at a time into their own cache
// slots, then decoded together at their own positions, get the logits each
// one gets alone. The GPT-2 model takes each token's position as an input.
TEST(Executor, MixedPositionsAndSlotsEqualEachSequenceAlone) {
  struct Case {
    std::string path;
    QuantScheme scheme;
  };
  for (const Case& c : {Case{test::shipped_model(), QuantScheme::F32}, Case{test::shipped_model(), QuantScheme::Int8},
                        Case{test::test_data("gpt2-tiny"), QuantScheme::F32}}) {
    auto model = models::builtin_registry().load_model(c.path, {QuantRecipe{c.scheme, {}}});
    auto backend = make_cpu_backend(0);
    const std::int64_t vocab = model->info().vocab_size;
    const int n_ctx = 24, n_steps = 4;
    const auto& prompts = kPrompts;
    const SequenceStep slots[] = {{2, 0}, {0, 0}, {1, 0}};  // sequence b lives in slots[b].slot
    const auto alone = logits_alone(*model, *backend, n_ctx, n_steps);
    Executor executor(*model, *backend, n_ctx, 3);
    ASSERT_TRUE(executor.runs_mixed_steps());
    const std::string what = c.path + " " + std::string(quant_scheme_name(c.scheme));
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      const SequenceStep first{slots[b].slot, 0};
      const Tensor& out = executor.forward_sequences(prompts[b], std::span(&first, 1));
      for (std::int64_t j = 0; j < vocab; ++j) {
        ASSERT_NEAR(out.data<float>()[j], alone[b][0][static_cast<std::size_t>(j)], 1e-4) << what << " prefill " << b;
      }
    }
    for (int s = 1; s <= n_steps; ++s) {
      std::vector<std::int32_t> tokens;
      std::vector<SequenceStep> sequences;
      // The last sequence sits out step 2: a step of fewer sequences than slots, not the first ones.
      for (std::size_t b = 0; b < prompts.size(); ++b) {
        if (s == 2 && b + 1 == prompts.size()) continue;
        tokens.push_back(step_token(static_cast<int>(b), s));
        sequences.push_back({slots[b].slot, static_cast<int>(prompts[b].size()) + s - 1});
      }
      if (s == 3) {  // the sequence that sat out step 2 catches up alone first
        const std::size_t b = prompts.size() - 1;
        const std::int32_t token = step_token(static_cast<int>(b), 2);
        const SequenceStep late{slots[b].slot, static_cast<int>(prompts[b].size()) + 1};
        executor.forward_sequences(std::span(&token, 1), std::span(&late, 1));
      }
      const Tensor& out = executor.forward_sequences(tokens, sequences);
      ASSERT_EQ(out.dim(0), static_cast<std::int64_t>(sequences.size()));
      std::size_t row = 0;
      for (std::size_t b = 0; b < prompts.size(); ++b) {
        if (s == 2 && b + 1 == prompts.size()) continue;
        for (std::int64_t j = 0; j < vocab; ++j) {
          // Different matmul shapes sum in different orders: float rounding only.
          ASSERT_NEAR(out.data<float>()[static_cast<std::int64_t>(row) * vocab + j],
                      alone[b][static_cast<std::size_t>(s)][static_cast<std::size_t>(j)], 1e-4)
              << what << " sequence " << b << " step " << s;
        }
        ++row;
      }
    }
  }
}

// Ragged steps: sequences feeding different numbers of tokens in one step (a
// prompt read in chunks beside decoding sequences, as `octet serve` runs
// them) give each sequence the logits it gets alone; a sequence's partial
// chunk extends its cache as its whole prompt would.
TEST(Executor, RaggedStepsEqualEachSequenceAlone) {
  for (const auto& [path, scheme] : {std::pair{test::shipped_model(), QuantScheme::F32},
                                     {test::shipped_model(), QuantScheme::Int8},
                                     {test::test_data("gpt2-tiny"), QuantScheme::F32}}) {
    auto model = models::builtin_registry().load_model(path, {QuantRecipe{scheme, {}}});
    auto backend = make_cpu_backend(0);
    const std::int64_t vocab = model->info().vocab_size;
    const int n_ctx = 24;
    const auto& prompts = kPrompts;
    const auto alone = logits_alone(*model, *backend, n_ctx, 3);
    Executor executor(*model, *backend, n_ctx, 3);
    ASSERT_TRUE(executor.runs_ragged_steps());
    const std::string what = path + " " + std::string(quant_scheme_name(scheme));
    // Each step: per sequence, the tokens it feeds and which of `alone`'s rows its logits must equal (-1: none, a
    // partial prompt).
    struct Feed {
      int b, pos;
      std::vector<std::int32_t> tokens;
      int expect;
    };
    const auto prompt_part = [&](int b, std::size_t from, std::size_t n) {
      return std::vector<std::int32_t>(prompts[b].begin() + static_cast<std::ptrdiff_t>(from),
                                       prompts[b].begin() + static_cast<std::ptrdiff_t>(from + n));
    };
    const std::vector<std::vector<Feed>> steps{
        {{0, 0, prompts[0], 0}},
        {{0, 7, {step_token(0, 1)}, 1}, {1, 0, prompts[1], 0}, {2, 0, prompt_part(2, 0, 2), -1}},
        {{2, 2, prompt_part(2, 2, 2), 0}, {0, 8, {step_token(0, 2)}, 2}, {1, 2, {step_token(1, 1)}, 1}},
        {{1, 3, {step_token(1, 2)}, 2}, {2, 4, {step_token(2, 1)}, 1}, {0, 9, {step_token(0, 3)}, 3}},
    };
    for (std::size_t s = 0; s < steps.size(); ++s) {
      std::vector<std::int32_t> tokens;
      std::vector<SequenceStep> sequences;
      for (const Feed& f : steps[s]) {
        tokens.insert(tokens.end(), f.tokens.begin(), f.tokens.end());
        sequences.push_back({2 - f.b, f.pos, static_cast<int>(f.tokens.size())});  // sequence b in slot 2 - b
      }
      const Tensor& out = executor.forward_sequences(tokens, sequences);
      ASSERT_EQ(out.dim(0), static_cast<std::int64_t>(sequences.size()));
      for (std::size_t row = 0; row < steps[s].size(); ++row) {
        const Feed& f = steps[s][row];
        if (f.expect < 0) continue;
        const auto& want = alone[static_cast<std::size_t>(f.b)][static_cast<std::size_t>(f.expect)];
        for (std::int64_t j = 0; j < vocab; ++j) {
          // Different matmul shapes sum in different orders: float rounding only.
          ASSERT_NEAR(out.data<float>()[static_cast<std::int64_t>(row) * vocab + j], want[static_cast<std::size_t>(j)],
                      1e-4)
              << what << " step " << s << " sequence " << f.b;
        }
      }
    }
    const std::int32_t three[] = {1, 2, 3};
    const SequenceStep uneven[] = {{0, 0, 1}, {1, 0, 1}};
    EXPECT_CONTAINS(test::error_of([&] { executor.forward_sequences(three, uneven); }),
                    "the sequences feed 2 tokens, the step has 3");
    const SequenceStep ragged[] = {{0, 0, 1}, {1, 0, 2}};
    EXPECT_CONTAINS(test::error_of([&] { executor.forward_sequences(three, ragged, true); }),
                    "every token's logits from a ragged step is not supported");
  }
}

TEST(Executor, RefusesSharedOrMissingSlots) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  Executor executor(*model, *backend, 8, 2);
  const std::int32_t tokens[] = {1, 2};
  const SequenceStep shared[] = {{1, 0}, {1, 0}}, outside[] = {{0, 0}, {2, 0}}, late[] = {{0, 7}, {1, 0}};
  EXPECT_CONTAINS(test::error_of([&] { executor.forward_sequences(tokens, shared); }), "share cache slot 1");
  EXPECT_CONTAINS(test::error_of([&] { executor.forward_sequences(tokens, outside); }), "cache slot 2");
  const std::int32_t two_each[] = {1, 2, 3, 4};
  EXPECT_CONTAINS(test::error_of([&] { executor.forward_sequences(two_each, late); }), "positions 7..8");
}

// forward_greedy: the backend's Argmax of the logits forward returns, for a
// prompt, batched decode steps and a one-sequence step, with the same cache.
TEST(Executor, GreedyStepsPickTheArgmaxOfTheLogits) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  const std::int64_t vocab = model->info().vocab_size;
  const int batch = 2, n_ctx = 16;
  Executor with_logits(*model, *backend, n_ctx, batch), greedy(*model, *backend, n_ctx, batch);
  const auto argmax_rows = [&](const Tensor& logits) {
    std::vector<std::int32_t> ids;
    for (std::int64_t r = 0; r < logits.dim(0); ++r)
      ids.push_back(argmax(std::span(logits.data<float>() + r * vocab, static_cast<std::size_t>(vocab))));
    return ids;
  };
  const std::vector<std::int32_t> prompts{1, 395, 415, 261, 1, 968, 379, 22};
  std::vector<std::int32_t> want = argmax_rows(with_logits.forward(prompts, 0, false, batch));
  std::span<const std::int32_t> got = greedy.forward_greedy(prompts, 0, batch);
  EXPECT_EQ(std::vector<std::int32_t>(got.begin(), got.end()), want);
  for (int pos = 4; pos < 8; ++pos) {
    const std::vector<std::int32_t> next = want;  // both continue greedily
    want = argmax_rows(with_logits.forward(next, pos, false, batch));
    got = greedy.forward_greedy(next, pos, batch);
    ASSERT_EQ(std::vector<std::int32_t>(got.begin(), got.end()), want) << "position " << pos;
  }
  const std::int32_t token = want.front();
  const std::int32_t alone = argmax_rows(with_logits.forward(std::span(&token, 1), 8, false)).front();
  EXPECT_EQ(greedy.forward_greedy(std::span(&token, 1), 8).front(), alone);
}

TEST(Executor, RefusesWhatDoesNotFit) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto backend = make_cpu_backend(0);
  Executor executor(*model, *backend, 8);
  const std::vector<std::int32_t> tokens(9, 5);
  EXPECT_THROW(executor.forward(tokens, 0, false), Error);
  EXPECT_THROW(executor.forward(std::span(tokens.data(), 2), 7, false), Error);
  EXPECT_THROW(executor.forward({}, 0, false), Error);
  EXPECT_THROW(executor.forward(std::span(tokens.data(), 2), 0, false, 2), Error) << "the cache holds one sequence";
  Executor pair(*model, *backend, 8, 2);
  EXPECT_THROW(pair.forward(std::span(tokens.data(), 3), 0, false, 2), Error) << "3 tokens are not 2 equal sequences";
  EXPECT_THROW(pair.forward(std::span(tokens.data(), 2), 0, false, 0), Error);
  EXPECT_THROW(Executor(*model, *backend, 8, 0), Error);
}

}  // namespace
}  // namespace octet
