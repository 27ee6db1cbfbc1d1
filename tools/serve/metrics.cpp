#include "tools/serve/metrics.h"

#include <fmt/format.h>

namespace octet::serve {

void Histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  if (i < kBounds.size()) ++buckets_[i];
  ++count_;
  sum_ += seconds;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
  return out;
}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::add_tokens(std::int64_t prompt, std::int64_t generated) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<std::uint64_t>(prompt);
  generated_tokens_ += static_cast<std::uint64_t>(generated);
}

void Metrics::observe_time_to_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  ttft_.observe(seconds);
}

void Metrics::observe_time_per_output_token(double seconds) {
  std::lock_guard lock(mutex_);
  tpot_.observe(seconds);
}

void Metrics::observe_request_latency(double seconds) {
  std::lock_guard lock(mutex_);
  latency_.observe(seconds);
}

std::string Metrics::render(const Gauges& gauges) const {
  std::lock_guard lock(mutex_);
  std::string out = "# HELP octet_requests_total HTTP requests answered, by endpoint and status.\n"
                    "# TYPE octet_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += fmt::format("octet_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  }
  out += fmt::format(
      "# HELP octet_prompt_tokens_total Prompt tokens read.\n# TYPE octet_prompt_tokens_total counter\n"
      "octet_prompt_tokens_total {}\n"
      "# HELP octet_generated_tokens_total Tokens generated.\n# TYPE octet_generated_tokens_total counter\n"
      "octet_generated_tokens_total {}\n"
      "# HELP octet_queue_depth Requests waiting for a sequence slot.\n# TYPE octet_queue_depth gauge\n"
      "octet_queue_depth {}\n"
      "# HELP octet_active_sequences Sequences in a slot (prefilling or decoding).\n"
      "# TYPE octet_active_sequences gauge\noctet_active_sequences {}\n"
      "# HELP octet_sequence_slots KV-cache slots (--parallel).\n# TYPE octet_sequence_slots gauge\n"
      "octet_sequence_slots {}\n",
      prompt_tokens_, generated_tokens_, gauges.queued, gauges.active, gauges.slots);
  out += ttft_.render("octet_time_to_first_token_seconds", "From a request's arrival to its first token.");
  out += tpot_.render("octet_time_per_output_token_seconds", "Mean time between a request's tokens after the first.");
  out += latency_.render("octet_request_latency_seconds", "From a request's arrival to its last byte.");
  return out;
}

}  // namespace octet::serve
