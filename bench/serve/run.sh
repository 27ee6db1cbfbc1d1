#!/usr/bin/env bash
# What continuous batching buys, and scale-out: one `octet serve` replica under
# 1 and then 8 concurrent streaming chats (aggregate generated tokens/s, TTFT,
# TPOT), then two replicas behind nginx under 16 (no request lost, both serve).
# Writes bench/results/serve_${TAG}*.json.
#   bench/serve/run.sh [MODEL]   (default: SmolLM2-135M-Instruct's GGUF from ../shared)
#   QUANT=int8 MAX_TOKENS=64 REQUESTS=32 PARALLEL=8 TAG=smollm2_int8_ bench/serve/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${OCTET_SHARED_DIR:-../shared}
model=${1:-$shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}
quant=${QUANT:-int8}
max_tokens=${MAX_TOKENS:-64}
requests=${REQUESTS:-32}
parallel=${PARALLEL:-8}
base_port=${BASE_PORT:-18180}
out=bench/results
tag=${TAG:-}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$nginx" ]; then
  echo "run.sh: nginx is not installed (the two-replica run needs it): sudo apt-get install -y nginx" >&2
  exit 1
fi
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_replica PORT THREADS: waits until it says it is ready.
start_replica() {
  build/octet serve -m "$model" --quant "$quant" --port "$1" -t "$2" --parallel "$parallel" --quiet \
    2> "$tmp/serve-$1.log" &
  pids+=($!)
  for _ in $(seq 600); do
    grep -q "^ready:" "$tmp/serve-$1.log" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/serve-$1.log" >&2
  echo "replica on port $1 did not start" >&2
  exit 1
}

echo "model $model ($quant), CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, commit $(git rev-parse --short HEAD)"
start_replica $((base_port + 1)) 0
load() { bench/serve/load.py --port "$1" --concurrency "$2" --requests "$3" --max-tokens "$max_tokens" --json "$4"; }
# One warm-up round first: the first step of each batch size plans its graph.
bench/serve/load.py --port $((base_port + 1)) --concurrency "$parallel" --requests "$parallel" --max-tokens 8 >/dev/null
load $((base_port + 1)) 1 $((requests / 4)) "$out/serve_${tag}1_stream.json"
load $((base_port + 1)) "$parallel" "$requests" "$out/serve_${tag}${parallel}_streams.json"
python3 - "$out/serve_${tag}1_stream.json" "$out/serve_${tag}${parallel}_streams.json" <<'PY'
import json, sys
one, many = (json.load(open(p)) for p in sys.argv[1:])
print(f"aggregate tokens/s: {many['tokens_per_s']} with {many['concurrency']} streams vs {one['tokens_per_s']} with 1: "
      f"{many['tokens_per_s'] / one['tokens_per_s']:.2f}x")
PY

# Two replicas (one core each on a small machine) behind nginx.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()
threads=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
start_replica $((base_port + 1)) "$threads"
start_replica $((base_port + 2)) "$threads"
for port in $((base_port + 1)) $((base_port + 2)); do
  bench/serve/load.py --port "$port" --concurrency "$parallel" --requests "$parallel" --max-tokens 8 >/dev/null
done
mkdir -p "$tmp/nginx"
sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@PORT@|$base_port|g" \
    -e "s|@UPSTREAMS@|    server 127.0.0.1:$((base_port + 1));\n    server 127.0.0.1:$((base_port + 2));|" \
    bench/serve/nginx.conf.in > "$tmp/nginx/nginx.conf"
"$nginx" -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
pids+=($!)
sleep 1
load "$base_port" $((2 * parallel)) "$requests" "$out/serve_${tag}nginx_2_replicas.json"
