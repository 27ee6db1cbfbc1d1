// The machine's streaming read bandwidth, as a memory-bound decode step
// meets it: `threads` OpenMP threads sum a buffer far larger than the caches,
// each its own contiguous share, in vector loads. Decode's weights-read GB/s
// (octet bench) is judged against this, measured in the same run.
#pragma once

#include <cstddef>

namespace octet {

struct ReadBandwidth {
  double gb_per_s = 0.0;  // the best of the passes: 1e9 bytes per second
  std::size_t bytes = 0;  // read per pass
  int threads = 0;
};

// Reads `bytes` (rounded down to whole 64-byte lines, at least 64 MiB)
// `passes` times after one untimed pass that faults the pages in.
ReadBandwidth measure_read_bandwidth(std::size_t bytes, int threads, int passes = 5);

}  // namespace octet
