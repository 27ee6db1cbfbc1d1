// `octet serve`: an OpenAI-compatible HTTP server (cpp-httplib, one thread per
// connection) in front of a BatchScheduler (decoders: continuous batching) or
// an EncoderSession (encoders: batched by length, one request at a time).
//
//   POST /v1/chat/completions  POST /v1/completions  (decoders; "stream": true for server-sent events)
//   POST /v1/embeddings        POST /v1/classify     (encoders)
//   GET  /v1/models  GET /health (loading / ready / draining)  GET /metrics (Prometheus)
//
// Replicas keep no state between requests, so several run behind any HTTP
// load balancer (bench/serve/nginx.conf).
#pragma once

#include "engine/core/model.h"
#include "engine/session/batch_scheduler.h"
#include "engine/session/encoder_session.h"
#include "engine/text/chat_format.h"
#include "engine/text/tokenizer.h"
#include "tools/serve/metrics.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace octet::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;              // 0: any free port (bind() says which)
  std::string api_key;          // when set, /v1/ requests need "Authorization: Bearer KEY"
  double timeout_seconds = 600;  // a request still running after this is cancelled
  std::size_t max_body_bytes = 1 << 20;
  int http_threads = 16;  // connections served at once (each streaming request holds one)
  std::string model_id = "octet";
  // Decoders: how chat messages become a prompt.
  ChatFormat chat_format = ChatFormat::Plain;
  std::string default_system;  // the chat template's own system message
  bool add_bos = true;         // the model's BOS before a prompt whose format does not spell it
  SamplerOptions sampling;     // defaults a request's fields override
  bool fixed_seed = false;     // sampling.seed serves requests without "seed" (else each draws its own)
  // Encoders.
  int encoder_batch = 32;
  bool quiet = false;  // no access log on stderr
};

// What the server runs requests on: a decoder (scheduler) or an encoder (session).
struct ServedModel {
  const Model* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  BatchScheduler* scheduler = nullptr;
  EncoderSession* encoder = nullptr;
};

struct Generation;  // a checked chat or completion request (server.cpp)
class AnswerReader;

class Server {
 public:
  explicit Server(ServeOptions options);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and returns the port; throws octet::Error when it cannot.
  int bind();
  // Serves until stop(); /health answers "loading" (503) until attach().
  void run();
  // The model is ready: requests are served from now on, with `defaults`'
  // request settings (chat format, system message, BOS, sampling, seed).
  void attach(ServedModel served, const ServeOptions& defaults);
  // Stops taking requests (new ones get 503), waits up to `grace` for those in
  // flight to finish, then makes run() return.
  void drain(std::chrono::milliseconds grace);
  int in_flight() const { return in_flight_.load(); }

 private:
  void route();
  // The checks every /v1/ request passes first (the key, the model loaded, not draining); false: answered.
  bool admit(const httplib::Request& req, httplib::Response& res);
  // admit(), then `handle`; an ApiError it throws is answered as OpenAI's error object.
  void serve_v1(const httplib::Request& req, httplib::Response& res,
                const std::function<void(std::chrono::steady_clock::time_point arrived)>& handle);
  void require_decoder() const;  // throws ApiError (400) on an encoder
  void reply_list(httplib::Response& res, nlohmann::ordered_json data, std::int64_t tokens,
                  std::chrono::steady_clock::time_point arrived);
  void chat_completions(const httplib::Request& req, httplib::Response& res);
  void completions(const httplib::Request& req, httplib::Response& res);
  // Submits a checked chat or completion request and answers it, whole or streamed.
  void respond_generation(const httplib::Request& req, httplib::Response& res, Generation generation,
                          std::chrono::steady_clock::time_point arrived);
  void record_generation(const AnswerReader& reader, std::chrono::steady_clock::time_point arrived);
  void embeddings(const httplib::Request& req, httplib::Response& res);
  void classify(const httplib::Request& req, httplib::Response& res);
  void models(httplib::Response& res) const;
  void health(httplib::Response& res) const;

  ServeOptions options_;
  httplib::Server http_;
  ServedModel served_;
  std::atomic<bool> ready_{false}, draining_{false};
  std::atomic<int> in_flight_{0};  // generation and encoder requests, streams until their last byte
  std::atomic<std::uint64_t> next_id_{1};
  std::mutex encoder_mutex_;  // one encoder batch at a time
  Metrics metrics_;
};

}  // namespace octet::serve
