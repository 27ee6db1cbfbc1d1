#include "tools/serve/api_request.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

namespace octet::serve {

namespace {

using Json = nlohmann::json;
constexpr std::size_t kMaxStops = 4;     // as OpenAI's API
constexpr std::size_t kMaxTexts = 1024;  // texts in one embeddings or classify request

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw ApiError(400, message, param); }

Json parse_object(std::string_view body) {
  Json j = Json::parse(body, nullptr, false);  // invalid UTF-8 in a string is invalid JSON too
  if (j.is_discarded()) bad("", "the request body is not valid JSON");
  if (!j.is_object()) bad("", "the request body must be a JSON object");
  return j;
}

const Json* field(const Json& j, const char* name) {
  const auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

double number(const Json& j, const char* name) {
  if (!j.is_number()) bad(name, fmt::format("'{}' must be a number", name));
  return j.get<double>();
}

std::int64_t integer(const Json& j, const char* name) {
  if (!j.is_number_integer() && !j.is_number_unsigned()) bad(name, fmt::format("'{}' must be an integer", name));
  if (j.is_number_unsigned() && j.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max()) {
    bad(name, fmt::format("'{}' is too large", name));
  }
  return j.get<std::int64_t>();
}

std::string text(const Json& j, const std::string& name) {
  if (!j.is_string()) bad(name, fmt::format("'{}' must be a string", name));
  return j.get<std::string>();
}

// A message's content: a string, or OpenAI's array of parts of which octet reads the text ones.
std::string content_of(const Json& j, const std::string& name) {
  if (j.is_string()) return j.get<std::string>();
  if (!j.is_array()) bad(name, fmt::format("'{}' must be a string or an array of text parts", name));
  std::string out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string part = fmt::format("{}[{}]", name, i);
    if (!j[i].is_object() || j[i].value("type", "") != "text" || !j[i].contains("text")) {
      bad(part, fmt::format("'{}' must be a part of type \"text\" (octet reads text only)", part));
    }
    out += text(j[i]["text"], part + ".text");
  }
  return out;
}

// Fields that would change the answer in ways octet does not implement.
void refuse_unsupported(const Json& j) {
  if (const Json* n = field(j, "n"); n != nullptr && (!n->is_number_integer() || n->get<std::int64_t>() != 1)) {
    bad("n", "'n' must be 1: octet answers with one choice");
  }
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    if (const Json* p = field(j, name); p != nullptr && number(*p, name) != 0.0) {
      bad(name, fmt::format("'{}' is not supported (leave it out or 0)", name));
    }
  }
  if (const Json* p = field(j, "logprobs"); p != nullptr && !(p->is_boolean() && !p->get<bool>())) {
    bad("logprobs", "'logprobs' is not supported");
  }
  for (const char* name : {"tools", "functions", "logit_bias", "response_format", "suffix"}) {
    if (field(j, name) != nullptr) bad(name, fmt::format("'{}' is not supported", name));
  }
}

GenerationFields generation_fields(const Json& j, const SamplerOptions& defaults) {
  refuse_unsupported(j);
  GenerationFields f;
  f.sampling = defaults;
  // max_completion_tokens is the newer name of max_tokens.
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (const Json* v = field(j, name)) {
      const std::int64_t n = integer(*v, name);
      if (n < 1 || n > 1'000'000) bad(name, fmt::format("'{}' must be at least 1, got {}", name, n));
      f.max_tokens = static_cast<int>(n);
    }
  }
  if (const Json* v = field(j, "temperature")) {
    const double t = number(*v, "temperature");
    if (!(t >= 0.0 && t <= 2.0)) bad("temperature", fmt::format("'temperature' must be in [0, 2], got {}", t));
    f.sampling.temperature = static_cast<float>(t);
  }
  if (const Json* v = field(j, "top_p")) {
    const double p = number(*v, "top_p");
    if (!(p > 0.0 && p <= 1.0)) bad("top_p", fmt::format("'top_p' must be in (0, 1], got {}", p));
    f.sampling.top_p = static_cast<float>(p);
  }
  if (const Json* v = field(j, "top_k")) {
    const std::int64_t k = integer(*v, "top_k");
    if (k < 0 || k > std::numeric_limits<int>::max()) bad("top_k", fmt::format("'top_k' must be >= 0, got {}", k));
    f.sampling.top_k = static_cast<int>(k);
  }
  if (const Json* v = field(j, "seed")) {
    if (!v->is_number_integer() && !v->is_number_unsigned()) bad("seed", "'seed' must be an integer");
    f.sampling.seed =
        v->is_number_unsigned() ? v->get<std::uint64_t>() : static_cast<std::uint64_t>(v->get<std::int64_t>());
    f.seeded = true;
  }
  if (const Json* v = field(j, "stop")) {
    if (v->is_string()) {
      f.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > kMaxStops) bad("stop", fmt::format("'stop' holds at most {} strings", kMaxStops));
      for (std::size_t i = 0; i < v->size(); ++i) f.stop.push_back(text((*v)[i], fmt::format("stop[{}]", i)));
    } else {
      bad("stop", "'stop' must be a string or an array of strings");
    }
    for (const std::string& s : f.stop) {
      if (s.empty()) bad("stop", "'stop' strings must not be empty");
    }
  }
  if (const Json* v = field(j, "ignore_eos")) {
    if (!v->is_boolean()) bad("ignore_eos", "'ignore_eos' must be true or false");
    f.ignore_eos = v->get<bool>();
  }
  if (const Json* v = field(j, "stream")) {
    if (!v->is_boolean()) bad("stream", "'stream' must be true or false");
    f.stream = v->get<bool>();
  }
  if (const Json* v = field(j, "stream_options")) {
    if (!v->is_object()) bad("stream_options", "'stream_options' must be an object");
    if (const Json* u = field(*v, "include_usage")) {
      if (!u->is_boolean()) bad("stream_options.include_usage", "'stream_options.include_usage' must be true or false");
      f.include_usage = u->get<bool>();
    }
  }
  return f;
}

std::vector<std::string> texts(const Json& j, const char* name) {
  std::vector<std::string> out;
  if (j.is_string()) {
    out.push_back(j.get<std::string>());
  } else if (j.is_array()) {
    if (j.empty()) bad(name, fmt::format("'{}' holds no texts", name));
    if (j.size() > kMaxTexts)
      bad(name, fmt::format("'{}' holds {} texts, at most {} per request", name, j.size(), kMaxTexts));
    for (std::size_t i = 0; i < j.size(); ++i) out.push_back(text(j[i], fmt::format("{}[{}]", name, i)));
  } else {
    bad(name, fmt::format("'{}' must be a string or an array of strings", name));
  }
  return out;
}

}  // namespace

std::string ApiError::body() const {
  Json error = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) error["param"] = param_;
  return Json{{"error", error}}.dump();
}

ChatCompletionRequest parse_chat_completion(std::string_view body, const SamplerOptions& defaults) {
  const Json j = parse_object(body);
  const Json* messages = field(j, "messages");
  if (messages == nullptr) bad("messages", "'messages' is required");
  if (!messages->is_array() || messages->empty()) bad("messages", "'messages' must be a non-empty array");
  ChatCompletionRequest r;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) bad(at, fmt::format("'{}' must be an object", at));
    const Json* role = field(m, "role");
    if (role == nullptr) bad(at + ".role", fmt::format("'{}.role' is required", at));
    const Json* content = field(m, "content");
    if (content == nullptr) bad(at + ".content", fmt::format("'{}.content' is required", at));
    r.messages.push_back({text(*role, at + ".role"), content_of(*content, at + ".content")});
  }
  r.fields = generation_fields(j, defaults);
  return r;
}

CompletionRequest parse_completion(std::string_view body, const SamplerOptions& defaults) {
  const Json j = parse_object(body);
  const Json* prompt = field(j, "prompt");
  if (prompt == nullptr) bad("prompt", "'prompt' is required");
  CompletionRequest r;
  if (prompt->is_array()) {  // OpenAI allows a batch of prompts; octet answers one
    if (prompt->size() != 1) bad("prompt", "'prompt' must be a string (or an array of exactly one)");
    r.prompt = text((*prompt)[0], "prompt[0]");
  } else {
    r.prompt = text(*prompt, "prompt");
  }
  if (r.prompt.empty()) bad("prompt", "'prompt' is empty");
  r.fields = generation_fields(j, defaults);
  return r;
}

EmbeddingsRequest parse_embeddings(std::string_view body) {
  const Json j = parse_object(body);
  const Json* input = field(j, "input");
  if (input == nullptr) bad("input", "'input' is required");
  if (const Json* format = field(j, "encoding_format"); format != nullptr && *format != "float") {
    bad("encoding_format", "'encoding_format' must be \"float\"");
  }
  return {texts(*input, "input")};
}

ClassifyRequest parse_classify(std::string_view body) {
  const Json j = parse_object(body);
  const Json* input = field(j, "texts");
  if (input == nullptr) input = field(j, "input");
  if (input == nullptr) bad("texts", "'texts' is required");
  ClassifyRequest r{texts(*input, "texts"), 0};
  if (const Json* k = field(j, "top_k")) {
    const std::int64_t n = integer(*k, "top_k");
    if (n < 0 || n > 1'000'000) bad("top_k", fmt::format("'top_k' must be >= 0, got {}", n));
    r.top_k = static_cast<int>(n);
  }
  return r;
}

}  // namespace octet::serve
