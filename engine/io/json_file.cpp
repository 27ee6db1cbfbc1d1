#include "engine/io/json_file.h"

#include <fstream>

namespace octet {

Json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open", path);
  Json j = Json::parse(in, nullptr, false);
  if (j.is_discarded()) fail("{}: not valid JSON", path);
  return j;
}

}  // namespace octet
