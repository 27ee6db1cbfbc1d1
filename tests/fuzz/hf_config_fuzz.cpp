// A Hugging Face directory's config.json (and with it the model type, the
// family's config reader, the quantization_config and the weight shapes it
// implies) over fixed, real weights. The first byte picks the weights: the
// sharded synthetic llama of tests/data, or the shipped sst2-mini encoder.
// A model that loads then runs a few tokens: a config that passes the checks
// (an odd eps, rope_theta, head count, special id) must not break a kernel.
#include "engine/core/placement.h"
#include "engine/session/encoder_session.h"
#include "engine/session/generation_session.h"
#include "engine/session/sampler.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/fuzz/fuzz_support.h"

#include <filesystem>

namespace {

std::string model_dir(bool encoder) {
  namespace fs = std::filesystem;
  const fs::path source = encoder ? octet::fuzz::source_dir() / "assets/models/sst2-mini"
                                  : octet::fuzz::source_dir() / "tests/data/synthetic-llama";
  const fs::path dir = octet::fuzz::scratch_dir() / (encoder ? "encoder" : "decoder");
  if (!fs::exists(dir)) {
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(source)) {
      if (e.path().filename() != "config.json") fs::create_symlink(e.path(), dir / e.path().filename());
    }
  }
  return dir.string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  if (size == 0) return 0;
  const std::string dir = model_dir(data[0] & 1);
  std::ofstream(dir + "/config.json", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  fuzz::refuse_only_with_octet_error([&] {
    const auto model = models::builtin_registry().load_model(dir);
    static const auto backend = make_cpu_backend(1);
    const Placement placement(*backend);
    if (model->info().kind == ModelKind::Decoder) {
      GenerationSession session(*model, placement, 8);
      Sampler sampler({.temperature = 0}, model->info().vocab_size);
      const std::vector<std::int32_t> prompt{0, 1, 2};
      session.generate(prompt, 3, sampler, [](std::int32_t) { return true; });
    } else {
      const auto tokenizer = load_tokenizer_for(dir, "");
      EncoderSession session(*model, placement, *tokenizer, read_tokenizer_config(dir));
      const FramedText text = session.frame("a fine film", "it was");
      session.run(std::span(&text, 1), 1);
    }
  });
  return 0;
}
