// The CPU backend: every op in float32, matmuls on oneDNN, the rest on
// OpenMP threads.
#pragma once

#include "engine/core/backend.h"

#include <memory>

namespace octet {

// `n_threads` <= 0 keeps OpenMP's default (all cores).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

// Frees the calling thread's OpenMP workers (its next parallel region makes
// them again). A process in which several threads run CPU work at different
// times (a server: the model loads on one thread, decode steps run on
// another, encoder requests on HTTP threads) otherwise keeps a pool of
// workers per such thread; once libgomp manages more threads than there are
// cores it stops spinning at barriers and puts its workers to sleep at every
// parallel region (a SmolLM2 int8 decode step in `octet serve` took 27 ms
// instead of 7 on 2 cores). Call it when a thread is done with CPU work for a while.
void release_cpu_threads();

}  // namespace octet
