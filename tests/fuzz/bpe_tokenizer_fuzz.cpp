// A tokenizer.json with a BPE model: every stage read from it (normalizer,
// pre-tokenizer regexes compiled by PCRE2, merges, added tokens,
// post-processor, decoder), then text through it and back.
#include "engine/text/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  const std::string path =
      fuzz::write_scratch("tokenizer.json", std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::refuse_only_with_octet_error([&] {
    const auto tok = load_tokenizer_for("", path);
    for (const char* text : {"Hello world", "  it's 2024!\n\n\tcaf\xc3\xa9 \xe4\xb8\x80\xf0\x9f\x98\x80", ""}) {
      tok->decode(tok->encode(text));
      tok->decode(tok->encode_with_specials(text));
    }
  });
  return 0;
}
