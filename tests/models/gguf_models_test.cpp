// Models from GGUF files against independent references
// (tests/reference/make_gguf_golden.py):
//  - tiny_llama.gguf: random weights in five tensor types, q and k rows in
//    llama.cpp's permuted order, against a float64 numpy forward pass in
//    Hugging Face's layout (rows un-permuted, half-split rotary);
//  - tiny_llama31.gguf: tests/data/llama3-tiny (rope_scaling llama3) as
//    llama.cpp writes Llama 3.1+, the scaling as per-pair factors in
//    rope_freqs.weight, against the Hugging Face checkpoint's float64 reference;
//  - tiny_qwen2.gguf, tiny_qwen3.gguf: tests/data/qwen{2,3}-tiny as llama.cpp
//    writes them (q, k, v biases; per-head q and k norms; rows not permuted);
//  - tiny_gpt2.gguf: tests/data/gpt2-tiny as llama.cpp writes GPT-2;
//  - SmolLM2-135M-Instruct (../shared): the greedy chat answer of a float32
//    numpy forward pass, with the prompt as Hugging Face's tokenizers and the
//    chat template make it.
#include "engine/io/compressed_tensors.h"
#include "engine/io/gguf.h"
#include "engine/io/json_file.h"
#include "engine/session/chat_session.h"
#include "engine/session/generation_session.h"
#include "engine/text/chat_format.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/gguf.h"
#include "models/registry.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

namespace octet {
namespace {

// The largest relative error of `model`'s logits for the reference's prompt, per position.
double worst_logit_error(const Model& model, const Json& ref) {
  const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
  const auto want = ref["logits"].get<std::vector<std::vector<double>>>();
  auto backend = make_cpu_backend(0);
  GenerationSession session(model, *backend, 0);
  const Tensor& logits = session.append_all_logits(prompt);
  EXPECT_EQ(logits.numel(), static_cast<std::int64_t>(want.size() * want[0].size()));
  if (logits.numel() != static_cast<std::int64_t>(want.size() * want[0].size())) return 1e30;
  double worst = 0;
  for (std::size_t t = 0; t < want.size(); ++t) {
    double err = 0, scale = 1e-30;
    for (std::size_t j = 0; j < want[t].size(); ++j) {
      err = std::max(err, std::abs(logits.data<float>()[t * want[t].size() + j] - want[t][j]));
      scale = std::max(scale, std::abs(want[t][j]));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

// `model`'s own logits for the reference's prompt, as a reference.
Json own_logits(const Model& model, const Json& ref) {
  const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
  auto backend = make_cpu_backend(0);
  GenerationSession session(model, *backend, 0);
  const Tensor& l = session.append_all_logits(prompt);
  const auto vocab = static_cast<std::size_t>(model.info().vocab_size);
  std::vector<std::vector<double>> rows(prompt.size());
  for (std::size_t t = 0; t < prompt.size(); ++t)
    rows[t].assign(l.data<float>() + t * vocab, l.data<float>() + (t + 1) * vocab);
  return {{"prompt_ids", ref["prompt_ids"]}, {"logits", rows}};
}

TEST(TinyLlamaGguf, ReproducesNumpyReference) {
  const std::string path = test::test_data("gguf/tiny_llama.gguf");
  const Json ref = read_json_file(test::test_data("gguf/tiny_llama_reference.json"));
  auto model = models::builtin_registry().load_model(path);
  const auto tokenizer = load_tokenizer_for(path, "");
  const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
  EXPECT_EQ(tokenizer->encode("Once upon a time, there was a little girl named Lily."), prompt);
  // The dequantized weights are the reference's exactly; float32 against float64 arithmetic
  // through two layers stays far below 1e-4 of the row's largest logit.
  EXPECT_LT(worst_logit_error(*model, ref), 1e-4);
}

// Llama 3.1+ GGUF: rope_freqs.weight read back as Llama 3's rope_scaling
// (factor 8, low 1, high 4, original context 64 here), the same logits as
// the Hugging Face checkpoint it was converted from; factors that are not
// Llama 3's are refused by name.
TEST(Llama31Gguf, RopeFactorsReproduceTheHuggingFaceReference) {
  const std::string path = test::test_data("gguf/tiny_llama31.gguf");
  const Json ref = read_json_file(test::test_data("decoder_tiny_reference.json"))["llama3"];
  const auto model = models::builtin_registry().load_model(path);
  // float32 against float64 through two blocks: 1e-4 of the row's largest logit (as the HF checkpoint's test).
  EXPECT_LT(worst_logit_error(*model, ref), 1e-4);

  // Without the factors, the same weights are measurably off: the test sees the scaling.
  test::TempDir dir;
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const GgufTensorInfo rope = *GgufFile(path).find_tensor("rope_freqs.weight");
  const auto write_with_factors = [&](const std::vector<float>& factors) {
    std::string edited = bytes;
    std::memcpy(edited.data() + rope.offset, factors.data(), sizeof(float) * factors.size());
    const std::string out = dir.file("edited.gguf");
    std::ofstream(out, std::ios::binary).write(edited.data(), static_cast<std::streamsize>(edited.size()));
    return out;
  };
  ASSERT_EQ(rope.nbytes, 8 * sizeof(float));
  const auto unscaled = models::builtin_registry().load_model(write_with_factors(std::vector<float>(8, 1.0f)));
  EXPECT_GT(worst_logit_error(*unscaled, ref), 1e-3);
  EXPECT_CONTAINS(test::error_of([&] { models::builtin_registry().load_model(write_with_factors({3.0f})); }),
                  "rope_freqs.weight is not Llama 3's rotary scaling (pair 1");
  EXPECT_CONTAINS(test::error_of([&] { models::builtin_registry().load_model(write_with_factors({0.5f})); }),
                  "rope_freqs.weight[0] is 0.5");
}

TEST(QwenGguf, ReproducesTheHuggingFaceReferences) {
  for (const std::string kind : {"qwen2", "qwen3"}) {
    const auto model = models::builtin_registry().load_model(test::test_data("gguf/tiny_" + kind + ".gguf"));
    EXPECT_EQ(model->info().family, kind);
    const Json ref = read_json_file(test::test_data("decoder_tiny_reference.json"))[kind];
    EXPECT_LT(worst_logit_error(*model, ref), 1e-4) << kind;
  }
}

// GPT-2 as llama.cpp writes it (Conv1D matrices transposed to [out, in],
// attn_qkv fused, the head tied): the Hugging Face checkpoint's logits; in
// int8, the same logits as the Hugging Face checkpoint quantized at load
// (the same float weights, so the same int8 values). A missing tensor is
// named with its Hugging Face name.
TEST(Gpt2Gguf, ReproducesTheHuggingFaceReference) {
  const std::string path = test::test_data("gguf/tiny_gpt2.gguf");
  const Json ref = read_json_file(test::test_data("decoder_tiny_reference.json"))["gpt2"];
  const auto model = models::builtin_registry().load_model(path);
  EXPECT_EQ(model->info().family, "gpt2");
  EXPECT_EQ(model->info().context_length, 32);
  EXPECT_LT(worst_logit_error(*model, ref), 1e-4);

  const QuantRecipe int8{QuantScheme::Int8, {}};
  const auto hf_int8 = models::builtin_registry().load_model(test::test_data("gpt2-tiny"), {int8});
  const Json own = own_logits(*hf_int8, ref);
  const auto gguf_int8 = models::builtin_registry().load_model(path, {int8});
  EXPECT_LT(worst_logit_error(*gguf_int8, own), 1e-5);
  EXPECT_GT(worst_logit_error(*gguf_int8, ref), 1e-6);  // it is int8: not the float logits

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::size_t at = bytes.find("blk.1.ffn_down.bias");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 18] = 'x';  // the same length: every offset stays valid
  test::TempDir dir;
  const std::string edited = dir.file("edited.gguf");
  std::ofstream(edited, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_CONTAINS(test::error_of([&] { models::builtin_registry().load_model(edited); }),
                  "missing tensor 'blk.1.ffn_down.bias' (h.1.mlp.c_proj.bias)");
}

// A GGUF model written as a Hugging Face checkpoint (what `octet quantize`
// and `octet prune` do with a GGUF file): config.json from the file's
// metadata, Llama's q and k rows put back in Hugging Face's order. Reloaded,
// it reproduces the Hugging Face reference the GGUF file was converted from;
// in int8, the GGUF model's own logits.
TEST(GgufAsHf, WrittenCheckpointReproducesTheHuggingFaceReference) {
  for (const std::string kind : {"llama3", "qwen3"}) {
    const std::string path = test::test_data(kind == "llama3" ? "gguf/tiny_llama31.gguf" : "gguf/tiny_qwen3.gguf");
    const Json ref = read_json_file(test::test_data("decoder_tiny_reference.json"))[kind];
    const models::HfForm hf = models::gguf_as_hf(path);
    for (const QuantScheme scheme : {QuantScheme::F32, QuantScheme::Int8}) {
      test::TempDir dir;
      const QuantRecipe recipe{scheme, {}};
      const auto gguf = models::builtin_registry().load_model(path, {recipe});
      write_checkpoint(*gguf, hf.config, recipe, dir.path(), hf.to_hf_rows);
      const auto reloaded = models::builtin_registry().load_model(dir.path());
      EXPECT_EQ(reloaded->info().family, gguf->info().family);
      if (scheme == QuantScheme::F32) {
        EXPECT_LT(worst_logit_error(*reloaded, ref), 1e-4) << kind;
      } else {
        // The same int8 values, rows reordered with their scales: float summation order aside, the same logits.
        const Json own = own_logits(*gguf, ref);
        EXPECT_LT(worst_logit_error(*reloaded, own), 1e-5) << kind;
      }
    }
  }
  EXPECT_EQ(models::gguf_as_hf(test::test_data("gguf/tiny_llama31.gguf")).config["rope_scaling"]["rope_type"],
            "llama3");
}

TEST(SmolLM2Gguf, ChatAnswersAsTheFloat32Reference) {
  OCTET_REQUIRE_SHARED(path, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
  const Json ref = read_json_file(test::test_data("smollm2_chat_reference.json"));
  auto model = models::builtin_registry().load_model(path);
  const auto tokenizer = load_tokenizer_for(path, "");
  const TokenizerConfig config = read_tokenizer_config(path);
  EXPECT_FALSE(config.add_bos.value_or(true)) << "the GGUF says add_bos_token false";
  const auto format = detect_chat_format(config.chat_template);
  ASSERT_EQ(format, ChatFormat::ChatML);
  const std::string system = default_system_prompt(*format, config.chat_template);
  EXPECT_EQ(system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const std::string turn = format_user_turn(*format, "What is the capital of France?", system, true);
  EXPECT_EQ(turn, ref["prompt_text"].get<std::string>());
  EXPECT_EQ(tokenizer->encode_with_specials(turn), ref["prompt_ids"].get<std::vector<std::int32_t>>());

  auto backend = make_cpu_backend(0);
  GenerationSession session(*model, *backend, 256);
  ChatSession chat(session, *tokenizer, *format, system, false);
  Sampler sampler({.temperature = 0.0f}, model->info().vocab_size);
  std::string text;
  const GenerationStats stats = chat.reply(
      "What is the capital of France?", 64, sampler, [&](std::string_view piece) { text += piece; },
      [] { return true; });
  EXPECT_EQ(stats.reason, StopReason::Eos) << "the answer ends at <|im_end|>";
  EXPECT_EQ(text, ref["answer_text"].get<std::string>()) << "no markup printed";
  const auto answer = ref["answer_ids"].get<std::vector<std::int32_t>>();
  EXPECT_EQ(stats.generated_tokens + 1, static_cast<int>(answer.size())) << "the answer's tokens, then <|im_end|>";
}

}  // namespace
}  // namespace octet
