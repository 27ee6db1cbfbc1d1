// A safetensors file: header validation, then every tensor viewed and
// converted to float (which reads each of its bytes), and as a checkpoint's
// weights: sparse-24-bitmask parts decompressed.
#include "engine/io/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  const auto path = fuzz::write_scratch("model.safetensors", {reinterpret_cast<const char*>(data), size});
  fuzz::refuse_only_with_octet_error([&] {
    const SafetensorsFile file(path);
    for (const auto& entry : file.entries()) to_f32(file.tensor(entry.name));
  });
  fuzz::refuse_only_with_octet_error([&] {
    const WeightStore store({path});
    for (const auto& name : store.names()) to_f32(store.get(name));
  });
  return 0;
}
