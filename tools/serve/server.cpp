#include "tools/serve/server.h"

#include "engine/core/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tools/classification_json.h"
#include "tools/serve/answer_reader.h"
#include "tools/serve/api_request.h"
#include "tools/serve/peer_watch.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <functional>
#include <iostream>
#include <random>
#include <thread>

namespace octet::serve {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void reply_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void reply_error(httplib::Response& res, const ApiError& e) {
  if (e.status() == 503) res.set_header("Retry-After", "1");
  reply_json(res, e.status(), e.body());
}

// The endpoint label of a path for /metrics: known paths only, so that
// requests for arbitrary paths cannot grow the label set without bound.
std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/classify", "/v1/models",
                            "/health", "/metrics"}) {
    if (path == known) return known;
  }
  return "other";
}

// Counts a request in flight from admission to its last byte (a stream's
// last chunk is written after the handler returns).
class InFlight {
 public:
  explicit InFlight(std::atomic<int>& n) : n_(&n) { ++*n_; }
  ~InFlight() {
    if (n_ != nullptr) --*n_;
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::atomic<int>* n_;
};

}  // namespace

enum class Api { Chat, Completion };

// What a generation request becomes once it is checked.
struct Generation {
  Api api;
  std::vector<std::int32_t> prompt;
  GenerationFields fields;
};

Server::Server(ServeOptions options) : options_(std::move(options)) {
  const int threads = std::max(options_.http_threads, 2);
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  http_.set_payload_max_length(options_.max_body_bytes);
  http_.set_keep_alive_timeout(5);
  route();
}

int Server::bind() {
  const int port = options_.port == 0 ? http_.bind_to_any_port(options_.host)
                                      : (http_.bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port <= 0)
    fail("cannot listen on {}:{} (in use, or not an address of this machine)", options_.host, options_.port);
  deepen_listen_backlog(port);
  return port;
}

void Server::run() { http_.listen_after_bind(); }

void Server::attach(ServedModel served, const ServeOptions& defaults) {
  // Handlers read these only after they see ready_ (and the listening options are never written again).
  served_ = served;
  options_.chat_format = defaults.chat_format;
  options_.default_system = defaults.default_system;
  options_.add_bos = defaults.add_bos;
  options_.sampling = defaults.sampling;
  options_.fixed_seed = defaults.fixed_seed;
  ready_ = true;
}

void Server::drain(std::chrono::milliseconds grace) {
  draining_ = true;
  const auto until = Clock::now() + grace;
  while (in_flight_.load() > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  http_.stop();
}

void Server::route() {
  http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    reply_error(res, ApiError(500, what, "", "server_error"));
  });
  // httplib's own refusals (unknown path, a body over the limit) as JSON too.
  http_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string message = res.status == 404   ? fmt::format("no endpoint {} {}", req.method, req.path)
                                : res.status == 413 ? "the request body is larger than the server accepts (--max-body)"
                                                    : fmt::format("HTTP {}", res.status);
    reply_error(res, ApiError(res.status, message));
  });
  http_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics_.count_request(endpoint_label(req.path), res.status);
    if (!options_.quiet) std::cerr << fmt::format("{} {} {}\n", req.method, req.path, res.status);
  });
  http_.Post("/v1/chat/completions",
             [this](const httplib::Request& req, httplib::Response& res) { chat_completions(req, res); });
  http_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { completions(req, res); });
  http_.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) { embeddings(req, res); });
  http_.Post("/v1/classify", [this](const httplib::Request& req, httplib::Response& res) { classify(req, res); });
  http_.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (admit(req, res)) models(res);
  });
  http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) { health(res); });
  http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    Gauges g;
    if (ready_ && served_.scheduler != nullptr) {
      g = {served_.scheduler->queued(), served_.scheduler->active(), served_.scheduler->parallel()};
    }
    res.set_content(metrics_.render(g), "text/plain; version=0.0.4");
  });
}

bool Server::admit(const httplib::Request& req, httplib::Response& res) {
  if (!options_.api_key.empty() && req.get_header_value("Authorization") != "Bearer " + options_.api_key) {
    reply_error(res, ApiError(401, "a valid API key is required: send \"Authorization: Bearer KEY\"", "",
                              "authentication_error"));
    return false;
  }
  if (draining_) {
    reply_error(res, ApiError(503, "the server is shutting down", "", "server_error"));
    return false;
  }
  if (!ready_) {
    reply_error(res, ApiError(503, "the model is still loading", "", "server_error"));
    return false;
  }
  return true;
}

void Server::models(httplib::Response& res) const {
  const Json model = {{"id", options_.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "octet"}};
  reply_json(res, 200, Json{{"object", "list"}, {"data", Json::array({model})}}.dump());
}

void Server::health(httplib::Response& res) const {
  const char* status = draining_ ? "draining" : ready_ ? "ok" : "loading";
  reply_json(res, ready_ && !draining_ ? 200 : 503, Json{{"status", status}}.dump());
}

namespace {

// The answer objects of both generation APIs, whole or as stream chunks.
struct AnswerFormat {
  Api api;
  std::string id, model;
  std::int64_t created;

  Json choice(const std::string& text, const Json& finish, bool chunk, bool first) const {
    Json c = {{"index", 0}};
    if (api == Api::Completion) {
      c["text"] = text;
      c["logprobs"] = nullptr;
    } else if (chunk) {
      c["delta"] = Json::object();
      if (first) c["delta"]["role"] = "assistant";
      if (!text.empty() || first) c["delta"]["content"] = text;
    } else {
      c["message"] = {{"role", "assistant"}, {"content", text}};
    }
    c["finish_reason"] = finish;
    return c;
  }
  Json envelope(bool chunk) const {
    const char* object = api == Api::Completion ? "text_completion"
                         : chunk                ? "chat.completion.chunk"
                                                : "chat.completion";
    return {{"id", id}, {"object", object}, {"created", created}, {"model", model}};
  }
  static Json usage(const GenerationStats& s) {
    return {{"prompt_tokens", s.prompt_tokens},
            {"completion_tokens", s.generated_tokens},
            {"total_tokens", s.prompt_tokens + s.generated_tokens}};
  }
};

}  // namespace

void Server::serve_v1(const httplib::Request& req, httplib::Response& res,
                      const std::function<void(Clock::time_point)>& handle) {
  if (!admit(req, res)) return;
  const auto arrived = Clock::now();
  try {
    handle(arrived);
  } catch (const ApiError& e) {
    reply_error(res, e);
  }
}

void Server::require_decoder() const {
  if (served_.scheduler == nullptr) throw ApiError(400, "this model is an encoder: use /v1/embeddings or /v1/classify");
}

void Server::chat_completions(const httplib::Request& req, httplib::Response& res) {
  serve_v1(req, res, [&](Clock::time_point arrived) {
    require_decoder();
    ChatCompletionRequest r = parse_chat_completion(req.body, options_.sampling);
    Generation g{Api::Chat, {}, std::move(r.fields)};
    try {
      const std::string text = format_conversation(options_.chat_format, r.messages, options_.default_system);
      if (!chat_format_spells_bos(options_.chat_format) && options_.add_bos && served_.model->info().bos_id >= 0) {
        g.prompt.push_back(served_.model->info().bos_id);
      }
      const auto ids = served_.tokenizer->encode_with_specials(text);
      g.prompt.insert(g.prompt.end(), ids.begin(), ids.end());
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "messages");
    }
    respond_generation(req, res, std::move(g), arrived);
  });
}

void Server::completions(const httplib::Request& req, httplib::Response& res) {
  serve_v1(req, res, [&](Clock::time_point arrived) {
    require_decoder();
    CompletionRequest r = parse_completion(req.body, options_.sampling);
    Generation g{Api::Completion, {}, std::move(r.fields)};
    if (options_.add_bos && served_.model->info().bos_id >= 0) g.prompt.push_back(served_.model->info().bos_id);
    try {
      const auto ids = served_.tokenizer->encode(r.prompt);
      g.prompt.insert(g.prompt.end(), ids.begin(), ids.end());
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "prompt");
    }
    respond_generation(req, res, std::move(g), arrived);
  });
}

void Server::respond_generation(const httplib::Request& req, httplib::Response& res, Generation g,
                                Clock::time_point arrived) {
  BatchScheduler& scheduler = *served_.scheduler;
  const char* prompt_field = g.api == Api::Chat ? "messages" : "prompt";
  const int room = scheduler.n_ctx() - static_cast<int>(g.prompt.size());
  if (room < 1) {
    throw ApiError(400,
                   fmt::format("the prompt is {} tokens; the context holds {} (--ctx), with room for at least one more",
                               g.prompt.size(), scheduler.n_ctx()),
                   prompt_field);
  }
  const int max_tokens = std::min(g.fields.max_tokens.value_or(room), room);  // capped by the context
  if (!g.fields.seeded && !options_.fixed_seed) g.fields.sampling.seed = std::random_device{}();
  std::shared_ptr<RequestStream> stream;
  try {
    stream = scheduler.submit({std::move(g.prompt), max_tokens, g.fields.sampling, g.fields.ignore_eos});
  } catch (const QueueFullError& e) {
    throw ApiError(503, fmt::format("the server is busy ({}); retry later", e.what()), "", "server_error");
  } catch (const Error& e) {
    throw ApiError(400, e.what(), prompt_field);
  }
  const auto deadline =
      arrived + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_seconds));
  const AnswerFormat format{g.api, fmt::format("{}-{}", g.api == Api::Chat ? "chatcmpl" : "cmpl", next_id_++),
                            options_.model_id, static_cast<std::int64_t>(std::time(nullptr))};
  const std::string timeout_message =
      fmt::format("the request ran past the server's --timeout of {} s", options_.timeout_seconds);
  if (!g.fields.stream) {
    InFlight counted(in_flight_);
    AnswerReader reader(stream, *served_.tokenizer, g.fields.stop, deadline);
    PeerWatch peer(req);
    std::string text, piece;
    const auto gone = [&] { return peer.closed(); };
    while (reader.next(piece, gone)) text += piece;
    text += piece;
    record_generation(reader, arrived);
    if (!reader.error().empty()) throw ApiError(500, reader.error(), "", "server_error");
    if (reader.timed_out()) throw ApiError(504, timeout_message, "", "timeout");
    if (reader.client_left()) {
      res.status = 499;  // nginx's "client closed request": nobody reads this answer
      return;
    }
    Json body = format.envelope(false);
    body["choices"] = Json::array({format.choice(text, reader.finish_reason(), false, false)});
    body["usage"] = AnswerFormat::usage(reader.stats());
    reply_json(res, 200, body.dump());
    return;
  }

  auto counted = std::make_shared<InFlight>(in_flight_);
  auto reader = std::make_shared<AnswerReader>(stream, *served_.tokenizer, g.fields.stop, deadline);
  auto peer = std::make_shared<PeerWatch>(req);
  const bool include_usage = g.fields.include_usage;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, reader, peer, format, include_usage, arrived, timeout_message](std::size_t, httplib::DataSink& sink) {
        bool open = true;
        const auto send = [&](const Json& j) {
          const std::string event = "data: " + j.dump() + "\n\n";
          open = open && sink.write(event.data(), event.size());
        };
        const auto chunk = [&](const std::string& text, const Json& finish, bool first) {
          Json c = format.envelope(true);
          c["choices"] = Json::array({format.choice(text, finish, true, first)});
          send(c);
        };
        if (format.api == Api::Chat) chunk("", nullptr, true);  // the role comes first
        std::string piece;
        const auto gone = [&] { return !open || peer->closed(); };
        while (reader->next(piece, gone)) {
          if (!piece.empty()) chunk(piece, nullptr, false);
        }
        record_generation(*reader, arrived);
        if (!open || reader->client_left()) return false;  // the connection is gone
        if (!piece.empty()) chunk(piece, nullptr, false);
        if (!reader->error().empty() || reader->timed_out()) {
          const ApiError e = reader->timed_out() ? ApiError(504, timeout_message, "", "timeout")
                                                 : ApiError(500, reader->error(), "", "server_error");
          const std::string event = "data: " + e.body() + "\n\n";
          open = open && sink.write(event.data(), event.size());
        } else {
          chunk("", reader->finish_reason(), false);
        }
        if (include_usage) {
          Json c = format.envelope(true);
          c["choices"] = Json::array();
          c["usage"] = AnswerFormat::usage(reader->stats());
          send(c);
        }
        const std::string done = "data: [DONE]\n\n";
        if (open) sink.write(done.data(), done.size());
        sink.done();
        return true;
      },
      [counted](bool) {});  // the request stops counting as in flight when httplib is done with it
}

void Server::record_generation(const AnswerReader& reader, Clock::time_point arrived) {
  const GenerationStats& s = reader.stats();
  metrics_.add_tokens(s.prompt_tokens, s.generated_tokens);
  if (reader.first_token_at() != Clock::time_point{}) {
    metrics_.observe_time_to_first_token(std::chrono::duration<double>(reader.first_token_at() - arrived).count());
    if (s.generated_tokens > 1) {
      metrics_.observe_time_per_output_token(
          std::chrono::duration<double>(reader.last_token_at() - reader.first_token_at()).count() /
          (s.generated_tokens - 1));
    }
  }
  metrics_.observe_request_latency(seconds_since(arrived));
}

namespace {

// Each text framed and run, one row per text (an encoder runs one request's batches at a time).
std::pair<std::vector<std::vector<float>>, std::int64_t> run_encoder(EncoderSession& session, std::mutex& mutex,
                                                                     const std::vector<std::string>& texts,
                                                                     const char* field, int batch) {
  std::vector<FramedText> framed;
  std::int64_t tokens = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    try {
      framed.push_back(session.frame(texts[i]));
    } catch (const Error& e) {
      throw ApiError(400, fmt::format("{}[{}]: {}", field, i, e.what()), fmt::format("{}[{}]", field, i));
    }
    tokens += static_cast<std::int64_t>(framed.back().ids.size());
  }
  std::vector<std::vector<float>> rows;
  {
    std::lock_guard lock(mutex);
    rows = session.run(framed, batch);
    release_cpu_threads();  // one HTTP thread's workers at a time, never one pool per thread
  }
  for (const auto& row : rows) {
    for (const float v : row) {
      if (!std::isfinite(v)) throw ApiError(500, "the model's output is not a finite number", "", "server_error");
    }
  }
  return {std::move(rows), tokens};
}

}  // namespace

// {"object": "list", "data": [...], "model", "usage"}: the answer of both encoder endpoints.
void Server::reply_list(httplib::Response& res, nlohmann::ordered_json data, std::int64_t tokens,
                        Clock::time_point arrived) {
  const Json body = {{"object", "list"},
                     {"data", std::move(data)},
                     {"model", options_.model_id},
                     {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
  metrics_.add_tokens(tokens, 0);
  metrics_.observe_request_latency(seconds_since(arrived));
  reply_json(res, 200, body.dump());
}

void Server::embeddings(const httplib::Request& req, httplib::Response& res) {
  serve_v1(req, res, [&](Clock::time_point arrived) {
    if (served_.encoder == nullptr) {
      throw ApiError(400, "this model is a decoder: /v1/embeddings needs an encoder (a BERT-style model)");
    }
    if (!served_.model->info().labels.empty()) throw ApiError(400, "this model is a classifier: use /v1/classify");
    const EmbeddingsRequest r = parse_embeddings(req.body);
    InFlight counted(in_flight_);
    const auto [rows, tokens] = run_encoder(*served_.encoder, encoder_mutex_, r.input, "input", options_.encoder_batch);
    Json data = Json::array();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", rows[i]}});
    }
    reply_list(res, std::move(data), tokens, arrived);
  });
}

void Server::classify(const httplib::Request& req, httplib::Response& res) {
  serve_v1(req, res, [&](Clock::time_point arrived) {
    if (served_.encoder == nullptr) {
      throw ApiError(400, "this model is a decoder: /v1/classify needs an encoder with a classification head");
    }
    const auto& labels = served_.model->info().labels;
    if (labels.empty()) throw ApiError(400, "this model gives embeddings, not classes: use /v1/embeddings");
    const ClassifyRequest r = parse_classify(req.body);
    InFlight counted(in_flight_);
    const auto [rows, tokens] = run_encoder(*served_.encoder, encoder_mutex_, r.texts, "texts", options_.encoder_batch);
    Json data = Json::array();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      Json o = {{"index", i}};
      o.update(classification_json(rows[i], labels, r.top_k));
      data.push_back(o);
    }
    reply_list(res, std::move(data), tokens, arrived);
  });
}

}  // namespace octet::serve
