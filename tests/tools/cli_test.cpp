// The `octet` binary end to end: what a user types, what they see.
#include "tests/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <tuple>

#include <sys/wait.h>
#include <algorithm>
#include <array>
#include <cstdio>

namespace octet {
namespace {

struct CliRun {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing stdout and stderr together.
CliRun run_shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  for (std::size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

CliRun run_octet(const std::string& args) { return run_shell(std::string(OCTET_BINARY) + " " + args + " </dev/null"); }

// `octet chat ARGS` with `lines` typed on its standard input.
CliRun run_chat(const std::string& lines, const std::string& args) {
  return run_shell("printf '" + lines + "' | " + OCTET_BINARY + " chat " + args);
}

// `octet ARGS` fails with `exit_code` and says `message`.
void expect_failure(const std::string& args, int exit_code, const std::string& message) {
  const CliRun r = run_octet(args);
  EXPECT_EQ(r.exit_code, exit_code) << args;
  EXPECT_CONTAINS(r.output, message);
}

TEST(Cli, GreedyGenerateWithTheShippedModel) {
  const CliRun r = run_octet("generate -p 'Once upon a time' --temp 0 -n 20");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_CONTAINS(r.output, "Once upon a time, there was a little girl named Lily.");
  EXPECT_CONTAINS(r.output, "tok/s");
}

TEST(Cli, EmptyPromptStartsFromBos) {
  // From BOS alone the model starts its story; the text starts without the
  // tokenizer's dummy-prefix space.
  const CliRun r = run_octet("generate -p '' --temp 0 -n 12");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("Once upon a time, there was", 0), 0u) << r.output;
}

TEST(Cli, SeedMakesSamplingReproducible) {
  const auto text = [](const CliRun& r) { return r.output.substr(0, r.output.find('\n')); };  // not the timings
  const CliRun a = run_octet("generate -p 'Tom' --seed 7 -n 24"), b = run_octet("generate -p 'Tom' --seed 7 -n 24");
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(text(a), text(b));
  // ... and the seed is what decides: another one samples another story.
  EXPECT_NE(text(a), text(run_octet("generate -p 'Tom' --seed 8 -n 24")));
}

TEST(Cli, Llama2cCheckpointAsWritten) {
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  OCTET_REQUIRE_SHARED(tokenizer, "models/stories260K/tok512.model");
  const CliRun r = run_octet("generate -m " + checkpoint + " --tokenizer " + tokenizer + " --temp 0 -n 30");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "Once upon a time, there was a little girl named Lily.");
  expect_failure("generate -m " + checkpoint, 1, "--tokenizer");
}

// octet quantize and prune from a llama2.c file: config.json from its header,
// q and k rows put back in Hugging Face's order, the --tokenizer copied as
// tokenizer.model. The int8 checkpoint generates, greedily, what the .bin
// does quantized at load; the f32 2:4 one has the perplexity the .bin has
// pruned at load (the same values; rows reordered: float rounding only).
TEST(Cli, QuantizeAndPruneReadLlama2cFiles) {
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  OCTET_REQUIRE_SHARED(tokenizer, "models/stories260K/tok512.model");
  test::TempDir dir;
  const std::string bin = checkpoint + " --tokenizer " + tokenizer;
  const CliRun q = run_octet("quantize -m " + bin + " -o " + dir.file("q") + " --scheme int8");
  ASSERT_EQ(q.exit_code, 0) << q.output;
  const std::string generate = " -p 'Once upon a time' --temp 0 -n 24";
  const auto text = [](const std::string& o) { return o.substr(0, o.find("\n[prompt")); };  // not the timings
  const CliRun from_bin = run_octet("generate -m " + bin + generate + " --quant int8");
  const CliRun from_checkpoint = run_octet("generate -m " + dir.file("q") + generate);
  ASSERT_EQ(from_bin.exit_code, 0) << from_bin.output;
  ASSERT_EQ(from_checkpoint.exit_code, 0) << from_checkpoint.output;
  EXPECT_EQ(text(from_checkpoint.output), text(from_bin.output));
  EXPECT_CONTAINS(text(from_bin.output), "Once upon a time");

  std::ofstream(dir.file("story.txt"))
      << "Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog. One "
         "day, the dog found a big red ball.\n";
  const CliRun p = run_octet("prune -m " + bin + " -o " + dir.file("p") + " --sparsity 2:4");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  const auto perplexity = [](const std::string& out, const std::string& label) {
    const std::size_t at = out.find("perplexity (" + label + "): ");
    return at == std::string::npos ? -1.0 : std::stod(out.substr(at + label.size() + 14));
  };
  const std::string story = " -f " + dir.file("story.txt") + " --ctx 16";
  const double pruned_at_load =
      perplexity(run_octet("perplexity -m " + bin + story + " --compare f32 --prune 2:4").output, "f32 2:4 magnitude");
  const double written = perplexity(run_octet("perplexity -m " + dir.file("p") + story).output, "f32");
  ASSERT_GT(pruned_at_load, 0);
  EXPECT_NEAR(written, pruned_at_load, 1e-4 * pruned_at_load);

  const CliRun none = run_octet("quantize -m " + checkpoint + " -o " + dir.file("none"));
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_CONTAINS(none.output, "holds no tokenizer and none was given (--tokenizer)");
  expect_failure("quantize -m " + checkpoint + " --tokenizer " + checkpoint + " -o " + dir.file("x"), 1,
                 "cannot load SentencePiece model");
  expect_failure("quantize -m " + test::shipped_model() + " --tokenizer " + tokenizer + " -o " + dir.file("x"), 1,
                 "--tokenizer is for llama2.c input");
}

TEST(Cli, InfoDescribesTheModel) {
  const CliRun r = run_octet("info");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_CONTAINS(r.output, "LlamaForCausalLM");
  EXPECT_CONTAINS(r.output, "parameters    869504");
  EXPECT_CONTAINS(r.output, "tokenizer: SentencePiece, 1024 tokens");
  const CliRun gguf = run_octet("info -m " + test::test_data("gguf/tiny_llama.gguf"));
  EXPECT_EQ(gguf.exit_code, 0) << gguf.output;
  EXPECT_CONTAINS(gguf.output, "llama (GGUF v3, octet tiny llama (random weights)) (family llama)");
  EXPECT_CONTAINS(gguf.output, "tokenizer: byte-level BPE, 700 tokens");
}

TEST(Cli, ChatWithSmolLM2FromItsGguf) {
  OCTET_REQUIRE_SHARED(path, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
  const CliRun r = run_chat("What is the capital of France?\\n", "-m " + path + " --temp 0 -n 40");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "chat format: chatml");
  EXPECT_CONTAINS(r.output, "system prompt (the template's default): You are a helpful AI assistant named SmolLM");
  EXPECT_CONTAINS(r.output, "The capital of France is Paris.\n");
  EXPECT_EQ(r.output.find("<|im"), std::string::npos) << "no template markup printed: " << r.output;
}

TEST(Cli, SpecialTokensInAPromptOnlyWithTheFlag) {
  // The tiny GGUF's <|endoftext|> is its EOS: read as that token, greedy decoding starts after it;
  // read as text, it is 13 ordinary characters. The prompt token counts tell them apart.
  const std::string model = "-m " + test::test_data("gguf/tiny_llama.gguf") + " -p '<|endoftext|>' --temp 0 -n 1";
  EXPECT_CONTAINS(run_octet("generate " + model + " --special").output, "[prompt 1 tokens");
  const CliRun plain = run_octet("generate " + model);
  EXPECT_EQ(plain.output.find("[prompt 1 tokens"), std::string::npos) << plain.output;
}

TEST(Cli, QuantizeRefusesWhatItCannotWriteBack) {
  test::TempDir dir;
  std::ofstream(dir.file("model.bin"), std::ios::binary) << std::string(64, '\0');
  expect_failure("quantize -m " + dir.file("model.bin") + " -o " + dir.file("out") + " --scheme int8", 1,
                 "model.bin: header field 0 is 0, not a llama2.c checkpoint?");
  EXPECT_FALSE(std::filesystem::exists(dir.file("out/model.safetensors")));
  for (const std::string& gpt2 : {test::test_data("gpt2-tiny"), test::test_data("gguf/tiny_gpt2.gguf")}) {
    expect_failure("quantize -m " + gpt2 + " -o " + dir.file("out") + " --scheme int8", 1,
                   "does not write GPT-2 checkpoints yet");
  }
}

TEST(Cli, ABrokenGgufIsAnErrorNamingTheFile) {
  test::TempDir dir;
  std::ofstream(dir.file("cut.gguf"), std::ios::binary) << std::string("GGUF\3\0\0\0", 8);
  expect_failure("info -m " + dir.file("cut.gguf"), 1, "cut.gguf: the file ends inside tensor count");
}

TEST(Cli, ChatReadsTurnsFromStdin) {
  const CliRun r = run_chat("Once upon a time\\n/reset\\nTom had a dog\\n", "--temp 0 -n 12");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "plain continuation");
  EXPECT_CONTAINS(r.output, ", there was a little girl");  // the greedy continuation of the first turn
  EXPECT_CONTAINS(r.output, "conversation forgotten");
}

TEST(Cli, ChatSaysWhenTheContextIsFull) {
  const CliRun r = run_chat("Once upon a time there was\\nand then\\n", "--temp 0 --ctx 12");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "the context is full: 12 of 12 tokens");
  EXPECT_CONTAINS(r.output, "do not fit the context: 12 of 12 positions are used, 0 free; /reset to start over");
}

TEST(Cli, ChatSkipsALineThatIsNotUtf8) {
  // printf turns \\377 into the byte 0xFF; the next turn is still the first.
  const CliRun r = run_chat("\\377\\376 bad\\nOnce upon a time\\n", "--temp 0 -n 12");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "(not sent: your message is not valid UTF-8 at byte 0)");
  EXPECT_CONTAINS(r.output, ", there was a little girl");
  const CliRun bad_system = run_chat("hi\\n", "--system \"$(printf '\\377')\"");
  EXPECT_EQ(bad_system.exit_code, 1) << bad_system.output;
  EXPECT_CONTAINS(bad_system.output, "system prompt: invalid UTF-8 at byte 0");
}

TEST(Cli, PerplexityJsonHasEveryField) {
  test::TempDir dir;
  std::ofstream(dir.file("story.txt")) << "Once upon a time, there was a little girl named Lily. She loved to play "
                                          "outside in the park. One day, she saw a big red ball and a small dog.";
  const CliRun r = run_octet("perplexity -f " + dir.file("story.txt") + " --ctx 16 --compare int8 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  for (const char* key : {"perplexity", "ppl_stderr", "tokens", "kld_mean", "top1_agreement"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_GT(j["perplexity"].get<double>(), 1.0);
  EXPECT_GE(j["top1_agreement"].get<double>(), 0.0);
  EXPECT_LE(j["top1_agreement"].get<double>(), 1.0);
  EXPECT_EQ(j["compare"]["scheme"], "int8");
  expect_failure("perplexity", 1, "--file is required");
  const CliRun empty = run_octet("perplexity -f /dev/null");
  EXPECT_CONTAINS(empty.output, "the file is empty");
}

// What pruning costs, measured like a quantization scheme: --prune applies to
// the --compare model; Wanda calibrates on --calib text.
TEST(Cli, PerplexityMeasuresWhatPruningCosts) {
  test::TempDir dir;
  std::string story;
  for (int i = 0; i < 6; ++i)
    story += "Once upon a time, there was a little girl named Lily. She loved to play outside. ";
  std::ofstream(dir.file("story.txt")) << story;
  const std::string base = "perplexity -f " + dir.file("story.txt") + " --ctx 32 --json --compare ";
  const CliRun dense = run_octet(base + "f32");
  const CliRun pruned = run_octet(base + "f32 --prune 2:4");
  ASSERT_EQ(pruned.exit_code, 0) << pruned.output;
  const auto j = nlohmann::json::parse(pruned.output.substr(pruned.output.find('{')));
  EXPECT_EQ(j["compare"]["scheme"], "f32 2:4 magnitude");
  EXPECT_GT(j["kld_mean"].get<double>(), 1e-3) << "half the weights gone must cost something";
  const auto d = nlohmann::json::parse(dense.output.substr(dense.output.find('{')));
  EXPECT_EQ(d["kld_mean"].get<double>(), 0.0) << "f32 against itself";
  std::ofstream calib(dir.file("calib.txt"));
  for (int i = 0; i < 40; ++i) calib << "The dog ran to the park and found a big red ball. ";
  calib.close();
  const CliRun wanda = run_octet(base + "int8 --prune 0.5 --prune-method wanda --calib " + dir.file("calib.txt"));
  ASSERT_EQ(wanda.exit_code, 0) << wanda.output;
  EXPECT_CONTAINS(wanda.output, "Wanda's activation norms");
  EXPECT_CONTAINS(wanda.output, "\"int8 50% unstructured wanda\"");
  const std::string file = " -f " + dir.file("story.txt");
  expect_failure("perplexity" + file + " --prune 2:4", 1, "--prune applies to the --compare model");
  expect_failure("perplexity" + file + " --compare f32 --prune 3:4", 1, "--prune '3:4' is not a sparsity");
  expect_failure("perplexity" + file + " --compare f32 --prune 2:4 --prune-method obs", 1,
                 "--prune-method 'obs' is not a method");
  expect_failure("perplexity" + file + " --compare f32 --prune 2:4 --prune-method wanda", 1,
                 "--method wanda needs calibration text");
  expect_failure(base + "f32 --prune 2:4 --prune-method wanda --calib " + dir.file("story.txt"), 1,
                 "the calibration text has 115 tokens: fewer than one window of 256");
}

TEST(Cli, PruneWritesACheckpointThatInfoAndPerplexityRead) {
  test::TempDir dir;
  const CliRun r =
      run_octet("prune -m " + test::shipped_model() + " -o " + dir.path() + " --sparsity 2:4 --scheme int8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "matmul weights are zero (2:4; dense: lm_head), int8");
  const CliRun info = run_octet("info -m " + dir.path());
  EXPECT_CONTAINS(info.output, "of the matmul weights are zero");
  EXPECT_EQ(info.output.find("2:4 in every group"), std::string::npos) << "lm_head is dense";
  EXPECT_EQ(run_octet("info").output.find("sparsity"), std::string::npos) << "the dense model says nothing";
  std::ofstream(dir.file("story.txt")) << "Once upon a time, there was a little girl named Lily. She loved to play "
                                          "outside in the park. One day, she saw a big red ball and a small dog.";
  const CliRun ppl = run_octet("perplexity -m " + dir.path() + " -f " + dir.file("story.txt") + " --ctx 16");
  EXPECT_EQ(ppl.exit_code, 0) << ppl.output;
  const std::string in = " -m " + test::shipped_model() + " -o " + dir.path() + "/x";
  expect_failure("prune" + in, 1, "--sparsity is required");
  expect_failure("prune" + in + " --sparsity 2:4 --keep-dense lm_haed", 1, "keep-dense 'lm_haed' is part of no weight");
  expect_failure("prune" + in + " --sparsity 2:4 --method wanda", 1, "--method wanda needs calibration text");
  expect_failure("prune -m " + test::shipped_model() + " -o " + test::shipped_model() + " --sparsity 2:4", 1,
                 "the output directory must differ from the input");
}

// A GGUF file quantized and pruned to Hugging Face checkpoints (their logits:
// tests/models/gguf_models_test.cpp); without tokenizer files beside it, the
// output has none and the command says so.
TEST(Cli, QuantizeAndPruneReadGgufFiles) {
  test::TempDir dir;
  const std::string gguf = test::test_data("gguf/tiny_qwen3.gguf");
  const CliRun q = run_octet("quantize -m " + gguf + " -o " + dir.file("q") + " --scheme int8");
  ASSERT_EQ(q.exit_code, 0) << q.output;
  EXPECT_CONTAINS(q.output, "note: no tokenizer file");
  const auto config_of = [&](const std::string& name) {
    std::stringstream text;
    text << std::ifstream(dir.file(name + "/config.json")).rdbuf();
    return text.str();
  };
  EXPECT_CONTAINS(config_of("q"), "\"model_type\": \"qwen3\"");
  const CliRun p = run_octet("prune -m " + gguf + " -o " + dir.file("p") + " --sparsity 2:4 --scheme int8");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  EXPECT_CONTAINS(config_of("p"), "sparse-24-bitmask");
  // A GGUF with no tokenizer beside it but its own: written as tokenizer.json
  // (byte-level BPE) or tokenizer.model (SentencePiece), so that the
  // checkpoint runs alone and generates what the GGUF file does.
  for (const auto& [file, tokenizer] : {std::pair{"tiny_llama.gguf", "tokenizer.json"},
                                        {"tiny_llama_spm.gguf", "tokenizer.model"}}) {
    const std::string llama = test::test_data(std::string("gguf/") + file);
    const std::string out = dir.file(std::string("f-") + file);
    const CliRun f = run_octet("quantize -m " + llama + " -o " + out + " --scheme w8");
    ASSERT_EQ(f.exit_code, 0) << f.output;
    EXPECT_CONTAINS(f.output, "wrote its own tokenizer to " + out + "/" + tokenizer);
    const std::string generate = " -p 'Hello world' --temp 0 -n 8";
    const CliRun from_gguf = run_octet("generate -m " + llama + generate + " --quant w8");
    const CliRun from_checkpoint = run_octet("generate -m " + out + generate);
    ASSERT_EQ(from_gguf.exit_code, 0) << from_gguf.output;
    ASSERT_EQ(from_checkpoint.exit_code, 0) << from_checkpoint.output;
    const auto text = [](const std::string& o) { return o.substr(0, o.find("\n[prompt")); };  // not the timings
    EXPECT_EQ(text(from_checkpoint.output), text(from_gguf.output)) << file;
    EXPECT_CONTAINS(text(from_gguf.output), "Hello world");
  }
  expect_failure("quantize -m " + test::test_data("gguf/types.gguf") + " -o " + dir.file("x"), 1, "architecture");
  expect_failure("quantize -m " + dir.file("q/config.json") + " -o " + dir.file("x"), 1,
                 "reads a Hugging Face model directory (config.json + safetensors), a GGUF file or a llama2.c .bin file");
}

// --kv-cache fp8: a quarter of the cache's bytes plus a float scale per row
// and head (tinystories-mini: 4 layers x 2 caches x 256 rows x 2 heads x 32:
// 512 KiB as float, 128 KiB of codes + 16 KiB of scales), and what it costs
// measured against float on the same text.
TEST(Cli, Fp8KvCache) {
  EXPECT_CONTAINS(run_octet("info").output, "512.0 KiB for the full context");
  const CliRun info = run_octet("info --kv-cache fp8");
  EXPECT_CONTAINS(info.output, "144.0 KiB for the full context");
  EXPECT_CONTAINS(info.output, "fp8 (E4M3, a scale per token and head)");
  const CliRun gen = run_octet("generate -p 'Once upon a time' --temp 0 -n 12 --kv-cache fp8");
  EXPECT_EQ(gen.exit_code, 0) << gen.output;
  EXPECT_CONTAINS(gen.output, "Once upon a time, there was a little girl");

  test::TempDir dir;
  std::ofstream(dir.file("story.txt")) << "Once upon a time, there was a little girl named Lily. She loved to play "
                                          "outside in the park. One day, she saw a big red ball and a small dog.";
  const CliRun r =
      run_octet("perplexity -f " + dir.file("story.txt") + " --ctx 16 --compare f32 --compare-kv-cache fp8 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["kv_cache"], "f32");
  EXPECT_EQ(j["compare"]["kv_cache"], "fp8");
  EXPECT_GT(j["kld_mean"].get<double>(), 0.0) << "the same weights: only the cache differs";
  expect_failure("generate --kv-cache fp16", 1, "--kv-cache 'fp16' is not a KV cache type: use f32 or fp8");
  expect_failure("perplexity -f " + dir.file("story.txt") + " --compare-kv-cache fp8", 1,
                 "--compare-kv-cache applies to the --compare model");
}

TEST(Cli, BenchReportHasEveryFieldForEachScheme) {
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  const CliRun r = run_octet("bench -m " + checkpoint + " -p 16 -n 8 -r 2 -b 1,3 --quant f32,int8 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  for (const char* key : {"model", "machine", "build", "peak_rss_bytes"}) EXPECT_TRUE(j["header"].contains(key)) << key;
  ASSERT_EQ(j["results"].size(), 4u);  // 2 schemes x 2 batch sizes
  for (const auto& row : j["results"]) {
    for (const char* key : {"backend", "quant", "threads", "batch", "pp_tok_s_mean", "pp_tok_s_std", "ttft_ms_mean",
                            "tg_tok_s_mean", "tg_tok_s_std", "tg_ms_median", "tg_ms_p99", "decode_weight_bytes",
                            "decode_weight_gb_s", "model_bytes", "parameters"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
    EXPECT_GT(row["tg_tok_s_mean"].get<double>(), 0);
    EXPECT_GT(row["ttft_ms_mean"].get<double>(), 0);
    EXPECT_LE(row["tg_ms_median"].get<double>(), row["tg_ms_p99"].get<double>());
    // A step reads the weights once for the whole batch.
    EXPECT_NEAR(row["decode_weight_gb_s"].get<double>(),
                row["decode_weight_bytes"].get<double>() * row["tg_tok_s_mean"].get<double>() /
                    row["batch"].get<double>() / 1e9,
                1e-9);
  }
  EXPECT_EQ(j["results"][1]["batch"], 3);
  EXPECT_LT(j["results"][2]["decode_weight_bytes"].get<double>(),
            j["results"][0]["decode_weight_bytes"].get<double>() / 3)
      << "int8 weights are about 4x smaller";
  // (An int8 model stores a tied lm_head twice: float for the lookup, int8 for the product.)
  EXPECT_LT(j["results"][2]["model_bytes"].get<double>(), j["results"][0]["model_bytes"].get<double>())
      << "the int8 model is smaller in memory";
  const CliRun md = run_octet("bench -m synthetic:llama-15m -p 8 -n 4 -r 1 --quant w8");
  EXPECT_EQ(md.exit_code, 0) << md.output;
  EXPECT_CONTAINS(md.output, "(random weights)");
  EXPECT_CONTAINS(md.output, "| w8 |");
  EXPECT_CONTAINS(md.output, "| threads | batch |");
  EXPECT_EQ(run_octet("bench -m synthetic:llama-99b").exit_code, 1);
  EXPECT_CONTAINS(run_octet("bench -m synthetic:llama-15m -b 0").output, "--batch: '0' is not a whole number >= 1");
}

// Encoder mode: sentences/s for every batch size and scheme, and the cuda
// backend listed as skipped (no GPU here, or no encoder kernels on one).
TEST(Cli, BenchTimesEncodersInSentencesPerSecond) {
  const CliRun r = run_octet("bench -m " + test::project_dir() +
                             "/assets/models/sst2-mini -p 16 -b 1,4 -r 2 --quant f32,int8 --backend cpu,cuda -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(j["results"].size(), 4u);  // 2 schemes x 2 batch sizes on the CPU
  for (const auto& row : j["results"]) {
    for (const char* key : {"backend", "quant", "threads", "batch", "seq_len", "sent_s_mean", "sent_s_std",
                            "tok_s_mean", "model_bytes", "parameters"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
    EXPECT_EQ(row["seq_len"], 16);
    EXPECT_GT(row["sent_s_mean"].get<double>(), 0);
    EXPECT_NEAR(row["tok_s_mean"].get<double>(), 16 * row["sent_s_mean"].get<double>(), 1e-6);
  }
  EXPECT_EQ(j["results"][1]["batch"], 4);
  EXPECT_GE(j["skipped"].size(), 2u);  // cuda, for each scheme
  const CliRun md =
      run_octet("bench -m " + test::project_dir() + "/assets/models/sst2-mini -p 8 -b 2 -r 1 --quant int8");
  EXPECT_EQ(md.exit_code, 0) << md.output;
  EXPECT_CONTAINS(md.output, "| sentences/s |");
  EXPECT_CONTAINS(md.output, "| cpu | int8 |");
}

TEST(Cli, BenchCsvSkipsAndMatmulMode) {
  OCTET_REQUIRE_SHARED(checkpoint, "models/stories260K/stories260K.bin");
  // int8 never runs on the GPU backend: listed as skipped, with the reason, and the rest still runs.
  const CliRun r = run_octet("bench -m " + checkpoint + " -p 8 -n 4 -r 1 --quant f32,int8 --backend cpu,cuda -o csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines;
  std::stringstream csv(r.output);
  for (std::string line; std::getline(csv, line);) {
    if (line.starts_with("model,") || line.starts_with("\"")) lines.push_back(line);
  }
  ASSERT_GE(lines.size(), 3u) << r.output;  // the header, one row per CPU scheme (and cuda f32 on a GPU)
  // Fields of a CSV line: commas outside double quotes separate them.
  const auto columns = [](const std::string& line) {
    int fields = 1;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      fields += c == ',' && !quoted;
    }
    return fields;
  };
  EXPECT_CONTAINS(lines[0], "ttft_ms_mean");
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.find("\"cpu\"") != l.npos; }),
            2);
  for (const auto& line : lines) EXPECT_EQ(columns(line), columns(lines[0])) << line;
  EXPECT_CONTAINS(r.output, "skipping cuda int8");

  const CliRun m = run_octet("bench --matmul 1 --quant int8 -r 1 -o json");
  ASSERT_EQ(m.exit_code, 0) << m.output;
  const auto j = nlohmann::json::parse(m.output.substr(m.output.find('{')));
  ASSERT_EQ(j["results"].size(), 3u) << "the three Llama-7B shapes";
  for (const auto& row : j["results"]) EXPECT_GT(row["tflops"].get<double>(), 0);
}

TEST(Cli, BenchRefusesBadNumbersBeforeLoadingAModel) {
  // Each once ended as "internal error: stoi", or as an empty table after
  // loading every scheme, with exit status 0.
  expect_failure("bench -b 1,2x", 1, "--batch: '2x' is not a whole number >= 1");
  expect_failure("bench -t one", 1, "--threads: 'one' is not a whole number >= 0");
  expect_failure("bench --matmul x", 1, "--matmul: 'x' is not a whole number >= 1");
  expect_failure("bench -p -5", 1, "--n-prompt must be at least 1, got -5");
  expect_failure("bench -r 0 --matmul 1", 1, "--repetitions must be at least 1, got 0");
  const CliRun r = run_octet("bench -n 0");
  EXPECT_EQ(r.output.find("loading"), std::string::npos) << r.output;
}

TEST(Cli, OptionsThatWouldBeIgnoredAreRefused) {
  // A typo in --keep-float used to load the model fully quantized, silently.
  const std::string text = test::project_dir() + "/README.md";
  expect_failure("perplexity -f " + text + " --compare int8 --keep-float lm_haed", 1,
                 "keep-float 'lm_haed' is part of no weight name");
  expect_failure("perplexity -f " + text + " --windows -1", 1, "--windows must be >= 0");
  expect_failure("classify --format tsv 'a fine film'", 1, "--format describes --input or stdin");
}

TEST(Cli, QuantizeWritesALoadableCheckpoint) {
  test::TempDir dir;
  const std::string out = dir.file("int8");
  const CliRun q = run_octet("quantize -m " + test::shipped_model() + " -o " + out + " --scheme int8");
  ASSERT_EQ(q.exit_code, 0) << q.output;
  const CliRun saved = run_octet("generate -m " + out + " -p 'Once upon a time' --temp 0 -n 20");
  const CliRun at_load = run_octet("generate -q int8 -p 'Once upon a time' --temp 0 -n 20");
  EXPECT_EQ(saved.output.substr(0, saved.output.find('\n')), at_load.output.substr(0, at_load.output.find('\n')));
  EXPECT_CONTAINS(run_octet("info -m " + out).output, "I8");
  EXPECT_CONTAINS(run_octet("quantize -m " + test::shipped_model() + "/model.safetensors -o " + out).output,
                  "reads a Hugging Face model directory");
  EXPECT_CONTAINS(run_octet("quantize -m " + test::shipped_model() + " -o " + out + " --scheme f32").output,
                  "choose w8, int8 or fp8");
  EXPECT_CONTAINS(run_octet("quantize -m " + test::shipped_model() + " -o " + out + " --smooth 0.5").output,
                  "--smooth needs calibration text");
  EXPECT_CONTAINS(run_octet("quantize -m " + test::shipped_model() + " -o " + out + " --scheme w8 --static --calib " +
                            test::project_dir() + "/README.md")
                      .output,
                  "--static scales int8 activations");
}

TEST(Cli, HelpAndUsageErrors) {
  for (const char* cmd : {"generate", "chat", "info", "perplexity", "bench", "quantize"}) {
    const CliRun r = run_octet(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_CONTAINS(r.output, "--model");
  }
  EXPECT_EQ(run_octet("").exit_code, 2);
  EXPECT_EQ(run_octet("frobnicate").exit_code, 2);
  expect_failure("generate --no-such-flag", 2, "no-such-flag");
  expect_failure("generate --top-p 2", 1, "top-p must be in (0, 1]");
}

TEST(Cli, BadInputsGiveClearErrors) {
  expect_failure("generate -m /nonexistent/model", 1, "/nonexistent/model: no such file or directory");
  expect_failure("generate --ctx 8 -p 'one two three four five six seven eight nine ten'", 1, "context holds 8");
  expect_failure("generate -p \"$(printf 'bad \\377 byte')\"", 1, "--prompt: invalid UTF-8 at byte 4");
  expect_failure("generate --gpu-layers 2 --backend cpu", 1, "--gpu-layers splits the model between cuda and the cpu");
  expect_failure("generate --gpu-layers -1", 1, "--gpu-layers must be >= 0");
  expect_failure("generate --cpu-quant int8", 1, "--cpu-quant sets the scheme of the blocks --gpu-layers leaves");
  expect_failure("generate --gpu-layers 2 --quant fp8 --cpu-quant int4", 1, "--cpu-quant 'int4' is not a scheme");
  expect_failure("bench --cpu-quant int8 -p 8 -n 8", 1, "use it with --backend cuda --gpu-layers N");
}

// `octet classify` on a small TSV with gold labels: JSON lines in input
// order, a summary, and the summary file with every field.
TEST(CliClassify, LabelsATsvAndSummarizes) {
  test::TempDir dir;
  {
    std::ofstream f(dir.file("in.tsv"));
    f << "sentence\tlabel\n"
      << "a charming and often affecting journey . \t1\n"
      << "unflinchingly bleak and desperate \t0\n"
      << "the acting is terrible and the plot is worse . \tnegative\n";
  }
  const CliRun r = run_octet("classify -i " + dir.file("in.tsv") + " -o " + dir.file("out.jsonl") +
                             " --top-k 2 --summary-json " + dir.file("summary.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "accuracy");
  EXPECT_CONTAINS(r.output, "confusion");
  std::ifstream out(dir.file("out.jsonl"));
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(out, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["line"], i + 2);  // input order, by line number
    ASSERT_EQ(rows[i]["probs"].size(), 2u);
    const double p0 = rows[i]["probs"][0]["prob"], p1 = rows[i]["probs"][1]["prob"];
    EXPECT_NEAR(p0 + p1, 1.0, 1e-9);
    EXPECT_GE(p0, p1);
    EXPECT_EQ(rows[i]["label"], rows[i]["probs"][0]["label"]);
    EXPECT_EQ(rows[i]["score"], p0);
  }
  EXPECT_EQ(rows[0]["label"], "positive");
  EXPECT_EQ(rows[2]["label"], "negative");
  const nlohmann::json summary = nlohmann::json::parse(std::ifstream(dir.file("summary.json")));
  for (const char* key : {"accuracy", "count", "sentences_per_second", "classes", "confusion"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
  EXPECT_EQ(summary["count"], 3);
  EXPECT_TRUE(summary["classes"]["positive"].contains("f1"));
}

TEST(CliClassify, ABadLineFailsWithItsNumberOrIsSkippedOnRequest) {
  test::TempDir dir;
  {
    std::ofstream f(dir.file("in.txt"), std::ios::binary);
    f << "a fine film\nbroken \xFF byte\nan awful film\n";
  }
  const CliRun fails = run_octet("classify -i " + dir.file("in.txt"));
  EXPECT_EQ(fails.exit_code, 1) << fails.output;
  EXPECT_CONTAINS(fails.output, "in.txt:2: text: invalid UTF-8 at byte 7");
  const CliRun skips = run_octet("classify --skip-bad -i " + dir.file("in.txt"));
  ASSERT_EQ(skips.exit_code, 0) << skips.output;
  EXPECT_CONTAINS(skips.output, "in.txt:2: skipped");
  EXPECT_CONTAINS(skips.output, "\"line\":1");
  EXPECT_CONTAINS(skips.output, "\"line\":3");
  EXPECT_CONTAINS(skips.output, "1 bad lines skipped");
}

TEST(CliClassify, ATextArgumentIsOneTextCommasAndAll) {
  const CliRun r = run_octet("classify 'the acting , costumes , music and sound are all astounding' 'dull'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "\"line\":2");
  EXPECT_EQ(r.output.find("\"line\":3"), std::string::npos) << r.output;
}

TEST(CliClassify, RefusesDecodersAndEmptyInput) {
  expect_failure("classify -m " + test::shipped_model() + " 'some text'", 1, "a decoder, not an encoder");
  expect_failure("generate -m " + test::project_dir() + "/assets/models/sst2-mini -p x", 1, "octet classify");
  const CliRun empty = run_shell(std::string(OCTET_BINARY) + " classify </dev/null");
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_CONTAINS(empty.output, "no texts to classify");
}

// A classifier whose output is NaN (here its bias) stops before writing
// anything, naming the line, instead of labelling every text at random.
TEST(CliClassify, RefusesOutputsThatAreNotFinite) {
  test::TempDir dir;
  test::copy_model_editing(dir, test::project_dir() + "/assets/models/sst2-mini", "classifier.bias",
                           [](std::span<float> b) { b[1] = std::numeric_limits<float>::quiet_NaN(); });
  expect_failure("classify -m " + dir.path() + " -o " + dir.file("out.jsonl") + " 'a charming journey' 'dull'", 1,
                 "line 1: the model's output 1 is nan");
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.jsonl")));
}

// sst2-mini's encoder without its classifier (config.json says BertModel):
// vectors of hidden_size, pooled as --pooling says; a classifier refuses it.
TEST(CliClassify, WritesEmbeddingsPooledAsAsked) {
  test::TempDir dir;
  const std::string shipped = test::project_dir() + "/assets/models/sst2-mini";
  for (const char* file : {"model.safetensors", "tokenizer.model", "tokenizer_config.json"}) {
    std::filesystem::copy_file(shipped + "/" + file, dir.file(file));
  }
  nlohmann::json config = nlohmann::json::parse(std::ifstream(shipped + "/config.json"));
  config["architectures"] = {"BertModel"};
  config.erase("id2label");
  config.erase("label2id");
  std::ofstream(dir.file("config.json")) << config.dump();
  const auto embedding = [&](const std::string& pooling) {
    const CliRun r = run_octet("classify -m " + dir.path() + " --pooling " + pooling + " 'a charming journey'");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output.substr(0, r.output.find('\n')))["embedding"].get<std::vector<float>>();
  };
  const auto mean = embedding("mean"), first = embedding("first"), pooler = embedding("pooler");
  ASSERT_EQ(mean.size(), config["hidden_size"].get<std::size_t>());
  EXPECT_EQ(embedding("auto"), pooler) << "BERT's pooler, where the checkpoint has one";
  EXPECT_NE(mean, first);
  EXPECT_NE(first, pooler);
  EXPECT_TRUE(std::all_of(pooler.begin(), pooler.end(), [](float v) { return std::abs(v) <= 1.0f; })) << "tanh";
  expect_failure("classify --pooling mean 'a charming journey'", 1, "--pooling is for encoders without one");
  EXPECT_CONTAINS(run_octet("classify -m " + dir.path() + " --pooling max x").output, "is not one of");
}

}  // namespace
}  // namespace octet
