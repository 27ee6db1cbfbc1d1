#!/usr/bin/env bash
# What 2:4 sparsity buys at decode (issue 25): dense int8 against 2:4 int8
# (matmul weights pruned by magnitude at load, lm_head kept dense, run on the
# packed 2:4 CPU kernels) on the TinyLlama-1.1B shape with random weights,
# one after the other in one run of this script so that both see the same
# machine. Batch 1 and 4; the table gives tokens/s, the weight bytes each
# decode step reads, the resident memory with each variant loaded (each in a
# process of its own: a process that ran the dense model first keeps some of
# its memory, oneDNN's caches among it) and the peak of each process. Writes
# OUT (bench/results/sparse24_decode.json by default; name the CPU in it when
# keeping results, e.g. sparse24_decode_xeon_spr.json).
#   bench/sparse24_decode.sh [THREADS [OUT]]      (2 threads by default, as the issue asks)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
args=(-m synthetic:llama-1.1b --quant int8 -t "${1:-2}" -b 1,4 -p 64 -n 64 -r 5)
out=${2:-bench/results/sparse24_decode.json}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/octet bench "${args[@]}" --sparsity dense -o json > "$tmp/dense.json"
build/octet bench "${args[@]}" --sparsity 2:4 -o json > "$tmp/sparse.json"
python3 - "$tmp/dense.json" "$tmp/sparse.json" "$out" <<'PY'
import json, sys
dense, sparse = (json.load(open(f)) for f in sys.argv[1:3])
# One file: the first run's header, each run's peak, both runs' rows.
run = {"header": dense["header"], "results": dense["results"] + sparse["results"]}
run["header"]["peak_rss_bytes"] = {"int8": dense["header"]["peak_rss_bytes"],
                                   "int8, 2:4": sparse["header"]["peak_rss_bytes"]}
json.dump(run, open(sys.argv[3], "w"), indent=1)
PY
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
peak = run["header"]["peak_rss_bytes"]
print(f"peak resident: {peak['int8'] / 1e6:.0f} -> {peak['int8, 2:4'] / 1e6:.0f} MB ({peak['int8, 2:4'] / peak['int8']:.3f}x)")
PY
