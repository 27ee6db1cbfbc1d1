// The small files beside a model that say how to tokenize: a tokenizer.json
// (WordPiece), a vocab.txt and a tokenizer_config.json (with its chat
// template, recognised by detect_chat_format). The first byte picks the file.
#include "engine/text/chat_format.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_config.h"
#include "engine/text/wordpiece_tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  fuzz::refuse_only_with_octet_error([&] {
    switch (data[0] % 3) {
      case 0: {
        const auto tok = load_wordpiece_json(fuzz::write_scratch("tokenizer.json", bytes));
        tok->decode(tok->encode("The cats, unable to sleep: caf\xc3\xa9 \xe4\xb8\x80 [SEP]"));
        break;
      }
      case 1: {
        const auto tok = load_wordpiece_vocab(fuzz::write_scratch("vocab.txt", bytes), {});
        tok->decode(tok->encode_with_specials("The cats, unable to sleep: caf\xc3\xa9 \xe4\xb8\x80 [SEP]"));
        break;
      }
      default: {
        fuzz::write_scratch("tokenizer_config.json", bytes);
        detect_chat_format(read_tokenizer_config(fuzz::scratch_dir().string()).chat_template);
      }
    }
  });
  return 0;
}
