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

void write_json_file(const std::string& path, const Json& j) {
  std::string text;
  try {
    text = j.dump(2);
  } catch (const Json::exception& e) {
    fail("{}: cannot write: {}", path, e.what());  // a string that is not UTF-8
  }
  std::ofstream out(path);
  out << text << "\n";
  if (!out) fail("{}: cannot write", path);
}

}  // namespace octet
