#include "engine/session/read_bandwidth.h"

#include "engine/core/error.h"
#include "engine/core/tensor.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace octet {

namespace {

// Sums every float of x[0, n) on `threads` threads; returned so that the
// compiler cannot drop the reads.
float sum_all(const float* x, std::int64_t n, int threads) {
  float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    // Contiguous shares: each thread streams its own range, as a GEMV's
    // threads stream their own rows of weights.
    const int t = omp_get_thread_num(), count = omp_get_num_threads();
    const std::int64_t begin = n * t / count, end = n * (t + 1) / count;
    float lanes = 0.0f;
#pragma omp simd reduction(+ : lanes)
    for (std::int64_t i = begin; i < end; ++i) lanes += x[i];
    total += lanes;
  }
  return total;
}

}  // namespace

ReadBandwidth measure_read_bandwidth(std::size_t bytes, int threads, int passes) {
  if (threads < 1 || passes < 1) fail("read bandwidth: threads and passes must be at least 1");
  bytes = std::max<std::size_t>(bytes, std::size_t{64} << 20) / 64 * 64;
  const auto n = static_cast<std::int64_t>(bytes / sizeof(float));
  Tensor buffer = Tensor::zeros(DType::F32, {n});
  float* x = buffer.data_mut<float>();
  std::fill(x, x + n, 1.0f);  // every page resident, not the shared zero page
  volatile float sink = sum_all(x, n, threads);
  ReadBandwidth r{0.0, bytes, threads};
  for (int p = 0; p < passes; ++p) {
    const auto start = std::chrono::steady_clock::now();
    sink = sum_all(x, n, threads);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.gb_per_s = std::max(r.gb_per_s, static_cast<double>(bytes) / seconds / 1e9);
  }
  (void)sink;
  return r;
}

}  // namespace octet
