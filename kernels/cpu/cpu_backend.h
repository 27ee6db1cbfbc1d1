// The CPU backend: every op in float32, matmuls on oneDNN, the rest on
// OpenMP threads.
#pragma once

#include "engine/core/backend.h"
#include "engine/core/model.h"

#include <cstddef>
#include <memory>

namespace octet {

// `n_threads` <= 0 keeps OpenMP's default (all cores).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

// Puts the CPU backend's packed form in place of each int8 matmul weight of
// `model`, one weight after the other, so that the model holds one copy of
// each weight instead of its int8 rows beside the backend's copy: a 2:4
// weight becomes its compressed rows (every CPU: 5/8 of its bytes); a dense
// one oneDNN's packed copy where one copy serves every M on this CPU (the
// panels layout of AMX CPUs, kernels/cpu/matmul_int8_dnnl.h; elsewhere it
// stays). A mapped checkpoint's pages of each weight are given back. Only for
// a model that the CPU backend alone runs: a packed weight has no rows for
// another backend, a checkpoint writer or a sparsity count to read. Returns
// the bytes of int8 rows replaced.
std::size_t pack_matmul_weights(Model& model);

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
