#!/usr/bin/env bash
# What 2:4 sparsity buys at decode (issue 25): dense int8 against 2:4 int8
# (matmul weights pruned by magnitude at load, lm_head kept dense, run on the
# packed 2:4 CPU kernels) on the TinyLlama-1.1B shape with random weights, in
# one run so that both see the same machine. Batch 1 and 4; the table gives
# tokens/s, the weight bytes each decode step reads, the resident memory with
# each variant loaded (between its runs) and the peak of the whole run. Writes OUT (bench/results/sparse24_decode.json by
# default; name the CPU in it when keeping results, e.g. sparse24_decode_xeon_spr.json).
#   bench/sparse24_decode.sh [THREADS [OUT]]      (2 threads by default, as the issue asks)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
args=(-m synthetic:llama-1.1b --quant int8 --sparsity dense,2:4 -t "${1:-2}" -b 1,4 -p 64 -n 64 -r 5)
out=${2:-bench/results/sparse24_decode.json}
build/octet bench "${args[@]}" -o json > "$out"
python3 - "$out" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
print(run["header"]["machine"], "|", run["header"]["build"])
rows = {(r["quant"], r["batch"]): r for r in run["results"]}
for b in sorted({r["batch"] for r in run["results"]}):
    d, s = rows[("int8", b)], rows[("int8, 2:4", b)]
    print(f"batch {b}: tg {d['tg_tok_s_mean']:.1f} -> {s['tg_tok_s_mean']:.1f} tok/s ({s['tg_tok_s_mean'] / d['tg_tok_s_mean']:.2f}x), "
          f"pp {d['pp_tok_s_mean']:.1f} -> {s['pp_tok_s_mean']:.1f} tok/s ({s['pp_tok_s_mean'] / d['pp_tok_s_mean']:.2f}x), "
          f"weights read per step {d['decode_weight_bytes'] / 1e6:.1f} -> {s['decode_weight_bytes'] / 1e6:.1f} MB "
          f"({s['decode_weight_bytes'] / d['decode_weight_bytes']:.3f}x), "
          f"resident with the model loaded {d['resident_bytes_loaded'] / 1e6:.0f} -> "
          f"{s['resident_bytes_loaded'] / 1e6:.0f} MB ({s['resident_bytes_loaded'] / d['resident_bytes_loaded']:.3f}x)")
PY
