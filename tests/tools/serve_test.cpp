// `octet serve` over real HTTP on a loopback port: the server runs in this
// process (so the sanitizers see it), clients are cpp-httplib's client and
// raw sockets (for malformed requests and clients that hang up).
#include "engine/session/batch_scheduler.h"
#include "engine/session/encoder_session.h"
#include "engine/session/generation_session.h"
#include "engine/text/tokenizer_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/registry.h"
#include "tests/test_support.h"
#include "tools/classification_json.h"
#include "tools/serve/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <future>
#include <thread>

namespace octet::serve {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A model behind a running server, torn down in order.
class RunningServer {
 public:
  RunningServer(const std::string& model_path, ServeOptions options, SchedulerOptions scheduler_options = {}) {
    model_ = models::builtin_registry().load_model(model_path);
    tokenizer_ = load_tokenizer_for(model_path, "");
    backend_ = make_cpu_backend(0);
    options.port = 0;
    options.quiet = true;
    server_ = std::make_unique<Server>(options);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
    ServedModel served{model_.get(), tokenizer_.get(), nullptr, nullptr};
    if (model_->info().kind == ModelKind::Decoder) {
      scheduler_ = std::make_unique<BatchScheduler>(*model_, *backend_, scheduler_options);
      served.scheduler = scheduler_.get();
    } else {
      encoder_ = std::make_unique<EncoderSession>(*model_, *backend_, *tokenizer_, read_tokenizer_config(model_path));
      served.encoder = encoder_.get();
    }
    server_->attach(served, options);
  }
  ~RunningServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_->drain(std::chrono::milliseconds(0));
    thread_.join();
  }
  int port() const { return port_; }
  Server& server() { return *server_; }
  BatchScheduler& scheduler() { return *scheduler_; }
  EncoderSession& encoder() { return *encoder_; }
  const Model& model() const { return *model_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120);
    return c;
  }

 private:
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::unique_ptr<EncoderSession> encoder_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// A plain TCP connection, for what an HTTP client library will not send.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "cannot connect";
    timeval tv{30, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawConnection() { close(); }
  void send(const std::string& bytes) const {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Reads until `until` appears in what was read, or the peer closes.
  std::string read_until(const std::string& until) {
    char buf[4096];
    while (received_.find(until) == std::string::npos) {
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      received_.append(buf, static_cast<std::size_t>(n));
    }
    return received_;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  std::string received_;
};

std::string post_request(const std::string& path, const std::string& body) {
  return "POST " + path +
         " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

Json chat_body(const std::string& user, int max_tokens, bool stream = false) {
  return {{"messages", {{{"role", "user"}, {"content", user}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"stream", stream}};
}

// The content of a non-streamed chat answer (fails the test on anything but 200).
std::string chat_content(const httplib::Client& c_in, const Json& body) {
  httplib::Client& c = const_cast<httplib::Client&>(c_in);
  const auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  if (!res || res->status != 200) {
    ADD_FAILURE() << "chat: "
                  << (res ? std::to_string(res->status) + " " + res->body
                          : "no response " + httplib::to_string(res.error()));
    return "";
  }
  return Json::parse(res->body)["choices"][0]["message"]["content"].get<std::string>();
}

// The JSON objects of a server-sent event stream, and whether it ended with [DONE].
std::pair<std::vector<Json>, bool> events_of(const std::string& body) {
  std::vector<Json> events;
  bool done = false;
  std::size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const std::size_t end = body.find("\n\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    if (data == "[DONE]") {
      done = true;
    } else {
      events.push_back(Json::parse(data));
    }
    at = end;
  }
  return {events, done};
}

TEST(Serve, EveryEndpointAnswers) {
  RunningServer s(test::shipped_model(), {});
  auto c = s.client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Json::parse(health->body)["status"], "ok");
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(Json::parse(models->body)["data"][0]["object"], "model");

  // The chat answer is what GenerationSession generates greedily for the same prompt (plain format: the text as is,
  // after BOS).
  const std::string answer = chat_content(c, chat_body("Once upon a time", 24));
  {
    auto backend = make_cpu_backend(0);
    GenerationSession session(s.model(), *backend, 256);
    Sampler greedy({.temperature = 0.0f}, s.model().info().vocab_size);
    auto tokenizer = load_tokenizer_for(test::shipped_model(), "");
    std::vector<std::int32_t> prompt{s.model().info().bos_id};
    for (auto id : tokenizer->encode("Once upon a time")) prompt.push_back(id);
    std::vector<std::int32_t> out;
    session.generate(prompt, 24, greedy, [&](std::int32_t id) {
      out.push_back(id);
      return true;
    });
    StreamDecoder decoder(*tokenizer, false);
    std::string want;
    for (auto id : out) want += decoder.push(id);
    want += decoder.flush();
    EXPECT_EQ(answer, want);
  }

  const auto completion =
      c.Post("/v1/completions", Json{{"prompt", "Once upon a time"}, {"max_tokens", 24}, {"temperature", 0}}.dump(),
             "application/json");
  ASSERT_TRUE(completion);
  ASSERT_EQ(completion->status, 200) << completion->body;
  const Json cj = Json::parse(completion->body);
  EXPECT_EQ(cj["object"], "text_completion");
  EXPECT_EQ(cj["choices"][0]["text"], answer) << "a plain-format chat is a completion of the user's text";
  EXPECT_EQ(cj["usage"]["completion_tokens"], 24);
  EXPECT_EQ(cj["choices"][0]["finish_reason"], "length");

  const auto embeddings = c.Post("/v1/embeddings", R"({"input":"x"})", "application/json");
  ASSERT_TRUE(embeddings);
  EXPECT_EQ(embeddings->status, 400) << "a decoder has no embeddings endpoint";
  const auto missing = c.Get("/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_CONTAINS(missing->body, "no endpoint GET /v1/nothing");

  const auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_CONTAINS(metrics->body, "octet_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1");
  EXPECT_CONTAINS(metrics->body, "octet_generated_tokens_total 48");
  EXPECT_CONTAINS(metrics->body, "octet_time_to_first_token_seconds_count 2");
  EXPECT_CONTAINS(metrics->body, "octet_sequence_slots 4");
}

TEST(Serve, StreamingSendsTheSameAnswerInPieces) {
  RunningServer s(test::shipped_model(), {});
  auto c = s.client();
  const std::string whole = chat_content(c, chat_body("The little dog", 30));
  Json body = chat_body("The little dog", 30, true);
  body["stream_options"] = {{"include_usage", true}};
  const auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_CONTAINS(res->get_header_value("Content-Type"), "text/event-stream");
  const auto [events, done] = events_of(res->body);
  EXPECT_TRUE(done) << "the stream ends with data: [DONE]";
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  std::string finish;
  for (const Json& e : events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e["choices"].empty()) continue;
    const Json& choice = e["choices"][0];
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  EXPECT_EQ(text, whole);
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(events.back()["usage"]["completion_tokens"], 30) << "the usage chunk comes last";
}

TEST(Serve, StopStringsEndTheAnswerBeforeThem) {
  RunningServer s(test::shipped_model(), {});
  auto c = s.client();
  const std::string whole = chat_content(c, chat_body("Once upon a time", 40));
  const std::size_t cut = whole.find(" girl");
  ASSERT_NE(cut, std::string::npos) << whole;
  for (const bool stream : {false, true}) {
    Json body = chat_body("Once upon a time", 40, stream);
    body["stop"] = {" girl", "zzz"};
    const auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
    ASSERT_TRUE(res);
    std::string text, finish;
    if (stream) {
      for (const Json& e : events_of(res->body).first) {
        if (e["choices"][0]["delta"].contains("content"))
          text += e["choices"][0]["delta"]["content"].get<std::string>();
        if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
      }
    } else {
      const Json j = Json::parse(res->body);
      text = j["choices"][0]["message"]["content"];
      finish = j["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(text, whole.substr(0, cut)) << (stream ? "streamed" : "whole");
    EXPECT_EQ(finish, "stop");
  }
}

// A burst of connections finds room in the accept queue before the server
// accepts any: Debian's cpp-httplib listens with a backlog of 5, with which
// connection 7 and later waited for a SYN retry (1 s) and now and then got a
// reset instead of an answer (Serve.ConcurrentChatsEqualEachRunAlone, 1 run
// in 8 on a Sapphire Rapids host).
TEST(Serve, ABurstOfConnectionsIsQueuedNotDropped) {
  ServeOptions options;
  options.port = 0;
  options.quiet = true;
  Server server(options);
  const int port = server.bind();  // listening, not yet accepting: nothing leaves the queue
  constexpr int kBurst = 32;
  std::vector<int> sockets;
  int connected = 0;
  for (int i = 0; i < kBurst; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    sockets.push_back(fd);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
      ++connected;
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t len = sizeof error;
    if (poll(&p, 1, 200) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0) ++connected;
  }
  for (const int fd : sockets) close(fd);
  EXPECT_EQ(connected, kBurst) << "connections completed within 200 ms each before the first accept";
}

// 16 overlapping greedy chats (4 slots, so some wait in the queue) each get
// the answer the same request gets alone.
TEST(Serve, ConcurrentChatsEqualEachRunAlone) {
  RunningServer s(test::shipped_model(), {}, {.parallel = 4, .n_ctx = 256, .max_queue = 16});
  auto c = s.client();
  std::vector<Json> bodies;
  const char* starts[] = {"Once upon a time", "The cat",      "Tom had a ball", "One day",
                          "The sun was hot",  "Lily and Ben", "A big tree",     "Mom said"};
  for (int r = 0; r < 16; ++r) bodies.push_back(chat_body(starts[r % 8], 12 + 5 * r, r % 3 == 0));
  const auto answer = [&](const Json& body) {
    auto client = s.client();
    if (!body["stream"].get<bool>()) return chat_content(client, body);
    const auto res = client.Post("/v1/chat/completions", body.dump(), "application/json");
    std::string text;
    if (!res) {
      ADD_FAILURE() << "stream: " << httplib::to_string(res.error());
      return text;
    }
    for (const Json& e : events_of(res->body).first) {
      if (e["choices"][0]["delta"].contains("content")) text += e["choices"][0]["delta"]["content"].get<std::string>();
    }
    return text;
  };
  std::vector<std::string> alone;
  for (const Json& body : bodies) alone.push_back(answer(body));
  std::vector<std::future<std::string>> together;
  for (const Json& body : bodies) together.push_back(std::async(std::launch::async, answer, body));
  for (std::size_t r = 0; r < bodies.size(); ++r) EXPECT_EQ(together[r].get(), alone[r]) << "request " << r;
}

// A client that hangs up mid-answer frees its slot for the next request.
TEST(Serve, ADisconnectFreesTheSlot) {
  RunningServer s(test::shipped_model(), {}, {.parallel = 1, .n_ctx = 256, .max_queue = 4});
  for (const bool stream : {true, false}) {
    {
      RawConnection raw(s.port());
      raw.send(post_request("/v1/chat/completions", chat_body("Once upon a time", 240, stream).dump()));
      const auto until = Clock::now() + std::chrono::seconds(30);
      while (s.scheduler().active() == 0 && Clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ASSERT_EQ(s.scheduler().active(), 1);
    }  // hangs up
    EXPECT_TRUE(s.scheduler().wait_idle(Clock::now() + std::chrono::seconds(10)))
        << (stream ? "streamed" : "whole") << ": the slot is freed";
    auto c = s.client();
    EXPECT_FALSE(chat_content(c, chat_body("The cat", 5)).empty());
  }
}

TEST(Serve, AFullQueueAnswers503WithRetryAfter) {
  RunningServer s(test::shipped_model(), {}, {.parallel = 1, .n_ctx = 256, .max_queue = 0});
  RawConnection raw(s.port());
  raw.send(post_request("/v1/chat/completions", chat_body("Once upon a time", 240, true).dump()));
  raw.read_until("data: ");  // the long request holds the only slot
  auto c = s.client();
  const auto res = c.Post("/v1/chat/completions", chat_body("The cat", 5).dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  EXPECT_CONTAINS(res->body, "busy");
}

TEST(Serve, TheApiKeyIsRequiredWhenSet) {
  ServeOptions o;
  o.api_key = "sesame";
  RunningServer s(test::shipped_model(), o);
  auto c = s.client();
  const auto refused = c.Post("/v1/chat/completions", chat_body("Hi", 2).dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_CONTAINS(refused->body, "authentication_error");
  c.set_bearer_token_auth("wrong");
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  c.set_bearer_token_auth("sesame");
  EXPECT_EQ(c.Get("/v1/models")->status, 200);
  EXPECT_EQ(c.Post("/v1/chat/completions", chat_body("Hi", 2).dump(), "application/json")->status, 200);
  httplib::Client open = s.client();
  EXPECT_EQ(open.Get("/health")->status, 200) << "health checks need no key";
}

TEST(Serve, BadFieldsAre400sNamingTheField) {
  ServeOptions o;
  o.max_body_bytes = 4096;
  RunningServer s(test::shipped_model(), o);
  auto c = s.client();
  const auto error = [&](const std::string& path, const std::string& body) {
    const auto res = c.Post(path, body, "application/json");
    if (!res) return Json{{"status", -1}};
    Json j = Json::parse(res->body, nullptr, false);
    if (j.is_discarded()) return Json{{"status", res->status}, {"body", res->body}};
    j["status"] = res->status;
    return j;
  };
  const std::string chat = "/v1/chat/completions";
  struct Case {
    std::string body, param, message;
  };
  const Case cases[] = {
      {"{not json", "", "not valid JSON"},
      {"[1,2]", "", "JSON object"},
      {"{}", "messages", "'messages' is required"},
      {R"({"messages":[]})", "messages", "non-empty array"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content", "string or an array"},
      {R"({"messages":[{"role":"robot","content":"x"}]})", "messages", "'robot'"},
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature", "must be a number"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_p":2})", "top_p", "(0, 1]"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens", "at least 1"},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})", "stop", "at most 4"},
      {R"({"messages":[{"role":"user","content":"x"}],"n":2})", "n", "one choice"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream", "true or false"},
      {R"({"messages":[{"role":"user","content":"x"}],"ignore_eos":1})", "ignore_eos", "true or false"},
      {R"({"messages":[{"role":"user","content":"x"}],"seed":-1.5})", "seed", "integer"},
  };
  for (const Case& k : cases) {
    const Json j = error(chat, k.body);
    EXPECT_EQ(j["status"], 400) << k.body;
    ASSERT_TRUE(j.contains("error")) << k.body;
    EXPECT_CONTAINS(j["error"]["message"].get<std::string>(), k.message);
    if (!k.param.empty()) {
      EXPECT_EQ(j["error"]["param"], k.param) << k.body;
    }
  }
  const Json long_prompt = error(chat, chat_body(std::string(3000, 'a'), 5).dump());
  EXPECT_EQ(long_prompt["status"], 400) << "a prompt longer than the context";
  EXPECT_EQ(long_prompt["error"]["param"], "messages");
  const Json too_big = error(chat, chat_body(std::string(5000, 'a'), 5).dump());
  EXPECT_EQ(too_big["status"], 413) << "a body over --max-body";
  const Json bad_utf8 = error("/v1/completions", "{\"prompt\":\"\xff\xfe\"}");
  EXPECT_EQ(bad_utf8["status"], 400);
  EXPECT_EQ(c.Get("/health")->status, 200) << "still serving";
}

TEST(Serve, MalformedHttpIsRefusedAndTheServerGoesOn) {
  RunningServer s(test::shipped_model(), {});
  const std::string garbage[] = {
      "GARBAGE\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      std::string("GET /health HTTP/1.1\r\nHost: \0x\r\n\r\n", 32),
      "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n",
  };
  // All at once: a request httplib waits on ends at its read timeout (5 s).
  std::vector<std::unique_ptr<RawConnection>> connections;
  for (const std::string& g : garbage) {
    connections.push_back(std::make_unique<RawConnection>(s.port()));
    connections.back()->send(g);
  }
  for (auto& raw : connections) {
    const std::string reply = raw->read_until("\r\n\r\n");
    if (!reply.empty()) {  // httplib may also just close the connection
      EXPECT_EQ(reply.rfind("HTTP/1.1 4", 0), 0u) << reply.substr(0, 60);
    }
  }
  {
    RawConnection half(s.port());
    half.send("POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"pro");
  }  // hangs up mid-body
  auto c = s.client();
  EXPECT_FALSE(chat_content(c, chat_body("The cat", 5)).empty()) << "still serving";
}

TEST(Serve, ATimedOutRequestIs504AndFreesItsSlot) {
  ServeOptions o;
  o.timeout_seconds = 0.001;
  RunningServer s(test::shipped_model(), o, {.parallel = 1, .n_ctx = 256});
  auto c = s.client();
  const auto res = c.Post("/v1/chat/completions", chat_body("Once upon a time", 240).dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  EXPECT_CONTAINS(res->body, "--timeout");
  EXPECT_TRUE(s.scheduler().wait_idle(Clock::now() + std::chrono::seconds(10)));
}

// Draining (SIGTERM): new requests get 503, the ones in flight run to their end.
TEST(Serve, DrainFinishesWhatIsInFlight) {
  RunningServer s(test::shipped_model(), {}, {.parallel = 2, .n_ctx = 256});
  RawConnection raw(s.port());
  raw.send(post_request("/v1/chat/completions", chat_body("Once upon a time", 200, true).dump()));
  raw.read_until("data: ");
  auto drained = std::async(std::launch::async, [&] { s.server().drain(std::chrono::seconds(60)); });
  const auto until = Clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (Clock::now() < until) {
    auto c = s.client();
    const auto res = c.Get("/health");
    if (!res) break;  // already stopped: the stream ended very fast
    status = res->status;
    if (status == 503) break;
  }
  EXPECT_EQ(status, 503) << "health says draining";
  const std::string stream = raw.read_until("data: [DONE]");
  EXPECT_CONTAINS(stream, "data: [DONE]");
  EXPECT_CONTAINS(stream, "\"finish_reason\":\"") << "the answer ran to its end (EOS or the token limit)";
  drained.get();
}

TEST(Serve, ClassifyAndEmbeddingsAnswerAsTheEncoderDoes) {
  {
    const std::string path = test::project_dir() + "/assets/models/sst2-mini";
    RunningServer s(path, {});
    auto c = s.client();
    const auto res = c.Post("/v1/classify", R"({"texts":["a charming journey","bleak and desperate"],"top_k":2})",
                            "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const Json data = Json::parse(res->body)["data"];
    ASSERT_EQ(data.size(), 2u);
    const FramedText framed[] = {s.encoder().frame("a charming journey"), s.encoder().frame("bleak and desperate")};
    const auto rows = s.encoder().run(framed, 8);
    for (std::size_t i = 0; i < 2; ++i) {
      Json want = classification_json(rows[i], s.model().info().labels, 2);
      EXPECT_EQ(data[i]["label"], want["label"]);
      EXPECT_NEAR(data[i]["score"].get<double>(), want["score"].get<double>(), 1e-12);
      EXPECT_EQ(data[i]["probs"].size(), 2u);
    }
    EXPECT_EQ(c.Post("/v1/embeddings", R"({"input":"x"})", "application/json")->status, 400);
    EXPECT_EQ(c.Post("/v1/chat/completions", chat_body("x", 2).dump(), "application/json")->status, 400);
    const auto empty = c.Post("/v1/classify", R"({"texts":["ok",""]})", "application/json");
    EXPECT_EQ(empty->status, 400);
    EXPECT_CONTAINS(empty->body, "texts[1]");
  }
  {
    const std::string path = test::test_data("minilm-style");
    RunningServer s(path, {});
    auto c = s.client();
    const auto res = c.Post("/v1/embeddings", R"({"input":["hello world","a b c"]})", "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const Json j = Json::parse(res->body);
    const FramedText framed[] = {s.encoder().frame("hello world"), s.encoder().frame("a b c")};
    const auto rows = s.encoder().run(framed, 8);
    for (std::size_t i = 0; i < 2; ++i) {
      const auto got = j["data"][i]["embedding"].get<std::vector<float>>();
      EXPECT_EQ(got, rows[i]) << "text " << i;
    }
    EXPECT_EQ(j["usage"]["prompt_tokens"], framed[0].ids.size() + framed[1].ids.size());
  }
}

}  // namespace
}  // namespace octet::serve

namespace octet::serve {
namespace {

// `octet serve` on `model` ("": the shipped one) as a child process, its
// stderr in `log`; the port it says it listens on once the model is loaded.
struct ServeProcess {
  pid_t pid = -1;
  int port = 0;
  std::string log_text;
};
ServeProcess start_octet_serve(const std::string& log, const std::string& model = "") {
  ServeProcess p;
  p.pid = fork();
  if (p.pid == 0) {
    if (!freopen(log.c_str(), "w", stderr)) _exit(127);
    if (model.empty()) {
      execl(OCTET_BINARY, OCTET_BINARY, "serve", "--port", "0", "--parallel", "2", static_cast<char*>(nullptr));
    } else {
      execl(OCTET_BINARY, OCTET_BINARY, "serve", "-m", model.c_str(), "--port", "0", "--parallel", "2",
            static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  // "ready: http://127.0.0.1:PORT/v1" once the model is loaded.
  for (const auto until = Clock::now() + std::chrono::seconds(60); p.pid > 0 && Clock::now() < until && p.port == 0;) {
    std::ifstream in(log);
    p.log_text.assign(std::istreambuf_iterator<char>(in), {});
    const std::size_t at = p.log_text.find("ready: http://127.0.0.1:");
    if (at != std::string::npos) p.port = std::stoi(p.log_text.substr(at + 24));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (p.pid > 0 && p.port == 0) {  // not ready in time: no child left behind
    kill(p.pid, SIGKILL);
    waitpid(p.pid, nullptr, 0);
  }
  return p;
}

// The whole binary: `octet serve` says where it listens, serves, and on
// SIGTERM finishes the stream in flight before it exits with status 0.
// SmolLM2 with ignore_eos keeps the stream in flight for a second or more
// (64 tokens at ~40 tok/s or less): the shipped model writes a whole story in
// ~10 ms, often before the signal arrives.
TEST(ServeCli, SigtermDrainsAndExitsCleanly) {
  OCTET_REQUIRE_SHARED(model, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
  test::TempDir dir;
  const std::string log = dir.file("serve.log");
  const ServeProcess serve = start_octet_serve(log, model);
  ASSERT_GE(serve.pid, 0);
  ASSERT_GT(serve.port, 0) << serve.log_text;
  RawConnection raw(serve.port);
  raw.send(post_request(
      "/v1/completions",
      Json{{"prompt", "Once upon a time"}, {"max_tokens", 64}, {"ignore_eos", true}, {"stream", true}}.dump()));
  raw.read_until("data: ");
  kill(serve.pid, SIGTERM);
  EXPECT_CONTAINS(raw.read_until("data: [DONE]"), "data: [DONE]");
  raw.close();  // else the server waits out the keep-alive timeout (5 s) before it exits
  int status = 0;
  ASSERT_EQ(waitpid(serve.pid, &status, 0), serve.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_CONTAINS(text, "SIGTERM: finishing 1 request(s) in flight");
  EXPECT_CONTAINS(text, "octet serve: stopped");
}

// A CPU run never maps cuBLASLt (about 200 MB resident once mapped): builds
// with the CUDA backend open it only when a GPU product needs it
// (kernels/cuda/cublaslt_library.h). Checked in the serving process itself,
// after it has answered.
TEST(ServeCli, ACpuRunDoesNotMapCublasLt) {
  test::TempDir dir;
  const ServeProcess serve = start_octet_serve(dir.file("serve.log"));
  ASSERT_GE(serve.pid, 0);
  ASSERT_GT(serve.port, 0) << serve.log_text;
  httplib::Client client("127.0.0.1", serve.port);
  const auto answer =
      client.Post("/v1/completions", Json{{"prompt", "Once"}, {"max_tokens", 4}}.dump(), "application/json");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 200);
  std::ifstream maps("/proc/" + std::to_string(serve.pid) + "/maps");
  const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(text.empty()) << "the server's memory map could not be read";
  EXPECT_EQ(text.find("libcublasLt"), std::string::npos);
  kill(serve.pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(serve.pid, &status, 0), serve.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

}  // namespace
}  // namespace octet::serve
