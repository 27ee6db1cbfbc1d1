// The bandwidth probe's contract (its number is the machine's: a benchmark
// reports it, a test cannot pin it).
#include "engine/core/error.h"
#include "engine/session/read_bandwidth.h"

#include <gtest/gtest.h>

namespace octet {
namespace {

TEST(ReadBandwidth, ReadsAtLeast64MiBInWholeLinesAndRefusesNoThreads) {
  const ReadBandwidth small = measure_read_bandwidth(1000, 1, 1);
  EXPECT_EQ(small.bytes, std::size_t{64} << 20) << "a buffer the caches hold would measure them, not memory";
  EXPECT_EQ(small.threads, 1);
  EXPECT_GT(small.gb_per_s, 0.0);
  EXPECT_EQ(measure_read_bandwidth((std::size_t{65} << 20) + 100, 2, 1).bytes, (std::size_t{65} << 20) + 64);
  EXPECT_THROW(measure_read_bandwidth(1 << 26, 0), Error);
  EXPECT_THROW(measure_read_bandwidth(1 << 26, 1, 0), Error);
}

}  // namespace
}  // namespace octet
