// Texts to classify: lines, TSV, CSV or JSON lines. The first byte picks the
// format and which columns are asked for; the rest is the file.
#include "engine/text/text_records.h"
#include "tests/fuzz/fuzz_support.h"

#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace octet;
  if (size == 0) return 0;
  const auto format = static_cast<RecordFormat>(data[0] % 4);
  RecordColumns columns;
  if (data[0] & 4) columns.text_pair = "sentence2";
  if (data[0] & 8) columns.label = "gold";
  if (data[0] & 16) columns.text = "sentence";
  std::istringstream in(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  fuzz::refuse_only_with_octet_error([&] { read_text_records(in, format, columns, "input"); });
  return 0;
}
