#!/usr/bin/env bash
# What w8, int8 and fp8 cost in accuracy on stories260K over the TinyStories
# validation head: perplexity of each against float, mean KL divergence and
# top-1 agreement on the same tokens; then int8 and fp8 again after SmoothQuant
# (alpha 0.5) calibrated on the file's last 120 kB (about 16 of its 769
# windows); then the FP8 KV cache (--kv-cache fp8) alone and with fp8
# weights. Writes bench/results/perplexity_*.json.
#   bench/quantization_cost.sh [SHARED_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-${OCTET_SHARED_DIR:-../shared}}
text="$shared/data/tinystories_val_head.txt"
model=(-m "$shared/models/stories260K/stories260K.bin" --tokenizer "$shared/models/stories260K/tok512.model")
mkdir -p bench/results
for scheme in w8 int8 fp8; do
  build/octet perplexity "${model[@]}" -f "$text" --compare "$scheme" --json > "bench/results/perplexity_$scheme.json"
  cat "bench/results/perplexity_$scheme.json"
done
calib=$(mktemp)
trap 'rm -f "$calib"' EXIT
tail -c 120000 "$text" > "$calib"
for scheme in int8 fp8; do
  build/octet perplexity "${model[@]}" -f "$text" --compare "$scheme" --smooth 0.5 --calib "$calib" --json \
    > "bench/results/perplexity_${scheme}_smooth0.5.json"
  cat "bench/results/perplexity_${scheme}_smooth0.5.json"
done
for scheme in f32 fp8; do
  build/octet perplexity "${model[@]}" -f "$text" --compare "$scheme" --compare-kv-cache fp8 --json \
    > "bench/results/perplexity_${scheme}_kvfp8.json"
  cat "bench/results/perplexity_${scheme}_kvfp8.json"
done
