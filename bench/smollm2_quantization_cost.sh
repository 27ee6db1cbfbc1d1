#!/usr/bin/env bash
# What w8, int8 and fp8 cost on a real chat model, SmolLM2-135M-Instruct from
# its GGUF file (Q4_1 weights, dequantized to float at load: the reference),
# over the first WINDOWS windows of 512 tokens of the TinyStories validation
# head: perplexity of each against float, mean KL divergence, top-1 agreement.
# Then int8 after SmoothQuant (alpha 0.5) calibrated on the file's last 120 kB.
# Writes bench/results/smollm2_perplexity_*.json.
#   bench/smollm2_quantization_cost.sh [SHARED_DIR]     (WINDOWS=16 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-${OCTET_SHARED_DIR:-../shared}}
text="$shared/data/tinystories_val_head.txt"
model="$shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
mkdir -p bench/results
for scheme in w8 int8 fp8; do
  build/octet perplexity -m "$model" -f "$text" --ctx 512 --windows "${WINDOWS:-16}" --compare "$scheme" --json \
    > "bench/results/smollm2_perplexity_$scheme.json"
  cat "bench/results/smollm2_perplexity_$scheme.json"
done
calib=$(mktemp)
trap 'rm -f "$calib"' EXIT
tail -c 120000 "$text" > "$calib"
build/octet perplexity -m "$model" -f "$text" --ctx 512 --windows "${WINDOWS:-16}" --compare int8 --smooth 0.5 \
  --calib "$calib" --json > bench/results/smollm2_perplexity_int8_smooth0.5.json
cat bench/results/smollm2_perplexity_int8_smooth0.5.json
