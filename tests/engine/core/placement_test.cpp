// Placement (--gpu-layers): which backend runs each node, and the executor
// running one graph on two backends. Without a GPU, the second backend is a
// stand-in device: the CPU's kernels on memory that the executor must treat
// as another device's (it checks that every value a node reads is its own).
#include "engine/core/placement.h"
#include "engine/core/error.h"
#include "engine/core/executor.h"
#include "engine/session/encoder_session.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <set>

namespace octet {
namespace {

TEST(Placement, BlockOfReadsTheBlockNumberOfAName) {
  EXPECT_EQ(block_of("blk.0.attn_norm"), 0);
  EXPECT_EQ(block_of("blk.12.ffn_residual"), 12);
  EXPECT_EQ(block_of("tok_embd"), -1);
  EXPECT_EQ(block_of("output_norm"), -1);
  EXPECT_EQ(block_of("blk.3"), -1) << "no dot after the number";
  EXPECT_EQ(block_of("blk..x"), -1);
  EXPECT_EQ(block_of("blk.-1.x"), -1);
  EXPECT_EQ(block_of("blk.7x.y"), -1);
  EXPECT_EQ(block_of("xblk.1.y"), -1);
}

// A device of its own for the executor: the CPU's kernels, but its memory is
// marked as another device's, and it refuses to run a node on a value that is
// not its own (a missing copy between backends), counting the bytes that cross.
// `int8` false: like the CUDA backend, it refuses int8 matmuls.
class StandInDevice : public Backend {
 public:
  explicit StandInDevice(bool int8 = true) : cpu_(make_cpu_backend(0)), int8_(int8) {}
  std::string name() const override { return "stand-in device"; }
  bool supports(OpKind op, DType dtype) const override {
    return (int8_ || dtype != DType::I8) && cpu_->supports(op, dtype);
  }
  void reserve(const Graph& graph, int n_ctx) override { cpu_->reserve(graph, n_ctx); }
  Device device() const override { return Device::Cuda; }
  Tensor allocate(DType dtype, Shape shape) override {
    Tensor host = Tensor::zeros(dtype, shape);
    void* bytes = host.raw_mut();
    // The host tensor keeps the bytes alive; the device tensor points at them.
    return Tensor::on_device(dtype, std::move(shape), Device::Cuda, std::shared_ptr<void>(bytes, [host](void*) {}));
  }
  Tensor prepare_weight(const Tensor& weight, OpKind op) override {
    Tensor prepared = cpu_->prepare_weight(weight, op);
    weights_.insert(prepared.raw());
    return prepared;
  }
  void copy_to_device(Tensor& dst, const void* src, std::size_t bytes) override {
    to_device_bytes += bytes;
    std::memcpy(dst.raw_mut(), src, bytes);
  }
  void copy_to_host(const Tensor& src, void* dst, std::size_t bytes) override {
    to_host_bytes += bytes;
    std::memcpy(dst, src.raw(), bytes);
  }
  void begin_step(const StepContext& ctx) override {
    host_.clear();
    cpu_->begin_step(ctx);
  }
  void run_step(std::uint64_t step_key, StepFunction enqueue) override { cpu_->run_step(step_key, enqueue); }
  void run(const Node& node, std::span<Tensor* const> inputs, Tensor& output, const StepContext& ctx) override {
    for (const Tensor* in : inputs) {
      if (in->device() != Device::Cuda && weights_.count(in->raw()) == 0) {
        ADD_FAILURE() << op_name(node.op) << " on the stand-in device reads a value in host memory";
      }
    }
    if (output.device() != Device::Cuda) ADD_FAILURE() << op_name(node.op) << " writes to host memory";
    // The CPU's kernels read it all as host memory, which it is.
    const auto as_host = [](const Tensor& t) {
      return t.device() == Device::Cpu
                 ? t
                 : Tensor::borrowed(t.dtype(), t.shape(), const_cast<void*>(t.raw()), Device::Cpu);
    };
    // Host views that live until the step ends, as Backend::run promises the CPU backend.
    std::vector<Tensor*> host_inputs;
    for (const Tensor* in : inputs) host_inputs.push_back(&host_.emplace_back(as_host(*in)));
    cpu_->run(node, host_inputs, host_.emplace_back(as_host(output)), ctx);
  }

  std::size_t to_device_bytes = 0, to_host_bytes = 0;

 private:
  std::unique_ptr<Backend> cpu_;
  bool int8_;
  std::set<const void*> weights_;
  std::deque<Tensor> host_;  // this step's host views (a deque: their addresses stay put)
};

TEST(Placement, SplitsTheBlocksAndKeepsTheEndsWithTheirNeighbours) {
  auto model = models::builtin_registry().load_model(test::shipped_model());  // 4 blocks
  auto a = make_cpu_backend(0), b = make_cpu_backend(0);
  const Graph graph = model->build_graph({2, 16, false});
  const auto node_named = [&](std::string_view name) {
    for (std::size_t i = 0; i < graph.nodes().size(); ++i) {
      if (graph.values()[graph.nodes()[i].output].name == name) return i;
    }
    ADD_FAILURE() << "no node " << name;
    return std::size_t{0};
  };
  const std::vector<int> where = Placement(*a, 2, *b).place(graph);
  EXPECT_EQ(where[node_named("tok_embd")], 0) << "the embedding goes with block 0";
  EXPECT_EQ(where[node_named("blk.1.ffn_residual")], 0);
  EXPECT_EQ(where[node_named("blk.2.attn_norm")], 1);
  EXPECT_EQ(where[node_named("logits")], 1) << "the head goes with the last block";
  for (const int n : Placement(*a, 4, *b).place(graph)) EXPECT_EQ(n, 0) << "every block on the front";
  for (const int n : Placement(*a, 0, *b).place(graph)) EXPECT_EQ(n, 1) << "no block on the front";
  EXPECT_EQ(Placement(*a, 2, *a).backends().size(), 1u) << "one backend twice is one backend";
  EXPECT_THROW(Placement(*a, -1, *b), Error);
  StandInDevice d1, d2;
  EXPECT_THROW(Placement(d1, 1, d2), Error) << "two devices would need a copy between them";
}

// Each node computes exactly what it computes alone, so a split changes no
// bit: prefill and decode logits of every split equal the one-backend run's,
// for float and int8 weights and for an FP8 KV cache (its codes and scales
// live beside the attention that writes them), one sequence and two.
TEST(Placement, EverySplitGivesTheOneBackendLogitsBitForBit) {
  for (const auto& [scheme, kv_cache] :
       {std::pair{QuantScheme::F32, DType::F32}, {QuantScheme::Int8, DType::F32}, {QuantScheme::F32, DType::F8E4M3}}) {
    LoadOptions options{QuantRecipe{scheme, {}}};
    options.kv_cache = kv_cache;
    auto model = models::builtin_registry().load_model(test::shipped_model(), options);
    auto cpu = make_cpu_backend(0);
    const int n_ctx = 12, batch = 2;
    const std::vector<std::int32_t> prompts{1, 395, 415, 261, 1, 968, 379, 22};
    const auto run = [&](const Placement& placement) {
      Executor executor(*model, placement, n_ctx, batch);
      std::vector<float> out;
      const auto keep = [&](const Tensor& t) { out.insert(out.end(), t.data<float>(), t.data<float>() + t.numel()); };
      keep(executor.forward(prompts, 0, true, batch));
      for (int step = 0; step < 3; ++step) {
        const std::vector<std::int32_t> next{300 + step, 500 + step};
        keep(executor.forward(next, 4 + step, false, batch));
      }
      keep(executor.forward(std::span(prompts).first(1), 7, false));  // a one-sequence step after batched ones
      return out;
    };
    const std::vector<float> want = run(*cpu);
    for (int blocks = 0; blocks <= 4; ++blocks) {
      StandInDevice device;
      EXPECT_EQ(run(Placement(device, blocks, *cpu)), want)
          << quant_scheme_name(scheme) << ", " << dtype_name(kv_cache) << " cache, " << blocks << " blocks";
      auto other = make_cpu_backend(0);
      EXPECT_EQ(run(Placement(*cpu, blocks, *other)), want) << "two CPU backends, " << blocks << " blocks";
    }
  }
}

// --gpu-layers 2 --quant fp8 --cpu-quant int8: the FP8 blocks run on a
// device that refuses int8 (as the GPU does), the int8 blocks and head on the
// CPU, and the split computes what the CPU computes with that model alone.
TEST(Placement, ASplitRecipeRunsEachSchemeOnItsBackend) {
  QuantRecipe recipe{QuantScheme::Fp8, {}};
  recipe.rest_from = 2;
  recipe.rest_scheme = QuantScheme::Int8;
  auto model = models::builtin_registry().load_model(test::shipped_model(), {recipe});
  for (const auto& [name, weight] : model->weights()) {
    if (weight.dtype() == DType::F32) continue;  // norms and the embedding
    EXPECT_EQ(weight.dtype(), block_of_weight(name) >= 0 && block_of_weight(name) < 2 ? DType::F8E4M3 : DType::I8)
        << name;
  }
  auto cpu = make_cpu_backend(0);
  const std::vector<std::int32_t> prompt{1, 395, 415, 261, 375};
  const auto logits = [&](const Placement& placement) {
    Executor executor(*model, placement, 16);
    const Tensor& t = executor.forward(prompt, 0, true);
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  };
  StandInDevice device(/*int8=*/false);
  EXPECT_EQ(logits(Placement(device, 2, *cpu)), logits(*cpu));
  StandInDevice refusing(/*int8=*/false);
  EXPECT_THROW(logits(Placement(refusing, 3, *cpu)), Error) << "an int8 block placed on the device is refused";
}

// Per step, the token ids go to the device and the hidden state comes back
// once; with every block on the device, the logits come back instead.
TEST(Placement, TheHiddenStateCrossesOncePerStep) {
  auto model = models::builtin_registry().load_model(test::shipped_model());
  auto cpu = make_cpu_backend(0);
  const std::int64_t d = model->info().hidden_size, vocab = model->info().vocab_size;
  StandInDevice device;
  Executor executor(*model, Placement(device, 2, *cpu), 16);
  const std::vector<std::int32_t> prompt{1, 395, 415, 261, 375};
  executor.forward(prompt, 0, false);
  EXPECT_EQ(device.to_device_bytes, prompt.size() * 4);
  EXPECT_EQ(device.to_host_bytes, prompt.size() * d * 4);
  EXPECT_EQ(executor.find_value("blk.1.ffn_residual")->device(), Device::Cuda);
  EXPECT_EQ(executor.find_value("blk.2.ffn_residual")->device(), Device::Cpu);

  StandInDevice whole;
  Executor on_device(*model, Placement(whole, 4, *cpu), 16);
  const std::int32_t token = 1;
  const Tensor& logits = on_device.forward(std::span(&token, 1), 0, false);
  EXPECT_EQ(logits.device(), Device::Cpu) << "the logits come back to the host";
  EXPECT_EQ(whole.to_device_bytes, 4u);
  EXPECT_EQ(whole.to_host_bytes, static_cast<std::size_t>(vocab) * 4);
}

// An encoder's lengths are read by the attention of every block: each
// backend gets its own copy, and the classifier's logits do not change.
TEST(Placement, AnEncoderSplitClassifiesAsOneBackend) {
  const std::string path = test::project_dir() + "/assets/models/sst2-mini";  // 2 blocks
  auto model = models::builtin_registry().load_model(path);
  const auto tokenizer = load_tokenizer_for(path, "");
  const TokenizerConfig config = read_tokenizer_config(path);
  auto cpu = make_cpu_backend(0);
  StandInDevice device;
  EncoderSession one(*model, *cpu, *tokenizer, config), split(*model, Placement(device, 1, *cpu), *tokenizer, config);
  const std::vector<FramedText> texts{one.frame("a charming and often affecting journey ."),
                                      one.frame("unflinchingly bleak and desperate"), one.frame("fine")};
  EXPECT_EQ(split.run(texts, 3), one.run(texts, 3));
}

}  // namespace
}  // namespace octet
