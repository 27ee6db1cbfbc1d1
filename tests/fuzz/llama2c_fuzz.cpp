// A llama2.c checkpoint (.bin): the 7-field header against the file's size,
// then the model built from its weights.
#include "models/registry.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  const auto path = fuzz::write_scratch("model.bin", {reinterpret_cast<const char*>(data), size});
  fuzz::refuse_only_with_octet_error([&] { models::builtin_registry().load_model(path); });
  return 0;
}
