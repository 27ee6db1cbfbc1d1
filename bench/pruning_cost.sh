#!/usr/bin/env bash
# What one-shot pruning costs (issue 25), measured as octet measures a
# quantization scheme: perplexity of the pruned model against the float one,
# mean KL divergence and top-1 agreement over the first WINDOWS windows of the
# TinyStories validation head, for SmolLM2-135M-Instruct (GGUF, Q4_1
# dequantized: the float reference) and stories260K (llama2.c). Every
# combination of 2:4 / 50% unstructured, magnitude / Wanda (calibrated on the
# file's last 120 kB, which the windows never reach), f32 / int8; lm_head
# stays dense (the default --keep-dense). Writes bench/results/pruning_*.json
# and prints a table.
#   bench/pruning_cost.sh [SHARED_DIR]     (WINDOWS=8, CTX=512 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-${OCTET_SHARED_DIR:-../shared}}
text="$shared/data/tinystories_val_head.txt"
calib=$(mktemp)
trap 'rm -f "$calib"' EXIT
tail -c 120000 "$text" > "$calib"
mkdir -p bench/results
declare -A models=(
  [smollm2]="-m $shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --ctx ${CTX:-512}"
  [stories260k]="-m $shared/models/stories260K/stories260K.bin --tokenizer $shared/models/stories260K/tok512.model --ctx 256"
)
for name in smollm2 stories260k; do
  for sparsity in 2:4 0.5; do
    for method in magnitude wanda; do
      for scheme in f32 int8; do
        out="bench/results/pruning_${name}_${sparsity/:/of}_${method}_${scheme}.json"
        calibration=()
        [ "$method" = wanda ] && calibration=(--calib "$calib")
        # shellcheck disable=SC2086
        build/octet perplexity ${models[$name]} -f "$text" --windows "${WINDOWS:-8}" --compare "$scheme" \
          --prune "$sparsity" --prune-method "$method" "${calibration[@]}" --json > "$out" 2>/dev/null
      done
    done
  done
  # The same scheme without pruning, for the line to compare with.
  # shellcheck disable=SC2086
  build/octet perplexity ${models[$name]} -f "$text" --windows "${WINDOWS:-8}" --compare int8 --json \
    > "bench/results/pruning_${name}_dense_int8.json" 2>/dev/null
done
python3 - <<'PY'
import glob, json
print(f"{'model':12} {'compared':34} {'ppl float':>10} {'ppl pruned':>11} {'change':>8} {'KLD':>8} {'top-1':>7}")
for path in sorted(glob.glob("bench/results/pruning_*.json")):
    j = json.load(open(path))
    model = path.split("_")[1]
    c = j["compare"]
    print(f"{model:12} {c['scheme']:34} {j['perplexity']:10.3f} {c['perplexity']:11.3f} "
          f"{100 * (c['perplexity'] / j['perplexity'] - 1):+7.1f}% {j['kld_mean']:8.4f} {100 * j['top1_agreement']:6.1f}%")
PY
