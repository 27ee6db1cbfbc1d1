// The `octet` Python module: include/octet, bound as it is. The GIL is
// released whenever octet loads or computes, so Python threads run meanwhile
// (and a Generator batches their requests).
#include <octet/octet.h>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

octet::ModelOptions model_options(const std::optional<std::string>& model, const std::string& quant,
                                  const std::string& backend, int threads, const std::optional<std::string>& tokenizer,
                                  const std::vector<std::string>& keep_float) {
  octet::ModelOptions o;
  o.model = model.value_or("");
  o.quant = quant;
  o.backend = backend;
  o.threads = threads;
  o.tokenizer = tokenizer.value_or("");
  o.keep_float = keep_float;
  return o;
}

octet::GenerateOptions generate_options(int max_tokens, std::optional<float> temperature, std::optional<int> top_k,
                                        std::optional<float> top_p, float repeat_penalty,
                                        std::optional<std::uint64_t> seed, std::optional<bool> add_bos, bool special) {
  octet::GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling = {temperature, top_k, top_p, repeat_penalty, seed};
  o.add_bos = add_bos;
  o.special_tokens = special;
  return o;
}

py::dict summary_dict(const octet::ModelSummary& s) {
  return py::dict("path"_a = s.path, "architecture"_a = s.architecture, "quant"_a = s.quant,
                  "vocab_size"_a = s.vocab_size, "context_length"_a = s.context_length, "labels"_a = s.labels);
}

py::dict result_dict(const octet::GenerationResult& r) {
  return py::dict("text"_a = r.text, "stop_reason"_a = r.stop_reason, "prompt_tokens"_a = r.prompt_tokens,
                  "generated_tokens"_a = r.generated_tokens, "prefill_seconds"_a = r.prefill_seconds,
                  "decode_seconds"_a = r.decode_seconds);
}

// The keyword arguments of generate(), stream() and Chat.reply().
#define OCTET_GENERATE_ARGS                                                                        \
  py::arg("max_tokens") = 256, py::arg("temperature") = py::none(), py::arg("top_k") = py::none(), \
  py::arg("top_p") = py::none(), py::arg("repeat_penalty") = 1.0f, py::arg("seed") = py::none(),   \
  py::arg("add_bos") = py::none(), py::arg("special") = false

}  // namespace

PYBIND11_MODULE(octet, m) {
  m.doc() = "octet: run 8-bit transformers (INT8 on the CPU, FP8 on NVIDIA GPUs) from Python";
  m.attr("__version__") = OCTET_VERSION_STRING;
  // octet::Error becomes octet.Error (a RuntimeError); ContextFullError a subclass of it.
  const auto& error = py::register_exception<octet::Error>(m, "Error", PyExc_RuntimeError);
  py::register_exception<octet::ContextFullError>(m, "ContextFullError", error.ptr());

  py::class_<octet::Classifier>(m, "Classifier",
                                "An encoder (BERT, RoBERTa, DistilBERT): classify texts, or embed them. "
                                "model=None is the sst2-mini sentiment classifier that ships with octet.")
      .def(py::init([](const std::optional<std::string>& model, const std::string& quant, const std::string& backend,
                       int threads, const std::string& pooling, const std::optional<std::string>& tokenizer,
                       const std::vector<std::string>& keep_float) {
             octet::ModelOptions o = model_options(model, quant, backend, threads, tokenizer, keep_float);
             o.pooling = pooling;
             return std::make_unique<octet::Classifier>(o);
           }),
           py::arg("model") = py::none(), py::arg("quant") = "f32", py::arg("backend") = "cpu", py::arg("threads") = 0,
           py::arg("pooling") = "auto", py::arg("tokenizer") = py::none(),
           py::arg("keep_float") = std::vector<std::string>{}, py::call_guard<py::gil_scoped_release>())
      .def(
          "classify",
          [](const octet::Classifier& c, const std::vector<std::string>& texts, int batch) -> py::list {
            py::list out;
            if (!c.has_head()) {
              std::vector<std::vector<float>> rows;
              {
                py::gil_scoped_release release;
                rows = c.outputs(texts, batch);
              }
              for (auto& row : rows) out.append(py::cast(row));
              return out;
            }
            std::vector<octet::Classification> results;
            {
              py::gil_scoped_release release;
              results = c.classify(texts, batch);
            }
            for (const auto& r : results) out.append(py::dict("label"_a = r.label, "score"_a = r.score));
            return out;
          },
          py::arg("texts"), py::arg("batch") = 32,
          "One {'label', 'score'} per text, in order (for an encoder without a head: one embedding per text).")
      .def("embed", &octet::Classifier::outputs, py::arg("texts"), py::arg("batch") = 32,
           py::call_guard<py::gil_scoped_release>(),
           "The model's output row per text: the embedding (or, with a head, the class logits).")
      .def_property_readonly("labels", [](const octet::Classifier& c) { return c.summary().labels; })
      .def_property_readonly("summary", [](const octet::Classifier& c) { return summary_dict(c.summary()); });

  py::class_<octet::TextStream>(m, "TextStream", "The pieces of one generation's text, as they are decoded.")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__",
           [](octet::TextStream& s) {
             std::optional<std::string> piece;
             {
               py::gil_scoped_release release;
               piece = s.next();
             }
             if (!piece) throw py::stop_iteration();
             return *piece;
           })
      .def("cancel", &octet::TextStream::cancel)
      .def_property_readonly("result", [](const octet::TextStream& s) { return result_dict(s.result()); });

  py::class_<octet::Generator>(m, "Generator",
                               "A decoder (Llama, Qwen, GPT-2 families): generate text. model=None is the "
                               "tinystories-mini model that ships with octet.")
      .def(py::init([](const std::optional<std::string>& model, const std::string& quant, const std::string& backend,
                       int threads, int context, const std::string& kv_cache, int parallel,
                       const std::optional<std::string>& tokenizer, const std::vector<std::string>& keep_float) {
             octet::ModelOptions o = model_options(model, quant, backend, threads, tokenizer, keep_float);
             o.context = context;
             o.kv_cache = kv_cache;
             o.parallel = parallel;
             return std::make_unique<octet::Generator>(o);
           }),
           py::arg("model") = py::none(), py::arg("quant") = "f32", py::arg("backend") = "cpu", py::arg("threads") = 0,
           py::arg("context") = 0, py::arg("kv_cache") = "f32", py::arg("parallel") = 1,
           py::arg("tokenizer") = py::none(), py::arg("keep_float") = std::vector<std::string>{},
           py::call_guard<py::gil_scoped_release>())
      .def(
          "generate",
          [](const octet::Generator& g, const std::string& prompt, int max_tokens, std::optional<float> temperature,
             std::optional<int> top_k, std::optional<float> top_p, float repeat_penalty,
             std::optional<std::uint64_t> seed, std::optional<bool> add_bos, bool special) {
            return g
                .generate(prompt, generate_options(max_tokens, temperature, top_k, top_p, repeat_penalty, seed, add_bos,
                                                   special))
                .text;
          },
          py::arg("prompt"), OCTET_GENERATE_ARGS, py::call_guard<py::gil_scoped_release>(),
          "The text generated after `prompt` (without it). temperature=0 is greedy; unset options take the "
          "model's generation_config.json.")
      .def(
          "stream",
          [](const octet::Generator& g, const std::string& prompt, int max_tokens, std::optional<float> temperature,
             std::optional<int> top_k, std::optional<float> top_p, float repeat_penalty,
             std::optional<std::uint64_t> seed, std::optional<bool> add_bos, bool special) {
            return g.stream(prompt, generate_options(max_tokens, temperature, top_k, top_p, repeat_penalty, seed,
                                                     add_bos, special));
          },
          py::arg("prompt"), OCTET_GENERATE_ARGS, py::call_guard<py::gil_scoped_release>(), py::keep_alive<0, 1>(),
          "An iterator over the generated text's pieces; .result after the last one.")
      .def(
          "perplexity",
          [](const octet::Generator& g, const std::string& text, int window) {
            octet::PerplexityScore s;
            {
              py::gil_scoped_release release;
              s = g.perplexity(text, window);
            }
            return py::dict("perplexity"_a = s.perplexity, "standard_error"_a = s.standard_error, "tokens"_a = s.tokens,
                            "windows"_a = s.windows);
          },
          py::arg("text"), py::arg("window") = 0)
      .def_property_readonly("summary", [](const octet::Generator& g) { return summary_dict(g.summary()); });

  py::class_<octet::Chat>(m, "Chat", "A conversation with a Generator's chat model.")
      .def(py::init<const octet::Generator&, std::string, std::string>(), py::arg("generator"), py::arg("system") = "",
           py::arg("format") = "", py::keep_alive<1, 2>())
      .def(
          "reply",
          [](octet::Chat& c, const std::string& user, int max_tokens, std::optional<float> temperature,
             std::optional<int> top_k, std::optional<float> top_p, float repeat_penalty,
             std::optional<std::uint64_t> seed, std::optional<bool> add_bos, bool special) {
            return c
                .reply(user,
                       generate_options(max_tokens, temperature, top_k, top_p, repeat_penalty, seed, add_bos, special))
                .text;
          },
          py::arg("user"), OCTET_GENERATE_ARGS, py::call_guard<py::gil_scoped_release>())
      .def("reset", &octet::Chat::reset)
      .def_property_readonly("format", &octet::Chat::format)
      .def_property_readonly("messages", &octet::Chat::messages);
}
