#!/usr/bin/env bash
# Two octet binaries as servers, alternately (this host is shared and noisy:
# only interleaved runs compare), each under 1 stream then 8: aggregate
# generated tokens/s and the ratio, one line per run.
#   bench/serve/ab.sh OLD_OCTET NEW_OCTET [ROUNDS] [MODEL]
# e.g. git worktree add /tmp/old REV && cmake -S /tmp/old -B /tmp/old/build && cmake --build /tmp/old/build --target octet
#      bench/serve/ab.sh /tmp/old/build/octet build/octet 3
set -euo pipefail
cd "$(dirname "$0")/../.."
old=$1 new=$2 rounds=${3:-3}
shared=${OCTET_SHARED_DIR:-../shared}
model=${4:-$shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}
port=${PORT:-18400}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rate() { python3 -c "import json,sys; print(json.load(sys.stdin)['tokens_per_s'])"; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $model int8, --parallel 8"
echo "binary tokens/s(1 stream) tokens/s(8 streams) ratio"
for _ in $(seq "$rounds"); do
  for bin in "$old" "$new"; do
    "$bin" serve -m "$model" --quant int8 --port "$port" --parallel 8 --quiet 2> "$log" &
    pid=$!
    for _ in $(seq 600); do grep -q "^ready:" "$log" && break; sleep 0.1; done
    bench/serve/load.py --port "$port" --concurrency 8 --requests 8 --max-tokens 8 > /dev/null  # plans each batch size
    one=$(bench/serve/load.py --port "$port" --concurrency 1 --requests 24 --max-tokens 64 | rate)
    many=$(bench/serve/load.py --port "$port" --concurrency 8 --requests 96 --max-tokens 64 | rate)
    kill "$pid"
    wait "$pid" 2> /dev/null || true
    python3 -c "print('$bin', $one, $many, round($many / $one, 2))"
  done
done
