// A GGUF file: the reader's validation, every tensor dequantized, then the
// file as a model (a decoder that loads runs three tokens), its vocabulary as
// a byte-level BPE or SentencePiece tokenizer (and written as tokenizer.json or
// tokenizer.model), and its chat template.
#include "engine/core/placement.h"
#include "engine/io/gguf.h"
#include "engine/session/generation_session.h"
#include "engine/session/sampler.h"
#include "engine/text/bpe_tokenizer.h"
#include "engine/text/chat_format.h"
#include "engine/text/gguf_sentencepiece.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  const std::string path =
      fuzz::write_scratch("model.gguf", std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::refuse_only_with_octet_error([&] {
    const GgufFile g(path);
    for (const GgufTensorInfo& t : g.tensors()) g.dequantize(t);
  });
  fuzz::refuse_only_with_octet_error([&] {
    const auto model = models::builtin_registry().load_model(path);
    static const auto backend = make_cpu_backend(1);
    GenerationSession session(*model, Placement(*backend), 8);
    Sampler sampler({.temperature = 0}, model->info().vocab_size);
    session.generate(std::vector<std::int32_t>{0, 1, 2}, 3, sampler, [](std::int32_t) { return true; });
  });
  fuzz::refuse_only_with_octet_error([&] {
    const auto tok = load_tokenizer_for(path, "");
    tok->decode(tok->encode_with_specials("Hello <|im_start|>world 123 caf\xc3\xa9 \xe4\xb8\x80"));
  });
  fuzz::refuse_only_with_octet_error([&] {  // the tokenizer as octet quantize writes it beside a checkpoint
    const GgufFile g(path);
    write_json_file((fuzz::scratch_dir() / "tokenizer.json").string(), gguf_tokenizer_json(g));
    write_json_file((fuzz::scratch_dir() / "tokenizer_config.json").string(), gguf_tokenizer_config_json(g));
  });
  fuzz::refuse_only_with_octet_error([&] { gguf_sentencepiece_model(GgufFile(path)); });
  fuzz::refuse_only_with_octet_error([&] {
    const TokenizerConfig config = read_tokenizer_config(path);
    if (const auto format = detect_chat_format(config.chat_template)) {
      default_system_prompt(*format, config.chat_template);
    }
  });
  return 0;
}
