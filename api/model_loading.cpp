#include "api/model_loading.h"

#include "engine/core/error.h"
#include "engine/io/model_registry.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/cpu_backend.h"
#if OCTET_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif
#include "models/registry.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

namespace octet {

namespace {

// share/octet/models of the prefix this code is installed in: beside
// bin/octet, lib/liboctet.so or lib/<multiarch>/liboctet.so.
std::optional<std::filesystem::path> installed_models_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&installed_models_dir), &info) == 0 || info.dli_fname == nullptr) {
    return std::nullopt;
  }
  std::error_code ec;
  const auto object = std::filesystem::canonical(info.dli_fname, ec);
  if (ec) return std::nullopt;
  for (auto dir = object.parent_path(); dir.has_relative_path(); dir = dir.parent_path()) {
    const auto candidate = dir.parent_path() / "share" / "octet" / "models";
    if (std::filesystem::is_directory(candidate, ec)) return candidate;
    if (dir.filename() != "lib" && dir.parent_path().filename() != "lib") break;  // only lib/ and lib/<arch>/ climb
  }
  return std::nullopt;
}

std::filesystem::path shipped_models_dir() {
  if (const char* env = std::getenv("OCTET_ASSETS_DIR"); env != nullptr && *env != '\0') {
    return std::filesystem::path(env) / "models";
  }
  if (auto installed = installed_models_dir()) return *installed;
  return std::filesystem::path(OCTET_SOURCE_ASSETS_DIR) / "models";
}

}  // namespace

std::string shipped_model_path(ModelKind kind) {
  if (kind == ModelKind::Encoder) return (shipped_models_dir() / "sst2-mini").string();
  if (const char* env = std::getenv("OCTET_DEFAULT_MODEL"); env != nullptr && *env != '\0') return env;
  return (shipped_models_dir() / "tinystories-mini").string();
}

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  if (threads < 0) fail("threads must be >= 0, got {}", threads);
  if (name == "cpu") return make_cpu_backend(threads);
  if (name == "cuda") {
#if OCTET_HAVE_CUDA
    return make_cuda_backend(0);
#else
    fail("backend cuda: this octet was built without the CUDA toolkit (install it and rebuild)");
#endif
  }
  fail("backend '{}' is not a backend: use cpu or cuda", name);
}

std::string running_scheme(const Model& model) {
  for (const auto& [name, t] : model.weights()) {
    if (t.quant() != nullptr) return std::string(quant_scheme_name(t.quant()->scheme));
  }
  return "f32";
}

LoadedLibraryModel load_library_model(const ModelOptions& options, ModelKind kind) {
  const std::string path = options.model.empty() ? shipped_model_path(kind) : options.model;
  LoadOptions load;
  const auto scheme = quant_scheme_from_name(options.quant);
  if (!scheme) fail("quant '{}' is not a scheme: use f32, w8, int8 or fp8", options.quant);
  load.quant.scheme = *scheme;
  for (const auto& part : options.keep_float) {
    if (!part.empty()) load.quant.keep_float.push_back(part);
  }
  if (kind == ModelKind::Decoder) {
    if (options.kv_cache == "fp8") {
      load.kv_cache = DType::F8E4M3;
    } else if (options.kv_cache != "f32") {
      fail("kv_cache '{}' is not a KV cache type: use f32 or fp8", options.kv_cache);
    }
  } else {
    const auto pooling = pooling_from_name(options.pooling);
    if (!pooling) fail("pooling '{}' is not one of auto, first, mean, pooler", options.pooling);
    load.pooling = *pooling;
  }
  LoadedLibraryModel loaded;
  loaded.backend = make_backend(options.backend, options.threads);  // before the load: a bad name costs nothing
  loaded.model = models::builtin_registry().load_model(path, load);
  const ModelInfo& info = loaded.model->info();
  if (info.kind != kind) {
    fail("{}: {} is {}", path, info.architecture,
         kind == ModelKind::Decoder ? "an encoder, which does not generate text: use octet::Classifier"
                                    : "a decoder, not an encoder: use octet::Generator");
  }
  loaded.tokenizer = load_tokenizer_for(path, options.tokenizer);
  if (loaded.tokenizer->vocab_size() > info.vocab_size) {
    fail("{}: the tokenizer has {} tokens but the model's vocabulary is {}: wrong tokenizer?", path,
         loaded.tokenizer->vocab_size(), info.vocab_size);
  }
  loaded.summary = {path,       info.architecture, running_scheme(*loaded.model), info.vocab_size, info.context_length,
                    info.labels};
  return loaded;
}

}  // namespace octet
