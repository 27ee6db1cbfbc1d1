#!/usr/bin/env bash
# What w8 and int8 cost in accuracy on stories260K over the TinyStories
# validation head: perplexity of each against float, mean KL divergence and
# top-1 agreement on the same tokens. Writes bench/results/perplexity_*.json.
#   bench/quantization_cost.sh [SHARED_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-${OCTET_SHARED_DIR:-../shared}}
mkdir -p bench/results
for scheme in w8 int8; do
  build/octet perplexity -m "$shared/models/stories260K/stories260K.bin" \
    --tokenizer "$shared/models/stories260K/tok512.model" \
    -f "$shared/data/tinystories_val_head.txt" --compare "$scheme" --json > "bench/results/perplexity_$scheme.json"
  cat "bench/results/perplexity_$scheme.json"
done
