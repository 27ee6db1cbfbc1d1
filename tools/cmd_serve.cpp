// `octet serve`: the model behind an OpenAI-compatible HTTP API (tools/serve/server.h).
#include "engine/core/error.h"
#include "engine/session/batch_scheduler.h"
#include "engine/session/encoder_session.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "tools/cli_common.h"
#include "tools/commands.h"
#include "tools/serve/server.h"

#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

namespace octet::cli {

int run_serve(int argc, char** argv) {
  cxxopts::Options options(
      "octet serve",
      "Serve a model over HTTP with OpenAI's API: POST /v1/chat/completions, /v1/completions (decoders),\n"
      "  /v1/embeddings, /v1/classify (encoders); GET /v1/models, /health, /metrics (Prometheus).\n"
      "  Overlapping requests share decode steps (continuous batching in --parallel KV-cache slots).\n"
      "  SIGTERM or Ctrl-C: stop taking requests, finish those in flight, exit.\n"
      "  Example: octet serve -m DIR --port 8080 --parallel 8\n"
      "           curl localhost:8080/v1/chat/completions -d "
      "'{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}'");
  add_model_options(options);
  add_sampling_options(options);
  add_chat_template_option(options);
  auto add = options.add_options("Server");
  add("host", "address to listen on (0.0.0.0: every interface)",
      cxxopts::value<std::string>()->default_value("127.0.0.1"));
  add("port", "TCP port (0: any free one, printed)", cxxopts::value<int>()->default_value("8080"));
  add("parallel", "sequences decoded together (KV-cache slots of --ctx tokens each)",
      cxxopts::value<int>()->default_value("4"));
  add("max-queue", "requests that may wait for a slot; more get 503 with Retry-After",
      cxxopts::value<int>()->default_value("64"));
  add("prefill-chunk", "prompt tokens read per step, so running streams keep flowing during a long prompt",
      cxxopts::value<int>()->default_value("256"));
  add("timeout", "seconds a request may run before it is cancelled", cxxopts::value<double>()->default_value("600"));
  add("max-body", "largest request body in bytes", cxxopts::value<std::size_t>()->default_value("1048576"));
  add("http-threads", "connections served at once (0: parallel + max-queue + 8)",
      cxxopts::value<int>()->default_value("0"));
  add("api-key", "require \"Authorization: Bearer KEY\" on /v1/ requests (default: $OCTET_API_KEY, else none)",
      cxxopts::value<std::string>()->default_value(""));
  add("model-id", "the model's name in /v1/models and answers (default: the model directory's name)",
      cxxopts::value<std::string>()->default_value(""));
  add("pooling", "encoders without a classification head: first, mean, pooler or auto (see octet classify)",
      cxxopts::value<std::string>()->default_value("auto"));
  add("encoder-batch", "texts per encoder batch", cxxopts::value<int>()->default_value("32"));
  add("quiet", "no access log on stderr");
  const auto args = parse_or_help(options, argc, argv);

  serve::ServeOptions o;
  o.host = args["host"].as<std::string>();
  o.port = args["port"].as<int>();
  if (o.port < 0 || o.port > 65535) fail("--port must be in 0..65535, got {}", o.port);
  const int parallel = args["parallel"].as<int>(), max_queue = args["max-queue"].as<int>();
  if (parallel < 1) fail("--parallel must be at least 1, got {}", parallel);
  if (max_queue < 0) fail("--max-queue must be >= 0, got {}", max_queue);
  o.timeout_seconds = args["timeout"].as<double>();
  if (!(o.timeout_seconds > 0)) fail("--timeout must be positive, got {}", o.timeout_seconds);
  o.max_body_bytes = args["max-body"].as<std::size_t>();
  const int http_threads = args["http-threads"].as<int>();
  if (http_threads < 0) fail("--http-threads must be >= 0, got {}", http_threads);
  o.http_threads = http_threads > 0 ? http_threads : parallel + max_queue + 8;
  o.api_key = args["api-key"].as<std::string>();
  if (o.api_key.empty()) {
    if (const char* key = std::getenv("OCTET_API_KEY")) o.api_key = key;
  }
  o.encoder_batch = args["encoder-batch"].as<int>();
  if (o.encoder_batch < 1) fail("--encoder-batch must be at least 1, got {}", o.encoder_batch);
  o.quiet = args.count("quiet") > 0;

  // SIGTERM and SIGINT wait for sigwait below: blocked here, before any thread starts, so every thread inherits it.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is a failed write, not the end of the server

  // Listen first, so that /health says "loading" while the model loads.
  const std::string model_path = args["model"].as<std::string>();
  o.model_id = args["model-id"].as<std::string>();
  if (o.model_id.empty()) {
    o.model_id = std::filesystem::path(model_path.empty() ? shipped_model_path(ModelKind::Decoder) : model_path)
                     .filename()
                     .string();
  }
  // Decoder settings need the model directory; they are filled in before attach().
  auto server = std::make_unique<serve::Server>(o);
  const int port = server->bind();
  std::cerr << fmt::format("octet serve: listening on http://{}:{} (loading the model)\n", o.host, port);
  std::thread http([&] { server->run(); });
  const auto stop_http = [&] {
    server->drain(std::chrono::milliseconds(0));
    http.join();
  };

  LoadedModel loaded;
  std::unique_ptr<BatchScheduler> scheduler;
  std::unique_ptr<EncoderSession> encoder;
  try {
    loaded = load_model(args, std::nullopt);
    const TokenizerConfig tokenizer_config = read_tokenizer_config(loaded.path);
    serve::ServedModel served{loaded.model.get(), loaded.tokenizer.get(), nullptr, nullptr};
    if (loaded.model->info().kind == ModelKind::Decoder) {
      int slots = parallel;
      const bool mixed_steps = loaded.backends.main->runs_mixed_steps() &&
                               (!loaded.backends.rest || loaded.backends.rest->runs_mixed_steps());
      if (!mixed_steps && slots > 1 && args.count("parallel") == 0) {
        slots = 1;  // an explicit --parallel N > 1 is refused below, by name
        std::cerr << "this backend decodes one sequence at a time for now: 1 slot (--parallel 1)\n";
      }
      scheduler = std::make_unique<BatchScheduler>(
          *loaded.model, loaded.backends.placement(),
          SchedulerOptions{slots, args["ctx"].as<int>(), max_queue, args["prefill-chunk"].as<int>()});
      served.scheduler = scheduler.get();
      std::cerr << fmt::format("decoder: {} slots of {} tokens, queue of {}\n", slots, scheduler->n_ctx(), max_queue);
    } else {
      encoder = std::make_unique<EncoderSession>(*loaded.model, loaded.backends.placement(), *loaded.tokenizer,
                                                 tokenizer_config);
      served.encoder = encoder.get();
      std::cerr << (loaded.model->info().labels.empty() ? "encoder: /v1/embeddings\n" : "classifier: /v1/classify\n");
    }
    if (scheduler) {
      // The server's request defaults; the options it copied at construction are replaced before it serves.
      o.chat_format = choose_chat_format(args, tokenizer_config);
      o.default_system = default_system_prompt(o.chat_format, tokenizer_config.chat_template);
      o.add_bos = tokenizer_config.add_bos.value_or(loaded.tokenizer->default_add_bos());
      o.sampling = read_sampling_options(args, loaded.path, false);  // requests without a seed draw their own
      o.fixed_seed = args.count("seed") > 0;
    }
    server->attach(served, o);
  } catch (...) {
    stop_http();
    throw;
  }
  release_cpu_threads();  // loading ran on this thread; requests run on others
  std::cerr << fmt::format("ready: http://{}:{}/v1 (SIGTERM or Ctrl-C drains and exits)\n", o.host, port);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::cerr << fmt::format("{}: finishing {} request(s) in flight, taking no new ones\n",
                           signal == SIGTERM ? "SIGTERM" : "SIGINT", server->in_flight());
  server->drain(std::chrono::milliseconds(static_cast<long>(o.timeout_seconds * 1000)));
  http.join();
  std::cerr << "octet serve: stopped\n";
  return 0;
}

}  // namespace octet::cli
