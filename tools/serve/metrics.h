// `octet serve`'s /metrics in Prometheus' text format: requests by endpoint
// and status, tokens in and out, and histograms of time to first token, time
// per output token and request latency. Thread-safe; the gauges (queue depth,
// active sequences) are read from the scheduler when the page is drawn.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace octet::serve {

class Histogram {
 public:
  // Upper bounds in seconds, from 1 ms to 2 minutes.
  static constexpr std::array<double, 14> kBounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 120.0};
  void observe(double seconds);
  // The `name`_bucket / _sum / _count lines.
  std::string render(const std::string& name, const std::string& help) const;

 private:
  std::array<std::uint64_t, kBounds.size()> buckets_{};  // not cumulative; summed when drawn
  std::uint64_t count_ = 0;
  double sum_ = 0.0;
};

struct Gauges {
  int queued = 0;
  int active = 0;
  int slots = 0;
};

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void add_tokens(std::int64_t prompt, std::int64_t generated);
  void observe_time_to_first_token(double seconds);
  void observe_time_per_output_token(double seconds);
  void observe_request_latency(double seconds);
  std::string render(const Gauges& gauges) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::uint64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  Histogram ttft_, tpot_, latency_;
};

}  // namespace octet::serve
