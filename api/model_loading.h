// What include/octet's classes and the `octet` binary share to load a model:
// where the models that ship with octet are, backends by name, and the
// options of ModelOptions read into the engine's types.
#pragma once

#include "engine/core/backend.h"
#include "engine/core/model.h"
#include "engine/text/tokenizer.h"
#include "octet/model.h"

#include <memory>
#include <string>

namespace octet {

// The model that ships with octet for `kind`: tinystories-mini (decoders;
// $OCTET_DEFAULT_MODEL overrides it) or the sst2-mini classifier (encoders).
// They are looked up in $OCTET_ASSETS_DIR/models, then in share/octet/models
// of the prefix octet is installed in, then in the source tree it was built from.
std::string shipped_model_path(ModelKind kind);

// "cpu" (with `threads`, 0 = all cores) or "cuda" (GPU 0); throws octet::Error
// naming what is missing when this build or machine cannot run it.
std::unique_ptr<Backend> make_backend(const std::string& name, int threads);

// The scheme the model's matmuls run in: what it was quantized to at load,
// or what a quantized checkpoint stores ("f32" when nothing is quantized).
std::string running_scheme(const Model& model);

// A model with its tokenizer and backend, loaded as `options` say.
struct LoadedLibraryModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Backend> backend;
  ModelSummary summary;
};
// Throws octet::Error for a bad option (naming its ModelOptions field), a
// file that cannot be read, or a model of another kind than `kind`.
LoadedLibraryModel load_library_model(const ModelOptions& options, ModelKind kind);

}  // namespace octet
