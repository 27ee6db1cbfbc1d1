#!/usr/bin/env bash
# Decode and prefill speed of f32, w8 and int8 in one run per model: the real
# stories260K checkpoint and random-weight Llama shapes (15M, 110M, 1.1B).
# Writes bench/results/decoder_<model>.md. Run on an idle machine: OpenMP
# threads that share cores with another job spin and the numbers collapse.
#   bench/decoder_schemes.sh [SHARED_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-${OCTET_SHARED_DIR:-../shared}}
octet=build/octet
# A Release build of the current tree (the reports name its commit).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
mkdir -p bench/results

run() {  # name, then octet bench arguments
  local name=$1; shift
  echo "== $name" >&2
  "$octet" bench "$@" --quant f32,w8,int8 > "bench/results/decoder_$name.md"
  cat "bench/results/decoder_$name.md"
}

run stories260K -m "$shared/models/stories260K/stories260K.bin" -p 256 -n 128 -r 5
run llama-15m -m synthetic:llama-15m -p 128 -n 128 -r 5
run llama-110m -m synthetic:llama-110m -p 512 -n 64 -r 3
run llama-1.1b -m synthetic:llama-1.1b -p 512 -n 32 -r 3
# Batched decode: -b sequences decoded together, each step reading the weights once.
run llama-110m-batched -m synthetic:llama-110m -p 128 -n 32 -b 1,4,16 -r 3
