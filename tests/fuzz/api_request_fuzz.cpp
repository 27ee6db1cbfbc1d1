// An HTTP request body as `octet serve` reads it: each endpoint's parser,
// then a chat request's messages through the chat formats into token ids
// (the shipped model's tokenizer). The server answers serve::ApiError (a 400)
// or octet::Error (from the chat format, also a 400); anything else is a finding.
#include "engine/text/chat_format.h"
#include "engine/text/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/serve/api_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  static const auto tokenizer =
      load_tokenizer_for((fuzz::source_dir() / "assets/models/tinystories-mini").string(), "");
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const SamplerOptions defaults;
  const auto refuse_only_with_api_error = [](auto&& parse) {
    try {
      parse();
    } catch (const serve::ApiError& e) {
      if (e.status() != 400) std::abort();  // a parser only ever refuses with 400
      if (e.body().empty()) std::abort();
    }
  };
  refuse_only_with_api_error([&] {
    const serve::ChatCompletionRequest r = serve::parse_chat_completion(body, defaults);
    validate(r.fields.sampling);  // what the parser accepts, the sampler accepts
    for (const ChatFormat format : {ChatFormat::Plain, ChatFormat::ChatML, ChatFormat::Llama3, ChatFormat::Llama2,
                                    ChatFormat::Zephyr}) {
      fuzz::refuse_only_with_octet_error(
          [&] { tokenizer->encode_with_specials(format_conversation(format, r.messages, "system")); });
    }
  });
  refuse_only_with_api_error([&] {
    const serve::CompletionRequest r = serve::parse_completion(body, defaults);
    validate(r.fields.sampling);
    tokenizer->encode(r.prompt);
  });
  refuse_only_with_api_error([&] { serve::parse_embeddings(body); });
  refuse_only_with_api_error([&] { serve::parse_classify(body); });
  return 0;
}
