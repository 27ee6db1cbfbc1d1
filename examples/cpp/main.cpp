// octet as a library, from C++: the models that ship with octet (or any other).
//
//   octet_example generate PROMPT [MAX_TOKENS]   greedy continuation, streamed to stdout
//   octet_example classify TEXT...               one "label<TAB>score" line per text
#include <octet/octet.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const std::string usage = "usage: octet_example generate PROMPT [MAX_TOKENS] | classify TEXT...\n";
  if (argc < 3) {
    std::cerr << usage;
    return 2;
  }
  const std::string command = argv[1];
  try {
    if (command == "generate") {
      octet::Generator generator;  // tinystories-mini; {.model = "model.gguf", .quant = "int8"} for another
      octet::GenerateOptions options;
      options.max_tokens = argc > 3 ? std::stoi(argv[3]) : 64;
      options.sampling.temperature = 0.0f;  // greedy: the same text every run
      const auto result = generator.generate(argv[2], options, [](std::string_view piece) {
        std::cout << piece << std::flush;
        return true;  // false would stop here
      });
      std::cout << "\n";
      std::cerr << result.generated_tokens << " tokens, stop: " << result.stop_reason << "\n";
      return 0;
    }
    if (command == "classify") {
      octet::Classifier classifier;  // the sst2-mini sentiment classifier
      const std::vector<std::string> texts(argv + 2, argv + argc);
      for (const auto& c : classifier.classify(texts)) std::printf("%s\t%.17g\n", c.label.c_str(), c.score);
      return 0;
    }
  } catch (const octet::Error& e) {
    std::cerr << "octet_example: " << e.what() << "\n";
    return 1;
  }
  std::cerr << usage;
  return 2;
}
