#!/usr/bin/env bash
# Issue 4: the shipped sst2-mini classifier on the SST-2 dev set (accuracy and
# sentences/s, f32 and int8, batch 1 and 32), then a BERT-base-shaped encoder
# with random weights (batch 1 and 32 of 128 tokens, f32 vs int8 in one run).
# Usage: bench/encoder_classify.sh [SHARED_DIR]   (default ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${1:-../shared}"
out=bench/results
mkdir -p "$out"
for quant in f32 int8; do
  for batch in 1 32; do
    build/octet classify -i "$shared/data/sst2_dev.tsv" --quant "$quant" -b "$batch" -o /dev/null \
      --summary-json "$out/sst2_${quant}_b${batch}.json"
  done
done
build/octet bench -m synthetic:bert-base -p 128 -b 1,32 -r 3 --quant f32,int8 > "$out/bert-base-cpu.md"
cat "$out/bert-base-cpu.md"
